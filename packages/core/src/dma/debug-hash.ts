// dma-debug's bookkeeping (kernel/dma/debug.c): the entry, the 16384-bucket hash keyed by
// (dev_addr >> 13) with its best-fit lookups, and the active-cacheline overlap counter.

import type { Device } from '../platform/device.ts';
import type { Hasher } from '../util/hash.ts';
import { exactKey, exactNum, exactRange, low32 } from '../util/exact.ts';
import { ExactKeyMap } from '../util/num-map.ts';

export const HASH_SIZE = 16384;
/** L1_CACHE_SHIFT of the x86-like default platform (64-byte lines): dma-debug's cacheline size. */
export const L1_CACHE_SHIFT = 6n;
const L1_CACHE_BYTES = 64;
const HASH_FN_SHIFT = 13n;
const BUCKET_SPAN = 1n << HASH_FN_SHIFT;

/** type2name: entry types by the name dma-debug prints ("resource" up to 6.17, "phy" from 6.18). */
export type DebugType = 'single' | 'scatter-gather' | 'coherent' | 'noncoherent' | 'resource' | 'phy';

export const MAP_ERR_CHECK_NOT_APPLICABLE = 0;
export const MAP_ERR_NOT_CHECKED = 1;
export const MAP_ERR_CHECKED = 2;
export const maperr2str = ['dma map error check not applicable', 'dma map error not checked', 'dma map error checked'] as const;

/**
 * Where an entry was created. The kernel saves 5 stack frames; we have no kernel stack, so we keep
 * the debug hook, the API function that called it, and the event (sequence number, CPU).
 */
export interface MapSite { hook: string; api: string; seq: number; cpu: number }

/**
 * struct dma_debug_entry (without the list head; 6.17/6.18 entries hold no attrs). The entry is its
 * own MapSite (hook, api, seq, cpu): an object for the site was one more per live mapping that the
 * young generation copied (BENCHMARKS.md, eleventh round).
 */
/**
 * Not state: DebugHash's links of an entry — the previous and next entry in its bucket's list, and
 * in the device's part of it (dPrev of a device part's first entry is its last); all null while
 * the entry is in no table. Every entry is made with them (newEntry()), so all share one shape.
 */
export interface DebugLinks {
  bPrev: DebugEntry | null;
  bNext: DebugEntry | null;
  dPrev: DebugEntry | null;
  dNext: DebugEntry | null;
}

export interface DebugEntry extends MapSite, DebugLinks {
  dev: Device;
  type: DebugType;
  paddr: bigint;
  devAddr: bigint;
  size: number;
  direction: number;
  sgCallEnts: number;
  sgMappedEnts: number;
  mapErrType: number;
  /**
   * Not state: exactRange(devAddr, size) — devAddr as a number when the whole range is exact as
   * numbers (util/exact.ts), else -1 — lookups compare these instead of bigints.
   */
  devAddrN: number;
}

/** The on-stack reference entry a check looks up with. */
export type DebugRef = Pick<DebugEntry, 'dev' | 'type' | 'paddr' | 'devAddr' | 'size' | 'direction' | 'sgCallEnts'>;

const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);

export function hash_fn(devAddr: bigint): number {
  // (dev_addr >> 13) & (HASH_SIZE - 1), from the low 32 bits (no BigInt operation: this runs for
  // every map, unmap, sync and mapping-error check).
  return (low32(devAddr) >>> 13) & (HASH_SIZE - 1);
}

/**
 * The match functions take the reference's exactRange (`aN`) as well: when both keys are numbers the
 * test is on numbers (every bigint comparison or sum is a runtime call, and a lookup may test many
 * entries). A number key means the range's end is exact too, so the u64 wrap cannot arise there.
 * find() picks one by a flag, not by a function parameter: V8 does not inline a call through a
 * parameter that sees two functions, and it ran for every entry tested.
 */

function exact_match(a: DebugRef, aN: number, b: DebugEntry): boolean {
  if (a.dev !== b.dev) return false; // the cheap identity test first: buckets mix devices
  if (aN >= 0 && b.devAddrN >= 0) return aN === b.devAddrN;
  return a.devAddr === b.devAddr;
}

/** The entry must hold the whole referenced range (end sums wrap at 64 bits, as u64 adds do). */
function containing_match(a: DebugRef, aN: number, b: DebugEntry): boolean {
  if (a.dev !== b.dev) return false;
  if (aN >= 0 && b.devAddrN >= 0) return b.devAddrN <= aN && b.devAddrN + b.size >= aN + a.size;
  return b.devAddr <= a.devAddr && u64(b.devAddr + BigInt(b.size)) >= u64(a.devAddr + BigInt(a.size));
}

