// The outcome digest's two definitions: version 1 folds read data a byte per lane step, version 2
// a 32-bit word per step. Both must see every byte; nothing but data may differ between them.
import { describe, expect, it } from 'vitest';
import { emptyOutcome, type Outcome } from '../events.ts';
import { Prng } from '../util/prng.ts';
import { detailHex, detailTag, Lanes, outcomeDigest, thrownDigest } from './digest.ts';

function withData(data: Uint8Array | undefined): Outcome {
  const o = emptyOutcome(12_000);
  o.result = 0x1_2345_6000n;
  o.path = 'swiotlb';
  o.trace.push({ system: 'swiotlb', name: 'swiotlb_bounced', text: 'dev_name: 0000:01:00.0 size=64' });
  if (data) o.data = data;
  return o;
}

describe('outcome digest', () => {
  it('version 2 changes when any one byte of the data changes (every length mod 4, aligned or not)', () => {
    const prng = new Prng(17);
    for (const n of [1, 2, 3, 4, 5, 7, 8, 63, 64, 65, 1500, 4096]) {
      const d = Uint8Array.from({ length: n }, () => prng.int(256));
      const base = outcomeDigest(withData(d), 2);
      for (let t = 0; t < Math.min(n * 8, 200); t++) {
        const i = prng.int(n);
        const bit = 1 << prng.int(8);
        d[i]! ^= bit;
        const got = outcomeDigest(withData(d), 2);
        expect(detailHex(got), `byte ${i} of ${n}, bit ${bit}`).not.toBe(detailHex(base));
        d[i]! ^= bit;
      }
      // The same bytes at an odd offset of a larger buffer (the word-assembling path) fold alike.
      const shifted = new Uint8Array(n + 3);
      shifted.set(d, 3);
      expect(detailHex(outcomeDigest(withData(shifted.subarray(3)), 2))).toBe(detailHex(base));
    }
  });

  it('version 2 sees the length: trailing zero bytes and empty data are not the same as none', () => {
    const digests = [undefined, new Uint8Array(0), new Uint8Array(1), new Uint8Array(4), new Uint8Array(5)]
      .map((d) => detailHex(outcomeDigest(withData(d), 2)));
    expect(new Set(digests).size).toBe(digests.length);
  });

  it('version 1 keeps the byte-wise fold; the versions differ only for outcomes with data', () => {
    const d = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    const v1 = new Lanes();
    v1.w(1);
    v1.w(d.length);
    for (const x of d) v1.w(x);
    const ref = new Lanes();
    ref.w(1);
    ref.w(d.length);
    ref.bytes(d);
    expect(v1.hex()).toBe(ref.hex());
    expect(detailHex(outcomeDigest(withData(d), 1))).not.toBe(detailHex(outcomeDigest(withData(d), 2)));
    expect(outcomeDigest(withData(undefined), 1)).toEqual(outcomeDigest(withData(undefined), 2));
    expect(outcomeDigest(withData(d))).toEqual(outcomeDigest(withData(d), 2)); // the default is the current version
  });

  it('keeps the detail as two u32 halves; the tag is the top half', () => {
    const g = outcomeDigest(withData(Uint8Array.from([9, 9, 9])));
    expect(detailHex(g)).toMatch(/^[0-9a-f]{16}$/);
    expect(detailTag(detailHex(g))).toBe(g.hi);
    const t = thrownDigest(Object.assign(new Error('boom'), { code: 'KERNEL_BUG' }));
    expect(t.thrown).toBe('KERNEL_BUG');
    expect([t.hi, t.lo].every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)).toBe(true);
  });
});
