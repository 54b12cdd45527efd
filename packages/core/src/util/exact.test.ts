// The bigint ↔ number boundary the hot paths rely on: exact below 2^53, never rounded.
import { describe, expect, it } from 'vitest';
import { exactKey, exactNum, high32, low32, MAX_EXACT } from './exact.ts';

describe('exactNum / exactKey (dmasim helpers, not a kernel function)', () => {
  it('converts 0 .. 2^53 - 1 and refuses negatives and 2^53 and above', () => {
    expect(exactNum(0n)).toBe(0);
    expect(exactNum(MAX_EXACT)).toBe(2 ** 53 - 1);
    expect(exactNum(MAX_EXACT + 1n)).toBe(-1); // 2^53 is refused too: 2^53 + 1 would round to it
    expect(exactNum(-1n)).toBe(-1);
    expect(exactNum(0xffff_ffff_ffff_ffffn)).toBe(-1);
  });

  it('reads every bit of the two 32-bit halves: equals Number(x) across the word boundary and at random', () => {
    const edges = [1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 1n, 2n ** 52n, 2n ** 53n - 2n, 0x1f_ffff_0000_0001n];
    let x = 0x9e37_79b9_7f4a_7c15n;
    for (let i = 0; i < 2000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffff_ffff_ffff_ffffn;
      edges.push(x >> BigInt(11 + (i % 53))); // every bit length up to 53
    }
    for (const v of edges) {
      expect(exactNum(v)).toBe(Number(v));
      expect(exactKey(v)).toBe(Number(v));
    }
    expect(exactNum(2n ** 64n)).toBe(-1); // would wrap to 0 in a u64 slot
    expect(exactNum(2n ** 64n + 5n)).toBe(-1);
  });

  it('gives one key per value: numbers below the cut, the bigint itself above', () => {
    expect(exactKey(0x1000n)).toBe(0x1000);
    expect(exactKey(MAX_EXACT + 1n)).toBe(MAX_EXACT + 1n);
    const m = new Map<number | bigint, string>([[exactKey(2n ** 53n), 'big'], [exactKey(2n ** 53n - 1n), 'num']]);
    expect(m.get(exactKey(2n ** 53n))).toBe('big');
    expect(m.get(exactKey(2n ** 53n - 1n))).toBe('num');
    expect(m.size).toBe(2);
  });

  it('low32 and high32 are the halves of BigInt.asUintN(64, x), negatives and values past 2^64 included', () => {
    const vals = [0n, 1n, -1n, -(2n ** 63n), 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 12345n, 2n ** 64n - 1n, 2n ** 64n, 2n ** 64n + 0x1234n, 2n ** 80n + 7n, -(2n ** 70n) - 3n];
    let x = 0x243f_6a88_85a3_08d3n;
    for (let i = 0; i < 2000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffff_ffff_ffff_ffffn;
      vals.push(i % 2 ? x : -x);
    }
    for (const v of vals) {
      expect(low32(v)).toBe(Number(BigInt.asUintN(32, v)));
      expect(high32(v)).toBe(Number(BigInt.asUintN(64, v) >> 32n));
    }
  });
});
