// Physical memory: sparse contents across chunk boundaries, regions, the top-down page allocator.
import { describe, expect, test } from 'vitest';
import { defaultPlatform } from '../config.ts';
import { Memory } from './memory.ts';
import { Hasher, type StateHashVersion } from '../util/hash.ts';
import { Prng } from '../util/prng.ts';

const GiB = 1n << 30n;
function mem(over: Partial<ReturnType<typeof defaultPlatform>> = {}): Memory {
  return new Memory({ ...defaultPlatform(), ...over });
}

describe('contents', () => {
  test('unwritten bytes read as 0; writes, fills and copies cross 4 KiB chunks', () => {
    const m = mem();
    expect([...m.read(0x1ffen, 4)]).toEqual([0, 0, 0, 0]);
    m.write(0x1ffen, new Uint8Array([1, 2, 3, 4]));
    expect([...m.read(0x1ffdn, 6)]).toEqual([0, 1, 2, 3, 4, 0]);
    m.fill(0x2fffn, 3, 9);
    expect([...m.read(0x2ffen, 5)]).toEqual([0, 9, 9, 9, 0]);
    m.copy(0x5000n, 0x1ffen, 4);
    expect([...m.read(0x5000n, 4)]).toEqual([1, 2, 3, 4]);
  });

  test('overlapping copy behaves like memmove', () => {
    const m = mem();
    m.write(0x100n, new Uint8Array([1, 2, 3, 4, 5]));
    m.copy(0x102n, 0x100n, 5);
    expect([...m.read(0x100n, 7)]).toEqual([1, 2, 1, 2, 3, 4, 5]);
  });

  test('addresses above 2^53 are exact', () => {
    const m = mem();
    const hi = (1n << 60n) + 0x123n;
    m.write(hi, new Uint8Array([7]));
    expect(m.read(hi, 1)[0]).toBe(7);
    expect(m.read(hi - 1n, 1)[0]).toBe(0);
  });

  // Contents are stepped chunk by chunk on numbers from a start split once (memory.ts chunkOf /
  // offsetOf): they must give what a plain byte map gives, for ranges below, across and above 2^53.
  // With aliasReads (what Machine sets while it recycles outcomes) a read may be a view of memory
  // itself or of one reused buffer: the bytes it holds when returned must be the same.
  test.each([
    ['low memory', 0x10_0000n, false],
    ['across 2^53', (1n << 53n) - 0x6000n, false],
    ['near 2^64', (1n << 64n) - 0x20000n, false],
    ['low memory, aliasing reads', 0x10_0000n, true],
    ['across 2^53, aliasing reads', (1n << 53n) - 0x6000n, true],
    ['near 2^64, aliasing reads', (1n << 64n) - 0x20000n, true],
  ])('write, fill, copy and read equal a byte-by-byte reference (%s)', (_where, base, alias) => {
    const m = mem();
    m.aliasReads = alias;
    const ref = new Map<bigint, number>();
    const rng = new Prng(7n);
    const span = 0x10000;
    const at = (): bigint => base + BigInt(rng.int(span - 9000));
    for (let step = 0; step < 400; step++) {
      const op = rng.int(4);
      const a = at();
      let n = rng.int(9000);
      if (op === 0) {
        const d = new Uint8Array(n);
        for (let i = 0; i < n; i++) d[i] = rng.int(256);
        m.write(a, d);
        for (let i = 0; i < n; i++) ref.set(a + BigInt(i), d[i]!);
      } else if (op === 1) {
        const b = rng.int(3) === 0 ? 0 : rng.int(256);
        m.fill(a, n, b);
        for (let i = 0; i < n; i++) ref.set(a + BigInt(i), b);
      } else if (op === 2) {
        const src = at();
        const copy: number[] = [];
        for (let i = 0; i < n; i++) copy.push(ref.get(src + BigInt(i)) ?? 0);
        m.copy(a, src, n);
        for (let i = 0; i < n; i++) ref.set(a + BigInt(i), copy[i]!);
      } else {
        // Reads inside one chunk (views when aliasing, from an aligned offset) as often as longer ones;
        // readAt, the number entry point, where the address is exact.
        const len = rng.int(2) ? rng.int(4097) : n;
        const got = a <= BigInt(Number.MAX_SAFE_INTEGER) - 0x10000n && rng.int(2) ? m.readAt(Number(a), len) : m.read(a, len);
        n = len;
        const want = new Uint8Array(n);
        for (let i = 0; i < n; i++) want[i] = ref.get(a + BigInt(i)) ?? 0;
        expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
      }
    }
    const all = m.read(base, span);
    for (let i = 0; i < span; i++) if (all[i] !== (ref.get(base + BigInt(i)) ?? 0)) expect.unreachable(`byte ${i}`);
  });

  test('aliasing reads: never-written bytes read as 0 after the reused buffer held others', () => {
    const m = mem();
    m.aliasReads = true;
    m.fill(0x10_0000n, 3 * 4096, 0xab);
    expect(m.read(0x10_0800n, 8192).every((b) => b === 0xab)).toBe(true); // crosses chunks: the reused buffer
    expect(m.read(0x20_0800n, 8192).every((b) => b === 0)).toBe(true); // never written: zeros in the same buffer
    expect(m.readAt(0x20_1000, 16).every((b) => b === 0)).toBe(true); // one chunk never written: a view of zeros
    m.write(0x10_1004n, Uint8Array.of(1, 2)); // the chunk has contents of its own now
    const v = m.read(0x10_1000n, 8); // one chunk, aligned: a view of memory itself
    expect([...v]).toEqual([0xab, 0xab, 0xab, 0xab, 1, 2, 0xab, 0xab]);
    m.aliasReads = false;
    const copy = m.read(0x10_1000n, 8); // a private copy again
    m.fill(0x10_1000n, 8, 1);
    expect([...copy]).toEqual([0xab, 0xab, 0xab, 0xab, 1, 2, 0xab, 0xab]);
    expect([...v]).toEqual(new Array(8).fill(1)); // the view showed memory, as aliasReads allows
  });

  // A chunk every byte of which is one value keeps no contents (memory.ts Chunk.uni): reads of it
  // are views of one shared chunk of that value, which later writes to any chunk must not reach.
  test('uniform chunks: views of them and writes after them', () => {
    const m = mem();
    m.aliasReads = true;
    m.fill(0x10_0000n, 2 * 4096, 0xab); // two uniform chunks
    const v = m.read(0x10_0000n, 16);
    expect(v.every((b) => b === 0xab)).toBe(true);
    m.fill(0x10_0004n, 4, 7); // the first one gets contents of its own
    m.write(0x10_1000n, Uint8Array.of(9)); // and the second
    expect([...m.read(0x10_0000n, 12)]).toEqual([0xab, 0xab, 0xab, 0xab, 7, 7, 7, 7, 0xab, 0xab, 0xab, 0xab]);
    expect([...m.read(0x10_1000n, 4)]).toEqual([9, 0xab, 0xab, 0xab]);
    m.fill(0x30_0000n, 4096, 0xab); // a third, uniform: still all 0xab
    expect(m.read(0x30_0000n, 4096).every((b) => b === 0xab)).toBe(true);
    m.fill(0x10_0000n, 4096, 0xab); // a whole-chunk fill makes the first uniform again
    m.copy(0x40_0000n, 0x10_0000n, 4096); // a copy from a uniform chunk
    m.copy(0x40_1000n, 0x10_1000n, 4096); // and from one with contents
    expect(m.read(0x40_0000n, 4096).every((b) => b === 0xab)).toBe(true);
    expect([...m.read(0x40_1000n, 3)]).toEqual([9, 0xab, 0xab]);
  });

  const hash = (m: Memory, v: StateHashVersion = 2): string => {
    const x = new Hasher();
    m.hashInto(x, v);
    return x.digest();
  };

  test('the hash ignores zero chunks and sees every other byte (both versions)', () => {
    for (const v of [1, 2] as const) {
      const h = (m: Memory): string => hash(m, v);
      const a = mem();
      const b = mem();
      b.fill(0x9000n, 100, 0);
      b.write(0xa000n, new Uint8Array(10));
      expect(h(a)).toBe(h(b));
      b.fill(0xa005n, 1, 1);
      expect(h(a)).not.toBe(h(b));
      b.fill(0xa005n, 1, 0); // back to all zero: equal again, whatever was cached
      expect(h(a)).toBe(h(b));
    }
  });

  test('the incremental (version 2) hash equals a from-scratch one after arbitrary writes', () => {
    // Random writes, fills (zero and not), disjoint and overlapping copies over a few chunks (so
    // they collide), hashed at random points; a fresh Memory given the same operations and
    // hashed once (every digest computed from scratch) must agree, and so must version 1.
    for (let seed = 1; seed <= 25; seed++) {
      const prng = new Prng(BigInt(seed));
      const ops: ((m: Memory) => void)[] = [];
      const a = mem();
      const at = (): bigint => 0x10_0000n + BigInt(prng.int(2) === 0 ? 4096 * prng.int(6) : prng.int(6 * 4096)); // half chunk-aligned: whole-chunk fills
      const len = (): number => [1, 3, 4, 100, 4096, 5000, 8192][prng.int(7)]!;
      for (let i = 0; i < 60; i++) {
        const kind = prng.int(5);
        const p = at();
        const n = len();
        let op: (m: Memory) => void;
        if (kind === 0) {
          const d = Uint8Array.from({ length: n }, () => (prng.int(4) === 0 ? 0 : prng.int(256)));
          op = (m) => m.write(p, d);
        } else if (kind === 1) {
          const b = prng.int(2) === 0 ? 0 : 1 + prng.int(255);
          op = (m) => m.fill(p, n, b);
        } else if (kind === 2) {
          const q = at();
          op = (m) => m.copy(q, p, n);
        } else if (kind === 3) {
          const q = 0x40_0000n + BigInt(prng.int(4096)); // from memory never written: copies zeros
          op = (m) => m.copy(p, q, n);
        } else {
          op = (m) => m.write(p, new Uint8Array(n)); // zeros into (maybe) written chunks
        }
        ops.push(op);
        op(a);
        if (prng.int(4) === 0) hash(a);
      }
      const b = mem();
      for (const op of ops) op(b);
      expect(hash(a), `seed ${seed}`).toBe(hash(b));
      expect(hash(a, 1), `seed ${seed}`).toBe(hash(b, 1));
      expect(hash(a, 1)).not.toBe(hash(a, 2));
      // The same contents written out as bytes (no chunk uniform, every digest from its bytes): a's
      // uniform chunks must hash as their bytes would, in every version.
      const c = mem();
      c.write(0x10_0000n, a.read(0x10_0000n, 8 * 4096));
      for (const v of [1, 2, 3] as const) expect(hash(c, v), `seed ${seed}, version ${v}`).toBe(hash(a, v));
    }
  });
});

