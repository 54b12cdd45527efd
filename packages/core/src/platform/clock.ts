// The virtual clock: nanoseconds advanced only by events (each applied call costs a fixed tick;
// `advance-time` adds more). Timers fire in (deadline, creation order) while time advances, inside
// the event that advanced it, so they are part of the logged run and replay identically.

import type { Hasher } from '../util/hash.ts';

export interface Timer {
  /** Stable name, part of the state hash (e.g. "fq:D0:cpu1"). */
  key: string;
  deadlineNs: number;
  seq: number;
  fire: () => void;
}

/** Virtual time one applied call takes (1 µs). A simplification: the real cost varies. */
export const EVENT_TICK_NS = 1000;

export class VirtualClock {
  nowNs = 0;
  private timers: Timer[] = [];
  private seq = 0;

  /** Arms (or re-arms) the timer named `key`. */
  arm(key: string, deadlineNs: number, fire: () => void): void {
    this.cancel(key);
    this.timers.push({ key, deadlineNs, seq: this.seq++, fire });
  }

  cancel(key: string): void {
    const i = this.timers.findIndex((t) => t.key === key);
    if (i >= 0) this.timers.splice(i, 1);
  }

  isArmed(key: string): boolean {
    return this.timers.some((t) => t.key === key);
  }

  /** Advances to `t`, firing every timer whose deadline is ≤ t, in order. */
  advanceTo(t: number): void {
    for (;;) {
      let best: Timer | undefined;
      for (const tm of this.timers) {
        if (tm.deadlineNs <= t && (!best || tm.deadlineNs < best.deadlineNs || (tm.deadlineNs === best.deadlineNs && tm.seq < best.seq))) best = tm;
      }
      if (!best) break;
      this.timers.splice(this.timers.indexOf(best), 1);
      if (best.deadlineNs > this.nowNs) this.nowNs = best.deadlineNs;
      best.fire();
    }
    if (t > this.nowNs) this.nowNs = t;
  }

  advanceBy(ns: number): void {
    this.advanceTo(this.nowNs + ns);
  }

  hashInto(h: Hasher): void {
    h.num(this.nowNs);
    const ts = [...this.timers].sort((a, b) => a.deadlineNs - b.deadlineNs || a.seq - b.seq);
    h.u32(ts.length);
    for (const t of ts) h.str(t.key).num(t.deadlineNs);
  }
}