/** The hash table: bucket index → list in insertion order (list_add_tail). */
export class DebugHash {
  /**
   * Per bucket: the first and last entry of its list, which runs through the entries' bPrev /
   * bNext. A list per bucket kept in an array cost a search of the bucket (indexOf) and a shift of
   * what follows at every removal; where devices' IOMMU domains hand out the same IOVAs, a bucket
   * holds dozens of entries (BENCHMARKS.md, fourteenth round). Linked through the entries, a
   * removal is a constant number of stores and an add allocates nothing.
   */
  private readonly head: (DebugEntry | null)[] = new Array<DebugEntry | null>(HASH_SIZE).fill(null);
  private readonly tail: (DebugEntry | null)[] = new Array<DebugEntry | null>(HASH_SIZE).fill(null);
  /**
   * The same lists split by device, in the same order, through dPrev / dNext: per device index, a
   * table of HASH_SIZE slots, each the first entry of the device's part of that bucket (the last
   * is first.dPrev). A speed structure only: every lookup matches on the device first, so
   * searching a device's part of a bucket finds exactly what searching the whole bucket finds —
   * but devices whose IOMMU domains hand out the same IOVAs (one strict domain each) share every
   * bucket, and a whole bucket then holds dozens of other devices' entries. A table per device
   * (made at its first entry, 128 KiB), read at the bucket's index: it was a NumMap keyed by
   * bucket + HASH_SIZE × device, whose lookup hashed the key and read a key array and a value
   * array, at every add, removal and lookup (BENCHMARKS.md, sixteenth round).
   */
  private readonly byDev: (DebugEntry | null)[][] = [];
  /** Live entries by device index. */
  private readonly perDevice: number[] = [];
  private live = 0;

  get size(): number {
    return this.live;
  }

  /** hash_bucket_add */
  add(entry: DebugEntry): void {
    const idx = hash_fn(entry.devAddr);
    const t = this.tail[idx]!;
    entry.bPrev = t;
    entry.bNext = null;
    if (t !== null) t.bNext = entry;
    else this.head[idx] = entry;
    this.tail[idx] = entry;
    const part = (this.byDev[entry.dev.index] ??= new Array<DebugEntry | null>(HASH_SIZE).fill(null));
    const first = part[idx]!;
    entry.dNext = null;
    if (first === null) {
      entry.dPrev = entry;
      part[idx] = entry;
    } else {
      const last = first.dPrev!; // a linked entry's dPrev is never null
      last.dNext = entry;
      entry.dPrev = last;
      first.dPrev = entry;
    }
    const d = entry.dev.index;
    this.perDevice[d] = (this.perDevice[d] ?? 0) + 1;
    this.live++;
  }

  /** hash_bucket_del */
  del(entry: DebugEntry): void {
    const idx = hash_fn(entry.devAddr);
    if (entry.dPrev === null) throw new Error(`dma-debug: entry at ${entry.devAddr} not in bucket ${idx}`);
    const p = entry.bPrev;
    const n = entry.bNext;
    if (p !== null) p.bNext = n;
    else this.head[idx] = n;
    if (n !== null) n.bPrev = p;
    else this.tail[idx] = p;
    const part = this.byDev[entry.dev.index]!;
    const first = part[idx]!;
    const dn = entry.dNext;
    if (entry === first) {
      if (dn !== null) dn.dPrev = entry.dPrev; // the last
      part[idx] = dn;
    } else {
      const dp = entry.dPrev;
      dp.dNext = dn;
      if (dn !== null) dn.dPrev = dp;
      else first.dPrev = dp; // it was the last
    }
    entry.bPrev = entry.bNext = entry.dPrev = entry.dNext = null;
    this.perDevice[entry.dev.index]!--;
    this.live--;
  }

  /** Live entries of one device. */
  deviceCount(dev: Device): number {
    return this.perDevice[dev.index] ?? 0;
  }

  /** The first entry of bucket idx (the rest follow through bNext), or null. */
  bucketFirst(idx: number): DebugEntry | null {
    return this.head[idx]!;
  }

  /** The first of one device's entries in bucket idx, in bucket order (the rest follow through dNext; the last is its dPrev), or null. */
  deviceFirst(dev: Device, idx: number): DebugEntry | null {
    return this.byDev[dev.index]?.[idx] ?? null;
  }

  /**
   * __hash_bucket_find: best fit among the matches, scoring one point each for equal size, type,
   * direction and sg_call_ents. A perfect score wins at once; otherwise several matches without a
   * perfect one give "not found".
   */
  private find(idx: number, ref: DebugRef, refN: number, exact: boolean): DebugEntry | undefined {
    let ret: DebugEntry | undefined;
    let matches = 0;
    let lastLvl = -1;
    // The device's part of the bucket: match() requires ref.dev.
    for (let entry = this.byDev[ref.dev.index]?.[idx] ?? null; entry !== null; entry = entry.dNext) {
      if (!(exact ? exact_match(ref, refN, entry) : containing_match(ref, refN, entry))) continue;
      matches++;
      let lvl = 0;
      if (entry.size === ref.size) lvl++;
      if (entry.type === ref.type) lvl++;
      if (entry.direction === ref.direction) lvl++;
      if (entry.sgCallEnts === ref.sgCallEnts) lvl++;
      if (lvl === 4) return entry;
      if (lvl > lastLvl) {
        lastLvl = lvl;
        ret = entry;
      }
    }
    return matches === 1 ? ret : undefined;
  }