describe('regions', () => {
  test('pfn_valid for RAM pages, isMmio for BARs, overlaps rejected', () => {
    const m = mem({ ram: [{ base: 0n, size: GiB }, { base: 4n * GiB, size: GiB }], mmio: [{ name: 'bar', base: 2n * GiB, size: 1n << 20n }] });
    expect([m.pfn_valid(0n), m.pfn_valid(GiB - 1n), m.pfn_valid(GiB), m.pfn_valid(4n * GiB + 5n)]).toEqual([true, true, false, true]);
    expect([m.isMmio(2n * GiB), m.isMmio(2n * GiB + (1n << 20n))]).toEqual([true, false]);
    expect(m.ramEnd).toBe(5n * GiB);
    expect(() => mem({ mmio: [{ name: 'bad', base: GiB, size: 4096n }] })).toThrow(/MMIO region "bad" .* overlaps RAM|overlaps/);
  });
});

describe('page allocator', () => {
  test('top-down from the highest RAM address, 2^order pages aligned to their size', () => {
    const m = mem();
    expect(m.allocPages(4096)).toBe(8n * GiB - 4096n);
    expect(m.allocPages(12288)).toBe(8n * GiB - 0x8000n); // 16 KiB block, 16 KiB aligned
    expect(m.allocPages(4096)).toBe(8n * GiB - 0x2000n); // fills the hole above
    expect(m.allocPages(4096, 0xffffffffn)).toBe(0x100000000n - 4096n);
  });

  test('free returns the block; a wrong address or order is refused', () => {
    const m = mem();
    const a = m.allocPages(8192)!;
    expect(m.isAllocated(a, 8192)).toBe(true);
    expect(m.freePages(a, 4096)).toBe(false);
    expect(m.freePages(a + 4096n, 4096)).toBe(false);
    expect(m.freePages(a, 8192)).toBe(true);
    expect(m.freePages(a, 8192)).toBe(false);
    expect(m.allocPages(8192)).toBe(a);
  });

  test('reserved ranges are skipped, exhaustion gives null', () => {
    const m = mem({ ram: [{ base: 0n, size: 0x10000n }] });
    expect(m.reserveLow(0x8000n, 4096n, 'pool')).toBe(0x8000n);
    expect(m.allocPages(0x8000)).toBe(0n);
    expect(m.allocPages(4096)).toBeNull();
    expect(m.allocPages(4096, 0xfffn)).toBeNull();
  });
});
