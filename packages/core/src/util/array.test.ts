// removeAt gives what splice(i, 1) gives, at every position, and refuses an index outside the array;
// sortNumbers gives what the native numeric sort gives.
import { expect, test } from 'vitest';
import fc from 'fast-check';
import { removeAt, sortNumbers } from './array.ts';

test('removeAt equals splice(i, 1) at every index', () => {
  for (let n = 1; n <= 6; n++) {
    const base = Array.from({ length: n }, (_, i) => i * 10);
    for (let i = 0; i < n; i++) {
      const a = [...base];
      const b = [...base];
      removeAt(a, i);
      b.splice(i, 1);
      expect(a).toEqual(b);
    }
  }
});

test('an index outside the array is refused, not written as a property', () => {
  expect(() => removeAt([1, 2], -1)).toThrow(RangeError);
  expect(() => removeAt([1, 2], 2)).toThrow(RangeError);
});

test('sortNumbers sorts as Float64Array.prototype.sort does: random, sorted, reversed, duplicates, big values', () => {
  const same = (xs: number[]): void => {
    const want = Float64Array.from(xs).sort();
    expect(sortNumbers(Float64Array.from(xs))).toEqual(want);
  };
  fc.assert(fc.property(fc.array(fc.oneof(fc.nat(1000), fc.maxSafeNat(), fc.double({ noNaN: true }).map((x) => x + 0) /* -0 + 0 is 0: sortNumbers does not order -0 before 0 */), { maxLength: 300 }), (xs) => same(xs)), { seed: 0x5047, numRuns: 300 });
  for (const n of [0, 1, 2, 16, 17, 100, 1000]) {
    const up = Array.from({ length: n }, (_, i) => i * 3);
    same(up);
    same([...up].reverse());
    same(Array.from({ length: n }, (_, i) => i % 5));
  }
});
