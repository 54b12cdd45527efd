// DebugHash lookups compare entries by number keys when both ranges are exact as numbers
// (exactRange), else by bigints. Both must find exactly what a table of bigint-only entries finds,
// below, across and above 2^53, including ranges that wrap past 2^64.
import { describe, expect, test } from 'vitest';
import type { Device } from '../platform/device.ts';
import { Prng } from '../util/prng.ts';
import { exactKey, exactRange } from '../util/exact.ts';
import { ACTIVE_CACHELINE_MAX_OVERLAP, ActiveCachelines, clnKey, DebugHash, hash_fn, L1_CACHE_SHIFT, type DebugEntry, type DebugRef, type DebugType } from './debug-hash.ts';
import { Hasher } from '../util/hash.ts';

const devs = [0, 1, 2].map((index) => ({ index, name: `d${index}` }) as unknown as Device);
const TYPES: DebugType[] = ['single', 'phy', 'scatter-gather'];

describe('DebugHash number keys', () => {
  test.each([
    ['low addresses', 0x1_0000_0000n],
    ['across 2^53', (1n << 53n) - 0x40000n],
    ['near 2^64 (ends wrap)', (1n << 64n) - 0x40000n],
  ])('bucket_find_exact and bucket_find_contain equal a bigint-only table (%s)', (_where, base) => {
    const rng = new Prng(5n);
    const fast = new DebugHash();
    const slow = new DebugHash();
    const pairs = new Map<DebugEntry, DebugEntry>();
    const addr = (): bigint => BigInt.asUintN(64, base + BigInt(rng.int(0x80000)));
    for (let i = 0; i < 600; i++) {
      const devAddr = addr();
      const e: DebugEntry = {
        dev: devs[rng.int(3)]!, type: TYPES[rng.int(3)]!, paddr: 0n, devAddr, size: 1 + rng.int(0x6000),
        direction: rng.int(3), sgCallEnts: rng.int(3), sgMappedEnts: 0, mapErrType: 0,
        hook: 'h', api: 'a', seq: i, cpu: 0, devAddrN: 0, bPrev: null, bNext: null, dPrev: null, dNext: null,
      };
      e.devAddrN = exactRange(e.devAddr, e.size);
      const twin: DebugEntry = { ...e, devAddrN: -1 };
      fast.add(e);
      slow.add(twin);
      pairs.set(e, twin);
    }
    let found = 0;
    const entries = [...pairs.keys()];
    for (let i = 0; i < 3000; i++) {
      const ref: DebugRef = { dev: devs[rng.int(3)]!, type: TYPES[rng.int(3)]!, paddr: 0n, devAddr: addr(), size: 1 + rng.int(0x2000), direction: rng.int(3), sgCallEnts: rng.int(3) };
      if (rng.int(2) === 0) {
        // A range inside an entry that ends exactly where it ends (the boundary of the containment test), or one byte past.
        const e = entries[rng.int(entries.length)]!;
        const off = rng.int(e.size);
        ref.dev = e.dev;
        ref.devAddr = BigInt.asUintN(64, e.devAddr + BigInt(off));
        ref.size = e.size - off + (rng.int(4) === 0 ? 1 : 0);
      }
      for (const how of ['bucket_find_exact', 'bucket_find_contain'] as const) {
        const a = fast[how](ref);
        const b = slow[how](ref);
        expect(a === undefined ? undefined : pairs.get(a)).toBe(b);
        if (a) found++;
      }
    }
    expect(found).toBeGreaterThan(100);
  });
});

