// Schedulers: seeded, deterministic, and PCT as Burckhardt et al. describe it.

import { describe, expect, it } from 'vitest';
import { PctScheduler, RandomScheduler } from './schedule.ts';

function trace(s: { pick(a: readonly number[]): number; stepped(d: number): void }, devices: number, steps: number): number[] {
  const active = Array.from({ length: devices }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const d = s.pick(active);
    out.push(d);
    s.stepped(d);
  }
  return out;
}

describe('schedulers', () => {
  it('random: a function of the seed, covering every device', () => {
    const a = trace(new RandomScheduler(9n), 5, 2000);
    expect(trace(new RandomScheduler(9n), 5, 2000)).toEqual(a);
    expect(trace(new RandomScheduler(10n), 5, 2000)).not.toEqual(a);
    for (let d = 0; d < 5; d++) expect(a.filter((x) => x === d).length).toBeGreaterThan(300);
  });

  it('pct: the highest-priority device runs until a change point demotes it; d-1 change points in [1, k]', () => {
    const k = 1000;
    const s = new PctScheduler(3n, 4, 3, k);
    const cps = s.changePoints;
    expect(cps.length).toBe(2);
    expect(cps.map(([, p]) => p)).toEqual(expect.arrayContaining([1, 2]));
    for (const [step] of cps) expect(step >= 1 && step <= k).toBe(true);
    const t = trace(s, 4, k);
    // Runs of one device, switching exactly after each change point (once the demoted device loses the lead).
    const switches = t.flatMap((d, i) => (i > 0 && d !== t[i - 1] ? [i] : []));
    expect(switches).toEqual(cps.map(([step]) => step));
    expect(trace(new PctScheduler(3n, 4, 3, k), 4, k)).toEqual(t);
  });

  it('pct: only running devices are picked', () => {
    const s = new PctScheduler(1n, 3, 2, 10);
    for (const active of [[0, 1, 2], [0, 2], [2], [1]]) expect(active).toContain(s.pick(active));
  });

  it('pct depth 1 never changes priorities: one device runs to the end', () => {
    const t = trace(new PctScheduler(8n, 6, 1, 500), 6, 500);
    expect(new Set(t).size).toBe(1);
  });
});
