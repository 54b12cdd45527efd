import { describe, expect, test } from 'vitest';
import { Hasher } from './hash.ts';
import { Prng } from './prng.ts';

describe('Hasher', () => {
  test('bytes() gives the same digest as feeding the same bytes one by one', () => {
    const prng = new Prng(5);
    for (const n of [0, 1, 7, 4096, 10_000]) {
      const d = new Uint8Array(n);
      for (let i = 0; i < n; i++) d[i] = prng.int(256);
      const fast = new Hasher().str('x').bytes(d).digest();
      const slow = new Hasher().str('x').u32(n);
      for (const x of d) (slow as unknown as { byte(x: number): void }).byte(x);
      expect(fast).toBe(slow.digest());
    }
  });

  test('different contents give different digests', () => {
    expect(new Hasher().bytes(new Uint8Array([1, 2, 3])).digest()).not.toBe(new Hasher().bytes(new Uint8Array([1, 2, 4])).digest());
  });
});