// hash_bucket_add appends (list_add_tail) and hash_bucket_del unlinks: every bucket keeps its
// entries in the order they were added, and so does each device's part of a bucket, whatever was
// removed in between. DebugHash links them through the entries; checked against plain arrays.
describe('DebugHash lists (hash_bucket_add / hash_bucket_del)', () => {
  test('buckets and their device parts keep insertion order under random adds and removes', () => {
    const rng = new Prng(17n);
    const t = new DebugHash();
    const ref = new Map<number, DebugEntry[]>(); // bucket → entries in order
    const live: DebugEntry[] = [];
    // Three buckets' worth of addresses, so that lists grow long and devices share buckets.
    const addr = (): bigint => 0x4001_0000n + BigInt(rng.int(3)) * 0x2000n + BigInt(rng.int(0x2000));
    const check = (): void => {
      const first = hash_fn(0x4001_0000n);
      for (let idx = first - 1; idx <= first + 3; idx++) {
        const want = ref.get(idx) ?? [];
        const inBucket: DebugEntry[] = [];
        for (let e = t.bucketFirst(idx); e !== null; e = e.bNext) inBucket.push(e);
        expect(inBucket).toEqual(want);
        for (const dev of devs) {
          const mine = want.filter((e) => e.dev === dev);
          const got: DebugEntry[] = [];
          const first = t.deviceFirst(dev, idx);
          for (let e = first; e !== null; e = e.dNext) got.push(e);
          expect(got).toEqual(mine);
          if (first) expect(first.dPrev).toBe(mine[mine.length - 1]); // the last, for device_dma_allocations
        }
      }
      for (const dev of devs) expect(t.deviceCount(dev)).toBe(live.filter((e) => e.dev === dev).length);
      expect(t.size).toBe(live.length);
    };
    for (let i = 0; i < 3000; i++) {
      if (live.length > 0 && rng.int(5) < 2) {
        const e = live.splice(rng.int(live.length), 1)[0]!;
        t.del(e);
        const list = ref.get(hash_fn(e.devAddr))!;
        list.splice(list.indexOf(e), 1);
        expect(e.dPrev).toBeNull();
      } else {
        const devAddr = addr();
        const e: DebugEntry = {
          dev: devs[rng.int(3)]!, type: 'single', paddr: 0n, devAddr, size: 64, direction: 0, sgCallEnts: 0, sgMappedEnts: 0,
          mapErrType: 0, hook: 'h', api: 'a', seq: i, cpu: 0, devAddrN: exactRange(devAddr, 64),
          bPrev: null, bNext: null, dPrev: null, dNext: null,
        };
        t.add(e);
        live.push(e);
        const idx = hash_fn(devAddr);
        ref.set(idx, [...(ref.get(idx) ?? []), e]);
      }
      if (i % 97 === 0) check();
    }
    check();
    expect(() => t.del({ ...live[0]!, bPrev: null, bNext: null, dPrev: null, dNext: null })).toThrow(/not in bucket/);
  });
});

describe('hash_fn (kernel/dma/debug.c)', () => {
  test('is (dev_addr >> HASH_FN_SHIFT) & HASH_FN_MASK over the whole u64 range', () => {
    const rng = new Prng(13n);
    const vals = [0n, 0x1fffn, 0x2000n, 0x7ff_e000n, 0x800_0000n, (1n << 64n) - 1n];
    for (let i = 0; i < 4000; i++) vals.push(rng.nextU64() >> BigInt(rng.int(64)));
    for (const a of vals) expect(hash_fn(a)).toBe(Number((a >> 13n) & 16383n));
  });
});

describe('ActiveCachelines keys (dma-debug to_cacheline_number)', () => {
  test('clnKey(paddr) is exactKey(paddr >> L1_CACHE_SHIFT) below, across and above 2^53', () => {
    const rng = new Prng(11n);
    const edges = [0n, 63n, 64n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 64n, (1n << 59n) - 1n, 1n << 59n, (1n << 59n) + 64n, (1n << 64n) - 1n];
    for (let i = 0; i < 2000; i++) edges.push(rng.nextU64() >> BigInt(rng.int(64)));
    for (const p of edges) expect(clnKey(p)).toBe(exactKey(p >> L1_CACHE_SHIFT));
  });

  // Lines at and above 2^53 (addresses from 2^59) are kept by their bigint, the rest by number
  // (util/num-map.ts ExactKeyMap): counts, removal and the state hash's fold (every line in order,
  // as Hasher.big of its number, then its overlap) must not depend on which.
  test('lines kept as numbers and as bigints count, remove and hash alike', () => {
    for (const high of [false, true]) {
      const t = new ActiveCachelines();
      const base = high ? (1n << 59n) - 0x100n : 0x10_0000n;
      const ref = new Map<bigint, number>();
      const rng = new Prng(high ? 5n : 3n);
      for (let i = 0; i < 400; i++) {
        const paddr = base + BigInt(rng.int(0x400));
        const cln = paddr >> L1_CACHE_SHIFT;
        if (rng.int(3) === 0) {
          t.removeAt(paddr);
          const o = (ref.get(cln) ?? 0) - 1;
          if (o < 0) ref.delete(cln);
          else ref.set(cln, o);
        } else {
          const r = t.insertAt(paddr);
          const cur = ref.get(cln);
          expect(r.rc).toBe(cur === undefined ? 0 : 'eexist');
          if (cur === undefined) ref.set(cln, 0);
          else if (cur < ACTIVE_CACHELINE_MAX_OVERLAP) ref.set(cln, cur + 1);
        }
      }
      expect(t.size).toBe(ref.size);
      for (const [cln, o] of ref) expect(t.overlap(cln)).toBe(o);
      const want = new Hasher(true).u32(ref.size);
      for (const cln of [...ref.keys()].sort((a, b) => (a < b ? -1 : 1))) want.big(cln).u32(ref.get(cln)!);
      const got = new Hasher(true);
      t.hashInto(got);
      expect(got.digest()).toBe(want.digest());
    }
  });
});
