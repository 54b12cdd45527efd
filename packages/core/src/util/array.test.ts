// removeAt gives what splice(i, 1) gives, at every position, and refuses an index outside the array.
import { expect, test } from 'vitest';
import { removeAt } from './array.ts';

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
