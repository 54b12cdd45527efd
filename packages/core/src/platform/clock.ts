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
  /** Armed timers, in arming order (firing order is by deadline, then seq). */
  private timers: Timer[] = [];
  private readonly byKey = new Map<string, Timer>();
  /**
   * The earliest armed deadline (Infinity when none). Every applied event advances the clock, and
   * with one flush-queue timer per lazy domain a scan of every timer per event grew with the device
   * count; now an event that fires nothing costs one comparison.
   */
  private next = Infinity;
  private seq = 0;

  /** Arms (or re-arms) the timer named `key`. */
  arm(key: string, deadlineNs: number, fire: () => void): void {
    this.cancel(key);
    const t: Timer = { key, deadlineNs, seq: this.seq++, fire };
    this.timers.push(t);
    this.byKey.set(key, t);
    if (deadlineNs < this.next) this.next = deadlineNs;
  }

  cancel(key: string): void {
    const t = this.byKey.get(key);
    if (t) this.remove(t);
  }

  isArmed(key: string): boolean {
    return this.byKey.has(key);
  }

  /** Advances to `t`, firing every timer whose deadline is ≤ t, in order. */
  advanceTo(t: number): void {
    while (this.next <= t) {
      let best: Timer | undefined;
      for (const tm of this.timers) {
        if (tm.deadlineNs <= t && (!best || tm.deadlineNs < best.deadlineNs || (tm.deadlineNs === best.deadlineNs && tm.seq < best.seq))) best = tm;
      }
      if (!best) break; // not reached: `next` is the earliest deadline
      this.remove(best);
      if (best.deadlineNs > this.nowNs) this.nowNs = best.deadlineNs;
      best.fire();
    }
    if (t > this.nowNs) this.nowNs = t;
  }

  advanceBy(ns: number): void {
    this.advanceTo(this.nowNs + ns);
  }

  private remove(t: Timer): void {
    this.timers.splice(this.timers.indexOf(t), 1);
    this.byKey.delete(t.key);
    if (t.deadlineNs <= this.next) {
      let next = Infinity;
      for (const tm of this.timers) if (tm.deadlineNs < next) next = tm.deadlineNs;
      this.next = next;
    }
  }

  hashInto(h: Hasher): void {
    h.num(this.nowNs);
    const ts = [...this.timers].sort((a, b) => a.deadlineNs - b.deadlineNs || a.seq - b.seq);
    h.u32(ts.length);
    for (const t of ts) h.str(t.key).num(t.deadlineNs);
  }
}
