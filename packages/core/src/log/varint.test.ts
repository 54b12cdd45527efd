// ByteReader.addDelta: an address read as a zigzag delta from a predictor, in numbers where all is
// exact and in bigints elsewhere: the same value as `base + BigInt(plus) + sbig()` everywhere,
// including deltas of 8 or more varint bytes, predictors and results at and past 2^53, negative
// results and values past 2^64 (the encoder's deltas are up to 69 bits).
import { describe, expect, it } from 'vitest';
import { exactNum } from '../util/exact.ts';
import { ByteReader, ByteWriter } from './varint.ts';

const EDGE = [0n, 1n, 0x7fn, 0x80n, 2n ** 48n - 1n, 2n ** 48n, 2n ** 49n, 2n ** 52n, 2n ** 53n - 2n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 0xffff_8880_0000_1000n];

describe('ByteReader.addDelta', () => {
  it('gives base + plus + the delta, and lastN as exactNum of it, on every path', () => {
    const cases: [bigint, number, bigint][] = [];
    for (const base of EDGE) {
      for (const plus of [0, 1, 4096, 65536]) {
        for (const target of EDGE) cases.push([base, plus, target - base - BigInt(plus)]);
        for (const d of [0n, 1n, -1n, 63n, -64n, 2n ** 47n, -(2n ** 47n), 2n ** 48n, -(2n ** 48n) - 5n]) cases.push([base, plus, d]);
      }
    }
    let x = 0x9e37_79b9_7f4a_7c15n;
    for (let i = 0; i < 3000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffff_ffff_ffff_ffffn;
      const base = i % 3 === 0 ? x : x >> BigInt(i % 40);
      const d = (x >> 7n) >> BigInt(i % 64);
      cases.push([base, i % 5 === 0 ? 4096 : 0, i % 2 ? d : -d]);
    }
    const w = new ByteWriter();
    for (const [, , d] of cases) {
      w.sbig(d);
      w.uint(7); // a marker after each delta: addDelta must stop exactly at its end
    }
    const r = new ByteReader(w.bytes());
    let fast = 0;
    for (const [base, plus, d] of cases) {
      const want = base + BigInt(plus) + d;
      const got = r.addDelta(base, exactNum(base), plus);
      expect(got, `${base} + ${plus} + ${d}`).toBe(want);
      expect(r.lastN).toBe(exactNum(want));
      expect(r.uint()).toBe(7);
      if (exactNum(base) >= 0 && exactNum(want) >= 0 && d < 2n ** 47n && d > -(2n ** 47n)) fast++;
    }
    expect(r.done).toBe(true);
    expect(fast).toBeGreaterThan(500); // the number path was taken, not only the bigint one
  });

  it('a base given as not exact (-1) is taken in bigints', () => {
    const w = new ByteWriter();
    w.sbig(-5n);
    const r = new ByteReader(w.bytes());
    expect(r.addDelta(2n ** 60n, -1, 10)).toBe(2n ** 60n + 5n);
    expect(r.lastN).toBe(-1);
  });

  it('runs past the end of the stream with the same error as sbig()', () => {
    const w = new ByteWriter();
    w.sbig(2n ** 40n);
    const cut = w.bytes().subarray(0, 3);
    expect(() => new ByteReader(cut).addDelta(0n, 0)).toThrow(/runs past the end/);
    expect(() => new ByteReader(cut).sbig()).toThrow(/runs past the end/);
  });
});
