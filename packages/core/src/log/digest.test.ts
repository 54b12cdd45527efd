// The outcome digest's definitions: version 1 folds read data a byte per lane step, version 2 a
// 32-bit word per step (both must see every byte; nothing but data may differ between them), and
// version 3 folds the model's field-kept trace records (dma/trace.ts, Trace) by their fields, and
// version 4 folds read data in four lanes of 16-byte blocks (Lanes.words4).
import { describe, expect, it } from 'vitest';
import { emptyOutcome, traceLine, type Outcome, type TraceRec } from '../events.ts';
import { testMachine } from '../testing.ts';
import { Trace, TRACE_IOMMU_MAP, TRACE_MAP } from '../dma/trace.ts';
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
  it.each([2, 4])('version %i changes when any one byte of the data changes (every length mod 16, aligned or not)', (version) => {
    const prng = new Prng(17);
    for (const n of [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 20, 31, 32, 33, 63, 64, 65, 1500, 4096]) {
      const d = Uint8Array.from({ length: n }, () => prng.int(256));
      const base = outcomeDigest(withData(d), version);
      for (let t = 0; t < Math.min(n * 8, 200); t++) {
        const i = prng.int(n);
        const bit = 1 << prng.int(8);
        d[i]! ^= bit;
        const got = outcomeDigest(withData(d), version);
        expect(detailHex(got), `byte ${i} of ${n}, bit ${bit}`).not.toBe(detailHex(base));
        d[i]! ^= bit;
      }
      // The same bytes at an odd offset of a larger buffer (the word-assembling path) fold alike.
      const shifted = new Uint8Array(n + 3);
      shifted.set(d, 3);
      expect(detailHex(outcomeDigest(withData(shifted.subarray(3)), version))).toBe(detailHex(base));
    }
  });

  it('version 4 folds whole 16-byte blocks in four rotating lanes, then the rest as version 3 does (Lanes.words4 against its definition)', () => {
    // The definition written out plainly: words by DataView, the lanes in an array, the tail by
    // w() of murmur3's premix.
    const premixRef = (k: number): number => Math.imul(((Math.imul(k, 0xcc9e2d51) << 15) | (Math.imul(k, 0xcc9e2d51) >>> 17)), 0x1b873593);
    const ref = (d: Uint8Array): string => {
      const m = new Lanes();
      m.w(d.length);
      const dv = new DataView(d.buffer, d.byteOffset, d.length);
      const blocks = Math.floor(d.length / 16);
      const seed = [m.a, m.b, m.a ^ 0x6a09e667, m.b ^ 0x3c6ef372];
      const mul = [0x01000193, 0x5bd1e995, 0x01000193, 0x5bd1e995];
      const lanes = seed.slice();
      for (let i = 0; i < blocks * 4; i++) {
        const l = lanes[i % 4]!;
        lanes[i % 4] = Math.imul(((l << 13) | (l >>> 19)) ^ dv.getInt32(i * 4, true), mul[i % 4]!);
      }
      if (blocks > 0) for (const l of lanes) m.w(premixRef(l));
      for (let p = blocks * 16; p < d.length; p += 4) {
        let x = 0;
        for (let j = 0; j < 4 && p + j < d.length; j++) x |= d[p + j]! << (8 * j);
        m.w(premixRef(x));
      }
      return m.hex();
    };
    const prng = new Prng(23);
    for (const n of [0, 1, 4, 15, 16, 17, 19, 32, 47, 48, 100, 4096]) {
      const d = Uint8Array.from({ length: n }, () => prng.int(256));
      const got = new Lanes();
      got.words4(d);
      expect(got.hex(), `${n} bytes`).toBe(ref(d));
      // Fewer than 16 bytes: no block, so the same fold as version 3's words().
      const v3 = new Lanes();
      v3.words(d);
      if (n < 16) expect(v3.hex()).toBe(got.hex());
      else expect(v3.hex()).not.toBe(got.hex());
    }
  });

  it('version 4: differences in the same bit of two words never cancel (same lane or not)', () => {
    const prng = new Prng(29);
    const d = Uint8Array.from({ length: 256 }, () => prng.int(256));
    const base = detailHex(outcomeDigest(withData(d), 4));
    const w = new DataView(d.buffer);
    const flip = (word: number, bit: number): void => w.setUint32(word * 4, w.getUint32(word * 4, true) ^ 2 ** bit, true);
    for (const bit of [31, 30, 16, 13, 0]) {
      for (const [i, j] of [[0, 4], [0, 8], [1, 5], [0, 1], [2, 3], [3, 63], [60, 62]] as const) {
        flip(i, bit);
        flip(j, bit);
        expect(detailHex(outcomeDigest(withData(d), 4)), `bit ${bit} of words ${i} and ${j}`).not.toBe(base);
        flip(i, bit);
        flip(j, bit);
      }
    }
    expect(detailHex(outcomeDigest(withData(d), 4))).toBe(base);
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
    expect(outcomeDigest(withData(d))).toEqual(outcomeDigest(withData(d), 4)); // the default is the current version
  });

  it('keeps the detail as two u32 halves; the tag is the top half', () => {
    const g = outcomeDigest(withData(Uint8Array.from([9, 9, 9])));
    expect(detailHex(g)).toMatch(/^[0-9a-f]{16}$/);
    expect(detailTag(detailHex(g))).toBe(g.hi);
    const t = thrownDigest(Object.assign(new Error('boom'), { code: 'KERNEL_BUG' }));
    expect(t.thrown).toBe('KERNEL_BUG');
    expect([t.hi, t.lo].every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)).toBe(true);
  });

  it('Lanes.big folds the low then the high 32 bits of the u64, with or without its number fast path', () => {
    for (const x of [0n, 1n, 0xffffffffn, 0x100000000n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n, -1n, 0xffff888000000000n]) {
      const a = new Lanes();
      a.big(x);
      const b = new Lanes();
      const v = BigInt.asUintN(64, x);
      b.w(Number(v & 0xffffffffn));
      b.w(Number(v >> 32n));
      expect(a.hex(), String(x)).toBe(b.hex());
    }
  });

  it('Lanes.num folds the low then the high 32 bits of a safe integer as a two\'s-complement u64, on both sides of ±2^31 and 2^32', () => {
    const xs = [0, -0, 1, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32, -(2 ** 32), 2 ** 53 - 1, -(2 ** 53 - 1)];
    for (let i = 0; i < 500; i++) xs.push(Math.floor(Math.sin(i + 1) * 2 ** [8, 31, 40, 52][i % 4]!));
    for (const x of xs) {
      const a = new Lanes();
      a.num(x);
      const b = new Lanes();
      const v = BigInt.asUintN(64, BigInt(x));
      b.w(Number(v & 0xffffffffn));
      b.w(Number(v >> 32n));
      expect(a.hex(), String(x)).toBe(b.hex());
    }
  });
});

