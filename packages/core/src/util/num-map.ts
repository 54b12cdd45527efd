// A hash map from non-negative safe integers to values, for the model's maps that gain and lose an
// entry at every map and unmap (dma-debug's per-device bucket lists and active cachelines, the live
// mappings' granule lists and handles, each IOMMU domain's live mappings, the leaves of the IO
// page tables and IOTLBs).
//
// A JavaScript Map (V8's ordered hash table) leaves a hole at every delete and, once holes and
// entries fill its capacity, copies itself into a new table: a map of N entries under steady churn
// makes a new table of up to 2N slots every N or so inserts. Past a few thousand entries such a
// table is a large object, allocated old and freed only by a full GC; with 64 devices' mappings
// live these copies were a third of what a replay promoted (BENCHMARKS.md, twelfth round). This
// table probes linearly and deletes by moving later entries of the probe run back (no holes), so
// under churn it allocates nothing; it grows by doubling at half full and never shrinks.
// Iteration order is the table's, which means nothing: callers that hash or list entries sort.

import { sortNumbers } from './array.ts';

/** An empty slot's key. */
const EMPTY = -1;

export class NumMap<V> {
  private keys: Float64Array;
  private vals: (V | undefined)[];
  private mask: number;
  private count = 0;

  constructor(capacity = 64) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Float64Array(cap).fill(EMPTY);
    this.vals = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The home slot of key k: its low and high 32 bits mixed (murmur3's fmix32 of their combination). */
  private home(k: number): number {
    let h = (k | 0) ^ Math.imul((k / 4294967296) | 0, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.mask;
  }

  /** The slot holding key k, or -1. */
  private slot(k: number): number {
    if (!(k >= 0)) return -1; // never a key (and EMPTY would match an empty slot)
    const keys = this.keys;
    for (let i = this.home(k); ; i = (i + 1) & this.mask) {
      const x = keys[i]!;
      if (x === k) return i;
      if (x === EMPTY) return -1;
    }
  }

  get(k: number): V | undefined {
    const i = this.slot(k);
    return i < 0 ? undefined : this.vals[i];
  }

  has(k: number): boolean {
    return this.slot(k) >= 0;
  }

  /** Sets key k (a non-negative safe integer) to v. */
  set(k: number, v: V): this {
    if (!(k >= 0 && Number.isSafeInteger(k))) throw new RangeError(`NumMap: key ${k} is not a non-negative safe integer`);
    const keys = this.keys;
    let i = this.home(k);
    for (; ; i = (i + 1) & this.mask) {
      const x = keys[i]!;
      if (x === k) {
        this.vals[i] = v;
        return this;
      }
      if (x === EMPTY) break;
    }
    if ((this.count + 1) * 2 > keys.length) {
      this.grow();
      return this.set(k, v);
    }
    keys[i] = k;
    this.vals[i] = v;
    this.count++;
    return this;
  }

  /** Removes key k; false if it was not there. */
  delete(k: number): boolean {
    let i = this.slot(k);
    if (i < 0) return false;
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    // Backward shift: walk the rest of the probe run; an entry whose home slot does not lie
    // cyclically in (i, j] would no longer be found past the gap at i, so it moves into the gap.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const x = keys[j]!;
      if (x === EMPTY) break;
      const h = this.home(x);
      const stays = i <= j ? i < h && h <= j : i < h || h <= j;
      if (stays) continue;
      keys[i] = x;
      vals[i] = vals[j];
      i = j;
    }
    keys[i] = EMPTY;
    vals[i] = undefined;
    this.count--;
    return true;
  }

  /** Calls f for every entry, in no meaningful order. f must not change the map. */
  forEach(f: (v: V, k: number) => void): void {
    const keys = this.keys;
    const vals = this.vals;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) f(vals[i]!, keys[i]!);
  }

  /** Removes every entry (the table keeps its size). */
  clear(): void {
    if (this.count === 0) return;
    this.keys.fill(EMPTY);
    this.vals.fill(undefined);
    this.count = 0;
  }

  /** The keys in ascending order (a new array: for state marks and cold paths). */
  sortedKeys(): Float64Array {
    const out = new Float64Array(this.count);
    let n = 0;
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) out[n++] = keys[i]!;
    return sortNumbers(out);
  }

  /** The values, in forEach's order (a new array: for cold paths). */
  values(): V[] {
    const out: V[] = [];
    this.forEach((v) => out.push(v));
    return out;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const cap = oldKeys.length * 2;
    this.keys = new Float64Array(cap).fill(EMPTY);
    this.vals = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    this.count = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== EMPTY) this.set(oldKeys[i]!, oldVals[i]!);
  }
}

/**
 * A NumMap for keys as util/exact.ts's exactKey gives them: a number when exact (the NumMap), else
 * the bigint (a Map: addresses above 2^53 are rare).
 */
export class ExactKeyMap<V> {
  private readonly nums: NumMap<V>;
  private readonly bigs = new Map<bigint, V>();

  constructor(capacity = 64) {
    this.nums = new NumMap<V>(capacity);
  }

  get size(): number {
    return this.nums.size + this.bigs.size;
  }

  get(k: number | bigint): V | undefined {
    return typeof k === 'number' ? this.nums.get(k) : this.bigs.get(k);
  }

  set(k: number | bigint, v: V): this {
    if (typeof k === 'number') this.nums.set(k, v);
    else this.bigs.set(k, v);
    return this;
  }

  delete(k: number | bigint): boolean {
    return typeof k === 'number' ? this.nums.delete(k) : this.bigs.delete(k);
  }

  /** Calls f for every value, in no meaningful order. f must not change the map. */
  forEachValue(f: (v: V) => void): void {
    this.nums.forEach(f);
    for (const v of this.bigs.values()) f(v);
  }

  /** Calls f for every entry, the number keys first, in no meaningful order. f must not change the map. */
  forEach(f: (v: V, k: number | bigint) => void): void {
    this.nums.forEach(f);
    for (const [k, v] of this.bigs) f(v, k);
  }

  /** The number keys in ascending order (NumMap.sortedKeys; the bigint keys are left out). */
  sortedNumKeys(): Float64Array {
    return this.nums.sortedKeys();
  }

  /** How many keys are bigints (not exact as numbers). */
  get inexactKeys(): number {
    return this.bigs.size;
  }
}
