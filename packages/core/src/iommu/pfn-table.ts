// Per-page entries keyed by IOVA pfn — the IO page table's leaf entries and the IOTLB's cached
// translations — held as numbers in typed arrays rather than an object per page with a bigint
// field. Entries sit in leaf tables of 512 pfns (the fan-out of one page-table level at a 4 KiB
// granule); a leaf exists while it holds an entry. A model data structure: nothing here is a
// kernel choice, and every query answers as a Map<pfn, {phys, prot, owner}> would.

import type { Hasher } from '../util/hash.ts';
import { NumMap } from '../util/num-map.ts';

const LEAF_SHIFT = 9;
const LEAF = 1 << LEAF_SHIFT;
/** A phys slot's value for "no entry". */
const ABSENT = -1;
/** A phys slot's value for "the address is not exact as a number: see PfnTable.bigPhys". */
const INEXACT = -2;
/** Emptied leaves kept for reuse (a leaf that empties and refills does not cost 10 KiB of garbage). */
const SPARE_LEAVES = 16;

class Leaf {
  readonly phys = new Float64Array(LEAF).fill(ABSENT);
  readonly prot = new Int32Array(LEAF);
  readonly owner = new Float64Array(LEAF);
  used = 0;
}

export class PfnTable {
  /** Leaf index → leaf: a NumMap, which allocates nothing as leaves come and go (util/num-map.ts). */
  private readonly leaves = new NumMap<Leaf>(16);
  /** Physical addresses at or above 2^53, by pfn (their phys slot holds INEXACT). */
  private readonly bigPhys = new Map<number, bigint>();
  private readonly spare: Leaf[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  private leaf(pfn: number): Leaf | undefined {
    return this.leaves.get(Math.floor(pfn / LEAF));
  }

  has(pfn: number): boolean {
    const l = this.leaf(pfn);
    return l !== undefined && l.phys[pfn % LEAF] !== ABSENT;
  }

  /** The entry's physical address as a number: -1 when there is no entry, -2 when it is not exact (use phys()). */
  physN(pfn: number): number {
    const l = this.leaf(pfn);
    return l === undefined ? ABSENT : l.phys[pfn % LEAF]!;
  }

  /** The entry's physical address; undefined when there is no entry. */
  phys(pfn: number): bigint | undefined {
    const p = this.physN(pfn);
    if (p === ABSENT) return undefined;
    return p === INEXACT ? this.bigPhys.get(pfn)! : BigInt(p);
  }

  /** Do the entries at `pfn` of this table and of `other` (both present) hold the same address? */
  samePhys(pfn: number, other: PfnTable): boolean {
    const a = this.physN(pfn);
    const b = other.physN(pfn);
    if (a !== INEXACT && b !== INEXACT) return a === b;
    return this.phys(pfn) === other.phys(pfn);
  }

  /** Protection bits of the entry at `pfn` (0 when absent). */
  prot(pfn: number): number {
    const l = this.leaf(pfn);
    return l === undefined ? 0 : l.prot[pfn % LEAF]!;
  }

  /** The owner recorded with the entry at `pfn` (-1 when absent). */
  owner(pfn: number): number {
    const l = this.leaf(pfn);
    return l === undefined || l.phys[pfn % LEAF] === ABSENT ? -1 : l.owner[pfn % LEAF]!;
  }

  /** Sets (or replaces) the entry at `pfn`. `physN` is exactNum(phys) (-1 when not exact). */
  set(pfn: number, phys: bigint, physN: number, prot: number, owner: number): void {
    const li = Math.floor(pfn / LEAF);
    let l = this.leaves.get(li);
    if (l === undefined) {
      l = this.spare.pop() ?? new Leaf();
      this.leaves.set(li, l);
    }
    const i = pfn - li * LEAF;
    const was = l.phys[i]!;
    if (was === ABSENT) {
      l.used++;
      this.count++;
    } else if (was === INEXACT) this.bigPhys.delete(pfn);
    if (physN >= 0) l.phys[i] = physN;
    else {
      l.phys[i] = INEXACT;
      this.bigPhys.set(pfn, phys);
    }
    l.prot[i] = prot;
    l.owner[i] = owner;
  }

  /** set() of a copy of `from`'s entry at `pfn` (present). */
  copyFrom(pfn: number, from: PfnTable): void {
    const p = from.physN(pfn);
    this.set(pfn, p === INEXACT ? from.bigPhys.get(pfn)! : 0n, p === INEXACT ? -1 : p, from.prot(pfn), from.owner(pfn));
  }

  /** Removes the entry at `pfn`; false when there was none. */
  delete(pfn: number): boolean {
    const li = Math.floor(pfn / LEAF);
    const l = this.leaves.get(li);
    const i = pfn - li * LEAF;
    if (l === undefined || l.phys[i] === ABSENT) return false;
    this.clearSlot(l, li * LEAF, i);
    if (l.used === 0) this.retire(li, l);
    return true;
  }

  /** Removes every entry in [pfn, pfn + pages). */
  deleteRange(pfn: number, pages: number): void {
    if (pages <= 0 || this.count === 0) return;
    const end = pfn + pages;
    const first = Math.floor(pfn / LEAF);
    const last = Math.floor((end - 1) / LEAF);
    if (last - first + 1 > this.leaves.size) {
      for (const li of this.leaves.sortedKeys()) if (li >= first && li <= last) this.clearLeafRange(li, pfn, end);
    } else {
      for (let li = first; li <= last; li++) this.clearLeafRange(li, pfn, end);
    }
  }

  /** delete() of every pfn of leaf `li` within [pfn, end). */
  private clearLeafRange(li: number, pfn: number, end: number): void {
    const l = this.leaves.get(li);
    if (l === undefined) return;
    const base = li * LEAF;
    const to = Math.min(end, base + LEAF) - base;
    for (let i = Math.max(pfn, base) - base; i < to; i++) if (l.phys[i] !== ABSENT) this.clearSlot(l, base, i);
    if (l.used === 0) this.retire(li, l);
  }

  /** Empties slot i (present) of the leaf whose first pfn is `base`. */
  private clearSlot(l: Leaf, base: number, i: number): void {
    if (l.phys[i] === INEXACT) this.bigPhys.delete(base + i);
    l.phys[i] = ABSENT;
    l.prot[i] = 0;
    l.owner[i] = 0;
    l.used--;
    this.count--;
  }

  /** Drops an emptied leaf from the table, keeping it for reuse while there are few spares. */
  private retire(li: number, l: Leaf): void {
    this.leaves.delete(li);
    if (this.spare.length < SPARE_LEAVES) this.spare.push(l);
  }

  clear(): void {
    for (const l of this.leaves.values()) {
      l.phys.fill(ABSENT);
      l.prot.fill(0);
      l.owner.fill(0);
      l.used = 0;
      if (this.spare.length < SPARE_LEAVES) this.spare.push(l);
    }
    this.leaves.clear();
    this.bigPhys.clear();
    this.count = 0;
  }

  /** Every pfn with an entry, ascending. */
  keys(): number[] {
    const out: number[] = [];
    for (const li of this.leaves.sortedKeys()) {
      const l = this.leaves.get(li)!;
      for (let i = 0; i < LEAF; i++) if (l.phys[i] !== ABSENT) out.push(li * LEAF + i);
    }
    return out;
  }

  /**
   * Folds every entry by pfn, ascending: the pfn (num), the physical address (Hasher.big; num()
   * gives the same words for an exact one), the protection bits (u32), then, with `owners`, the
   * owner (num). The state hash's walk of the IO page table and the IOTLB, without an array of
   * pfns and three lookups of each entry.
   */
  hashEntries(h: Hasher, owners: boolean): void {
    const order = this.leaves.sortedKeys();
    for (const li of order) {
      const l = this.leaves.get(li)!;
      const base = li * LEAF;
      const phys = l.phys;
      for (let i = 0; i < LEAF; i++) {
        const p = phys[i]!;
        if (p === ABSENT) continue;
        h.num(base + i);
        if (p === INEXACT) h.big(this.bigPhys.get(base + i)!);
        else h.num(p);
        h.u32(l.prot[i]!);
        if (owners) h.num(l.owner[i]!);
      }
    }
  }
}
