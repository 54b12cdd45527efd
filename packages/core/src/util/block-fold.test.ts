// words4's block loop in WebAssembly SIMD (util/block-fold.ts) against its JavaScript loop, which
// digest.test.ts checks against the written-out definition: the same lanes for every length,
// alignment and content, and across the module's memory growing.
import { describe, expect, it } from 'vitest';
import { Lanes } from '../log/digest.ts';
import { BlockFold } from './block-fold.ts';
import { Prng } from './prng.ts';

/** words4 of d (after folding `seed` first) with the SIMD loop or without it. */
function fold(d: Uint8Array, simd: boolean, seed: number): string {
  const m = new Lanes();
  if (!simd) m.simd = null;
  m.w(seed);
  m.words4(d);
  return m.hex();
}

describe('BlockFold (words4 in WebAssembly SIMD)', () => {
  it('loads on Node 20, so the digest runs it (not only the fallback)', () => {
    expect(BlockFold.make()).not.toBeNull();
    expect(new Lanes().simd).not.toBeNull();
  });

  it('gives the JavaScript loop\'s digest for every length mod 16, at every alignment', () => {
    const prng = new Prng(41);
    for (const n of [0, 1, 15, 16, 17, 31, 32, 33, 48, 100, 255, 256, 1500, 2560, 4096, 4111]) {
      for (const offset of [0, 1, 2, 3, 4, 8]) {
        const buf = new Uint8Array(n + offset);
        for (let i = 0; i < buf.length; i++) buf[i] = prng.int(256);
        const d = buf.subarray(offset);
        const seed = prng.int(2 ** 31);
        expect(fold(d, true, seed), `${n} bytes at offset ${offset}`).toBe(fold(d, false, seed));
      }
    }
  });

  it('gives the same digests for uniform and sparse data, where lanes repeat', () => {
    for (const v of [0, 0xff, 0x80, 0x5a]) {
      const d = new Uint8Array(4096).fill(v);
      expect(fold(d, true, 7), `all 0x${v.toString(16)}`).toBe(fold(d, false, 7));
      d[4095] = v ^ 1;
      expect(fold(d, true, 7)).toBe(fold(d, false, 7));
    }
  });

  it('grows its memory for data larger than it holds, and folds as before after growing', () => {
    const bf = BlockFold.make()!;
    const prng = new Prng(43);
    for (const n of [64, 70_000, 300_000, 64]) {
      const d = Uint8Array.from({ length: n }, () => prng.int(256));
      const blocks = n >>> 4;
      expect(bf.run(d, blocks, 1, 2, 3, 4)).toBe(true);
      const got = Array.from(bf.lanes);
      // The loop written out (digest.test.ts checks words4 against the same steps).
      const dv = new DataView(d.buffer, d.byteOffset, n);
      const lanes = [1, 2, 3, 4];
      const mul = [0x01000193, 0x5bd1e995, 0x01000193, 0x5bd1e995];
      for (let i = 0; i < blocks * 4; i++) {
        const l = lanes[i % 4]!;
        lanes[i % 4] = Math.imul(((l << 13) | (l >>> 19)) ^ dv.getInt32(i * 4, true), mul[i % 4]!);
      }
      expect(got, `${n} bytes`).toEqual(lanes);
    }
  });
});