describe('version 3: trace records kept as fields', () => {
  const m = testMachine({});
  const dev = m.k.deviceList[0]!;
  const map = (over: Partial<{ a: bigint; b: bigint; n: number; dir: number; attrs: number; flag: boolean }> = {}): Trace =>
    new Trace('dma', 'dma_map_phys', TRACE_MAP, dev, over.a ?? 0x12345n, over.b ?? 0x12345n, 0n, over.n ?? 100, over.dir ?? 2, over.attrs ?? 0, over.flag ?? true, null, null, null);
  const withTrace = (t: TraceRec): Outcome => {
    const o = emptyOutcome(12_000);
    o.trace.push(t);
    return o;
  };

  it('the text is formatted when read, and is what the kernel prints; JSON has the plain form', () => {
    const t = map();
    expect(traceLine(t)).toBe(`dma_map_phys: ${dev.name} dir=FROM_DEVICE dma_addr=12345 size=100 phys_addr=12345 attrs=`);
    expect(JSON.parse(JSON.stringify(t))).toEqual({ system: 'dma', name: 'dma_map_phys', text: t.text });
  });

  it('versions 1 and 2 fold a field-kept record exactly as the plain record with the same text', () => {
    const t = map({ attrs: 0x400 });
    const plain = { system: t.system, name: t.name, text: t.text };
    for (const v of [1, 2]) expect(outcomeDigest(withTrace(t), v)).toEqual(outcomeDigest(withTrace(plain), v));
    expect(outcomeDigest(withTrace(t), 3)).not.toEqual(outcomeDigest(withTrace(plain), 3));
  });

  it('version 3 changes when any field that the text prints changes', () => {
    const base = detailHex(outcomeDigest(withTrace(map()), 3));
    const variants = [map({ a: 0x12346n }), map({ b: 0x12344n }), map({ n: 101 }), map({ dir: 1 }), map({ attrs: 0x20 }), map({ a: 0x12345n + (1n << 40n) })];
    const seen = new Set([base]);
    for (const t of variants) seen.add(detailHex(outcomeDigest(withTrace(t), 3)));
    expect(seen.size).toBe(variants.length + 1);
    // A plain (text) record of another kind still folds by its text under version 3.
    const p1 = { system: 'dma' as const, name: 'dma_alloc', text: 'a' };
    const p2 = { system: 'dma' as const, name: 'dma_alloc', text: 'b' };
    expect(detailHex(outcomeDigest(withTrace(p1), 3))).not.toBe(detailHex(outcomeDigest(withTrace(p2), 3)));
  });

  it('an iommu record holding exact addresses as numbers folds and prints as the same record with bigints', () => {
    // The IOMMU paths pass U64s (util/exact.ts): a replay must not tell the two forms apart.
    const iommu = (a: bigint | number, b: bigint | number, c: bigint | number): Trace =>
      new Trace('iommu', 'map', TRACE_IOMMU_MAP, null, a, b, c, 0, 0, 0, false, null, null, null);
    for (const [a, b, c] of [[0xfffff000, 0x12345000, 4096], [2 ** 53 - 4096, 2 ** 40 + 0x3000, 2 ** 32]]) {
      const asNumbers = iommu(a!, b!, c!);
      const asBigints = iommu(BigInt(a!), BigInt(b!), BigInt(c!));
      expect(traceLine(asNumbers)).toBe(traceLine(asBigints));
      for (const v of [3, 4]) expect(outcomeDigest(withTrace(asNumbers), v)).toEqual(outcomeDigest(withTrace(asBigints), v));
    }
    expect(traceLine(iommu(2 ** 53 - 4096, 0x1000, 8192))).toBe('map: IOMMU: iova=0x001ffffffffff000 - 0x0020000000001000 paddr=0x0000000000001000 size=8192');
  });
});
