import { describe, expect, it } from 'vitest';
import { Prng } from '../util/prng.ts';
import { VirtualClock } from './clock.ts';

/** The clock as first written: every advance scans every timer. The definition the fast path must keep. */
class Reference {
  nowNs = 0;
  private timers: { key: string; deadlineNs: number; seq: number; fire: () => void }[] = [];
  private seq = 0;
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
  advanceTo(t: number): void {
    for (;;) {
      let best: (typeof this.timers)[number] | undefined;
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
}

describe('VirtualClock', () => {
  // Random arms (some re-arming a live key, some with equal deadlines), cancels and advances, and
  // timers that re-arm or cancel others when they fire (as the flush queue and the IOVA rcache do):
  // the same firing order, times and armed set as the scan-everything definition.
  it.each([[1n], [2n], [3n]])('fires what the scan-every-timer definition fires, in the same order (seed %s)', (seed) => {
    const rng = new Prng(seed);
    const clock = new VirtualClock();
    const ref = new Reference();
    const got: string[] = [];
    const want: string[] = [];
    const keys = Array.from({ length: 12 }, (_, i) => `t${i}`);
    const fireOf = (c: VirtualClock | Reference, log: string[], key: string, r: Prng) => (): void => {
      log.push(`${key}@${c.nowNs}`);
      const x = r.int(6);
      if (x === 0) c.arm(keys[r.int(keys.length)]!, c.nowNs + r.int(3000), fireOf(c, log, keys[r.int(keys.length)]!, r));
      else if (x === 1) c.cancel(keys[r.int(keys.length)]!);
    };
    // Two PRNGs in step: the one the clock's timers draw from and the reference's.
    const ra = new Prng(seed + 100n);
    const rb = new Prng(seed + 100n);
    for (let step = 0; step < 4000; step++) {
      const op = rng.int(10);
      const key = keys[rng.int(keys.length)]!;
      if (op < 4) {
        const d = (rng.int(4) === 0 ? 0 : rng.int(5000)) + clock.nowNs;
        clock.arm(key, d, fireOf(clock, got, key, ra));
        ref.arm(key, d, fireOf(ref, want, key, rb));
      } else if (op < 5) {
        clock.cancel(key);
        ref.cancel(key);
      } else {
        const by = rng.int(3) === 0 ? 0 : rng.int(2000);
        clock.advanceTo(clock.nowNs + by);
        ref.advanceTo(ref.nowNs + by);
      }
      expect(clock.nowNs).toBe(ref.nowNs);
      for (const k of keys) if (clock.isArmed(k) !== ref.isArmed(k)) expect.unreachable(`step ${step}: ${k} armed ${clock.isArmed(k)}`);
    }
    expect(got).toEqual(want);
    expect(got.length).toBeGreaterThan(500);
  });
});
