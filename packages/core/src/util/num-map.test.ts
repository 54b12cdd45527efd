// NumMap against a JavaScript Map: random sets, overwrites and deletes, with keys drawn from small
// ranges (long probe runs, runs that wrap around the end of the table, deletes inside them) and
// from above 2^32 and near 2^53.
import { describe, expect, test } from 'vitest';
import { NumMap } from './num-map.ts';
import { Prng } from './prng.ts';

function check(m: NumMap<number>, ref: Map<number, number>, keys: ReadonlySet<number>): void {
  expect(m.size).toBe(ref.size);
  for (const k of keys) expect(m.get(k)).toBe(ref.get(k));
  const seen = new Map<number, number>();
  m.forEach((v, k) => seen.set(k, v));
  expect(new Map([...seen].sort((a, b) => a[0] - b[0]))).toEqual(new Map([...ref].sort((a, b) => a[0] - b[0])));
  expect([...m.sortedKeys()]).toEqual([...ref.keys()].sort((a, b) => a - b));
}

describe('NumMap', () => {
  test.each([
    ['dense small keys', (r: Prng) => r.int(64)],
    ['sparse keys', (r: Prng) => r.int(1 << 20) * 4096],
    ['keys across 2^32', (r: Prng) => 2 ** 32 - 32 + r.int(64)],
    ['keys with equal low 32 bits', (r: Prng) => r.int(48) * 2 ** 32 + 5],
    ['keys near 2^53', (r: Prng) => Number.MAX_SAFE_INTEGER - r.int(100)],
  ])('gives what a Map gives under random sets and deletes (%s)', (_what, key) => {
    for (let seed = 1; seed <= 6; seed++) {
      const r = new Prng(BigInt(seed));
      const m = new NumMap<number>(4);
      const ref = new Map<number, number>();
      const keys = new Set<number>();
      for (let step = 0; step < 3000; step++) {
        const k = key(r);
        keys.add(k);
        // Phases of growth, churn and shrinking, so deletes run inside full probe runs and empty the table.
        const phase = Math.floor(step / 500) % 3;
        const del = r.int(10) < (phase === 0 ? 2 : phase === 1 ? 5 : 8);
        if (r.int(1000) === 0) {
          m.clear();
          ref.clear();
        } else if (del) expect(m.delete(k)).toBe(ref.delete(k));
        else {
          m.set(k, step);
          ref.set(k, step);
        }
        if (step % 97 === 0) check(m, ref, keys);
      }
      check(m, ref, keys);
    }
  });

  test('refuses keys that are not non-negative safe integers', () => {
    const m = new NumMap<number>();
    for (const k of [-1, 0.5, 2 ** 53, Number.NaN]) expect(() => m.set(k, 1)).toThrow(RangeError);
    expect(m.get(-1)).toBeUndefined();
    expect(m.delete(-1)).toBe(false);
  });
});