  /** bucket_find_exact: same device and dev_addr (unmap, free, the sg mapped-count lookup). */
  bucket_find_exact(ref: DebugRef): DebugEntry | undefined {
    return this.find(hash_fn(ref.devAddr), ref, exactRange(ref.devAddr, ref.size), true);
  }

  /**
   * bucket_find_contain (since "dma-debug: Improve search for partial syncs", 6.0): the start's
   * bucket, then one bucket lower at a time, for as many buckets as lie at or below the address
   * (at most all 16384). (§7.2 of the spec still describes the older max_seg_size bound.)
   */
  bucket_find_contain(ref: DebugRef): DebugEntry | undefined {
    const start = u64(ref.devAddr);
    const below = (start >> HASH_FN_SHIFT) + 1n;
    const limit = below < BigInt(HASH_SIZE) ? Number(below) : HASH_SIZE;
    let index = start;
    const refN = exactRange(ref.devAddr, ref.size);
    for (let i = 0; i < limit; i++) {
      const entry = this.find(hash_fn(index), ref, refN, false);
      if (entry) return entry;
      index -= BUCKET_SPAN;
    }
    return undefined;
  }

  /** Every live entry, walking buckets 0..16383 and each list in order (dump_show's walk). */
  *walk(): Generator<{ idx: number; entry: DebugEntry }> {
    for (let idx = 0; idx < HASH_SIZE; idx++) {
      for (let entry: DebugEntry | null = this.head[idx]!; entry !== null; entry = entry.bNext) yield { idx, entry };
    }
  }
}

/** The radix tree's ACTIVE_CACHELINE_MAX_OVERLAP: the overlap count lives in 3 tag bits. */
export const ACTIVE_CACHELINE_MAX_OVERLAP = 7;

/**
 * dma_active_cacheline: first cacheline number → overlap count (0 = one mapping). A count that
 * would pass 7 is not stored (the tags saturate), so later removes can delete the node early, as
 * in the kernel.
 */
export class ActiveCachelines {
  /**
   * Keyed by the cacheline number as a number when exact (cheaper to hash), else as the bigint; an
   * ExactKeyMap, which does not copy its table under churn (util/num-map.ts).
   */
  private readonly tree = new ExactKeyMap<number>(1024);

  /**
   * radix_tree_insert + active_cacheline_inc_overlap of the line holding `paddr`: 'eexist' when the
   * line is already there. (Keyed by clnKey: no bigint steps when paddr is exact.)
   */
  insertAt(paddr: bigint): { rc: 0 | 'eexist'; overflow: boolean } {
    const key = clnKey(paddr);
    const cur = this.tree.get(key);
    if (cur === undefined) {
      this.tree.set(key, 0);
      return INSERTED;
    }
    const overlap = cur + 1;
    if (overlap > ACTIVE_CACHELINE_MAX_OVERLAP) return OVERFLOW;
    this.tree.set(key, overlap);
    return EEXIST;
  }

  /** active_cacheline_remove of the line holding `paddr`: a missing node reads as overlap 0 and is "deleted" again. */
  removeAt(paddr: bigint): void {
    const key = clnKey(paddr);
    const overlap = (this.tree.get(key) ?? 0) - 1;
    if (overlap < 0) this.tree.delete(key);
    else this.tree.set(key, overlap);
  }

  overlap(cln: bigint): number | undefined {
    return this.tree.get(exactKey(cln));
  }

  get size(): number {
    return this.tree.size;
  }

  hashInto(h: Hasher): void {
    h.u32(this.tree.size);
    // In line order. When every key is a number (every line below 2^53), sorted as numbers and
    // folded by num(), which gives big()'s words for them: no BigInt per line.
    if (this.tree.inexactKeys !== 0) {
      const lines: bigint[] = [];
      this.tree.forEach((_v, k) => lines.push(BigInt(k)));
      lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const cln of lines) h.big(cln).u32(this.tree.get(exactKey(cln))!);
      return;
    }
    for (const k of this.tree.sortedNumKeys()) h.num(k).u32(this.tree.get(k)!);
  }
}

/**
 * exactKey(paddr >> L1_CACHE_SHIFT) — the key of the cacheline holding paddr — computed on
 * numbers when paddr is exact (the same key: a line number below 2^47 is exact too).
 */
export function clnKey(paddr: bigint): number | bigint {
  const n = exactNum(paddr);
  return n >= 0 ? Math.floor(n / L1_CACHE_BYTES) : exactKey(paddr >> L1_CACHE_SHIFT);
}

const INSERTED = Object.freeze({ rc: 0 as const, overflow: false });
const EEXIST = Object.freeze({ rc: 'eexist' as const, overflow: false });
const OVERFLOW = Object.freeze({ rc: 'eexist' as const, overflow: true });

