// The IOVA allocator of drivers/iommu/iova.c: a top-down range allocator over page-frame numbers
// with cached search positions, plus the per-CPU range caches (magazines and depot). Pure: it knows
// nothing of devices or the DMA API; the only outside service it uses is delayed work (the depot).

import type { Hasher } from '../util/hash.ts';
import { doubled } from '../util/array.ts';

/** One allocated range [pfn_lo, pfn_hi] (struct iova). */
export interface Iova {
  pfn_lo: number;
  pfn_hi: number;
}

/** The anchor's pfn. The kernel uses ~0UL; any value above every real pfn (≤ 2^52) places the same. */
export const IOVA_ANCHOR = Number.MAX_SAFE_INTEGER;
/** Sizes 1..32 pfns (orders 0–5) are cached per CPU. */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
export const IOVA_MAG_SIZE = 127;
/** IOVA_DEPOT_DELAY = msecs_to_jiffies(100). */
export const IOVA_DEPOT_DELAY_NS = 100_000_000;

/** schedule_delayed_work(): does nothing when the work named `key` is already pending. */
export interface DelayedWorkHost {
  schedule_delayed_work(key: string, delayNs: number, fn: () => void): void;
}

/** fls_long: index of the highest set bit, 1-based (0 for 0). Exact for integers up to 2^53. */
export function fls_long(x: number): number {
  if (x <= 0) return 0;
  if (x < 2 ** 32) return 32 - Math.clz32(x);
  return 32 + fls_long(Math.floor(x / 2 ** 32));
}

/** order_base_2(n): ceil(log2(n)), 0 for n ≤ 1. */
export function order_base_2(n: number): number {
  return n > 1 ? fls_long(n - 1) : 0;
}

/** roundup_pow_of_two(n). n = 0 gives 1, as the x86 shift by 64 does in the kernel's macro. */
export function roundup_pow_of_two(n: number): number {
  return n <= 1 ? 1 : 2 ** fls_long(n - 1);
}

function alignDown(x: number, shift: number): number {
  return shift === 0 ? x : Math.floor(x / 2 ** shift) * 2 ** shift;
}

class IovaMagazine {
  pfns: number[] = [];
  get size(): number {
    return this.pfns.length;
  }
  full(): boolean {
    return this.pfns.length === IOVA_MAG_SIZE;
  }
  empty(): boolean {
    return this.pfns.length === 0;
  }
  /** iova_magazine_pop: the topmost pfn ≤ limit_pfn, swap-removed with the top; 0 if none. */
  pop(limit_pfn: number): number {
    let i = this.pfns.length - 1;
    while (this.pfns[i]! > limit_pfn) {
      if (i === 0) return 0;
      i--;
    }
    const pfn = this.pfns[i]!;
    const top = this.pfns.pop()!;
    if (i < this.pfns.length) this.pfns[i] = top;
    return pfn;
  }
  push(pfn: number): void {
    this.pfns.push(pfn);
  }
}

interface IovaCpuRcache {
  loaded: IovaMagazine;
  prev: IovaMagazine;
}

interface IovaRcache {
  /** Full magazines; the last element is the list head (pushed last, popped first). */
  depot: IovaMagazine[];
  cpu_rcaches: IovaCpuRcache[];
}

export interface IovaDomainOptions {
  /** Online (= possible) CPUs: one loaded/prev magazine pair per CPU and order. */
  cpus: number;
  /** Names the depot work items (e.g. the IOMMU domain name). */
  name?: string;
  /** Runs the depot trimming work; without it the depot is never trimmed in the background. */
  work?: DelayedWorkHost;
}

/** struct iova_domain (init_iova_domain + iova_domain_init_rcaches). */
export class IovaDomain {
  readonly granule: number;
  readonly shift: number;
  readonly start_pfn: number;
  readonly dma_32bit_pfn: number;
  max32_alloc_size: number;
  /**
   * The rbtree as two arrays sorted by pfn_lo, pfn_lo and pfn_hi of node i at [i], `count` nodes;
   * the anchor is always last. Same order, same walk. A node is named by its pfn_lo (ranges do not
   * overlap, so pfn_lo is unique). In typed arrays, not an object per node: at 64 IOMMU domains
   * the nodes were the largest set of objects alive in a replay (~30 k), every binary-search probe
   * read one, and the invariant check and the state mark walked them all (BENCHMARKS.md,
   * fifteenth round).
   */
  private lo = new Float64Array(64);
  private hi = new Float64Array(64);
  private count = 0;
  /** pfn_lo of cached_node / cached32_node: always a node in the tree. */
  private cachedLo = IOVA_ANCHOR;
  private cached32Lo = IOVA_ANCHOR;
  private readonly rcaches: IovaRcache[] = [];
  private readonly cpus: number;
  private readonly name: string;
  private readonly work: DelayedWorkHost | undefined;

  constructor(granule: number, start_pfn: number, opts: IovaDomainOptions) {
    if (granule <= 0 || (granule & (granule - 1)) !== 0) throw new Error(`iova: granule ${granule} is not a power of two`);
    this.granule = granule;
    this.shift = fls_long(granule) - 1;
    this.start_pfn = start_pfn;
    this.dma_32bit_pfn = 2 ** (32 - this.shift);
    this.max32_alloc_size = this.dma_32bit_pfn;
    this.lo[0] = IOVA_ANCHOR;
    this.hi[0] = IOVA_ANCHOR;
    this.count = 1;
    this.cpus = opts.cpus;
    this.name = opts.name ?? 'iova';
    this.work = opts.work;
    for (let i = 0; i < IOVA_RANGE_CACHE_MAX_SIZE; i++) {
      const cpu_rcaches: IovaCpuRcache[] = [];
      for (let c = 0; c < opts.cpus; c++) cpu_rcaches.push({ loaded: new IovaMagazine(), prev: new IovaMagazine() });
      this.rcaches.push({ depot: [], cpu_rcaches });
    }
  }

  /** The anchor node (pfn_lo = pfn_hi = IOVA_ANCHOR), as a new object. */
  get anchor(): Iova {
    return { pfn_lo: IOVA_ANCHOR, pfn_hi: IOVA_ANCHOR };
  }

  /** cached_node (for 64-bit limits), as a new object. */
  get cached_node(): Iova {
    return this.node(this.indexOf(this.cachedLo));
  }

  /** cached32_node (for limits at or below 32 bits), as a new object. */
  get cached32_node(): Iova {
    return this.node(this.indexOf(this.cached32Lo));
  }

  // ---- the tree -------------------------------------------------------------------------------

  private node(i: number): Iova {
    return { pfn_lo: this.lo[i]!, pfn_hi: this.hi[i]! };
  }

  /** Index of the last node with pfn_lo ≤ pfn, or -1. */
  private floorIndex(pfn: number): number {
    const lo = this.lo;
    let a = 0;
    let b = this.count - 1;
    let ans = -1;
    while (a <= b) {
      const mid = (a + b) >> 1;
      if (lo[mid]! <= pfn) {
        ans = mid;
        a = mid + 1;
      } else {
        b = mid - 1;
      }
    }
    return ans;
  }

  /** Index of the node whose pfn_lo is `pfnLo`. */
  private indexOf(pfnLo: number): number {
    const i = this.floorIndex(pfnLo);
    if (i < 0 || this.lo[i] !== pfnLo) throw new Error(`iova: no node at pfn_lo ${pfnLo} in the tree`);
    return i;
  }

  private __get_cached_rbnode(limit_pfn: number): number {
    return limit_pfn <= this.dma_32bit_pfn ? this.cached32Lo : this.cachedLo;
  }

  private __cached_rbnode_insert_update(pfn_lo: number, pfn_hi: number): void {
    if (pfn_hi < this.dma_32bit_pfn) this.cached32Lo = pfn_lo;
    else this.cachedLo = pfn_lo;
  }

  /** For the node at index i, before it leaves the tree: rb_next(free) is the node at i + 1. */
  private __cached_rbnode_delete_update(i: number): void {
    const freeLo = this.lo[i]!;
    const freeHi = this.hi[i]!;
    // free == cached is freeLo == cachedLo: a node is named by its pfn_lo.
    if (freeLo === this.cached32Lo || (freeHi < this.dma_32bit_pfn && freeLo >= this.cached32Lo)) {
      this.cached32Lo = this.lo[i + 1]!;
    }
    if (freeLo < this.dma_32bit_pfn) this.max32_alloc_size = this.dma_32bit_pfn;
    if (freeLo >= this.cachedLo) this.cachedLo = this.lo[i + 1]!;
  }

  /**
   * iova_find_limit: where the retry pass starts. The kernel's rbtree descent returns the first node
   * at or above limit_pfn (or the anchor for limits above 32 bits); starting the downward walk at any
   * node above the limit places identically, so the first node with pfn_hi ≥ limit_pfn is used.
   */
  private iova_find_limit(limit_pfn: number): number {
    const hi = this.hi;
    let a = 0;
    let b = this.count - 1;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (hi[mid]! >= limit_pfn) b = mid;
      else a = mid + 1;
    }
    return a;
  }

  private insert(pfn_lo: number, pfn_hi: number): void {
    const i = this.floorIndex(pfn_lo);
    const n = this.count;
    if ((i >= 0 && this.hi[i]! >= pfn_lo) || (i + 1 < n && this.lo[i + 1]! <= pfn_hi)) {
      throw new Error(`iova: [${pfn_lo}, ${pfn_hi}] overlaps an allocated range`);
    }
    if (n === this.lo.length) {
      this.lo = doubled(this.lo);
      this.hi = doubled(this.hi);
    }
    this.lo.copyWithin(i + 2, i + 1, n);
    this.hi.copyWithin(i + 2, i + 1, n);
    this.lo[i + 1] = pfn_lo;
    this.hi[i + 1] = pfn_hi;
    this.count = n + 1;
  }

  /** limit_pfn is exclusive here (alloc_iova passes its inclusive limit + 1). Returns the new node's pfn_lo, or -1. */
  private __alloc_and_insert_iova_range(size: number, limit_pfn: number, size_aligned: boolean): number {
    const alignShift = size_aligned ? fls_long(size - 1) : 0;
    let high_pfn = limit_pfn;
    let low_pfn = this.start_pfn;
    if (limit_pfn <= this.dma_32bit_pfn && size >= this.max32_alloc_size) return -1;

    const lo = this.lo;
    const hi = this.hi;
    let curr = this.indexOf(this.__get_cached_rbnode(limit_pfn));
    const retry_pfn = hi[curr]!;
    let new_pfn = 0;
    for (;;) {
      // Walk down from `curr`, placing the block just below each node until it fits in a gap.
      // high_pfn < size is the kernel's unsigned wrap: new_pfn would be huge and end the walk.
      let wrapped = false;
      do {
        high_pfn = Math.min(high_pfn, lo[curr]!);
        wrapped = high_pfn < size;
        if (!wrapped) new_pfn = alignDown(high_pfn - size, alignShift);
        curr--;
      } while (!wrapped && curr >= 0 && new_pfn <= hi[curr]! && new_pfn >= low_pfn);

      if (wrapped || new_pfn < low_pfn) {
        if (low_pfn === this.start_pfn && retry_pfn < limit_pfn) {
          // Second pass: the holes between the cached node and the limit.
          high_pfn = limit_pfn;
          low_pfn = retry_pfn + 1;
          curr = this.iova_find_limit(limit_pfn);
          continue;
        }
        this.max32_alloc_size = size;
        return -1;
      }
      break;
    }
    this.insert(new_pfn, new_pfn + size - 1);
    this.__cached_rbnode_insert_update(new_pfn, new_pfn + size - 1);
    return new_pfn;
  }

  /** alloc_iova: `size` pfns at or below limit_pfn (inclusive), top-down; null when full. */
  alloc_iova(size: number, limit_pfn: number, size_aligned: boolean): Iova | null {
    const pfn = this.__alloc_and_insert_iova_range(size, limit_pfn + 1, size_aligned);
    return pfn < 0 ? null : { pfn_lo: pfn, pfn_hi: pfn + size - 1 };
  }

  /** private_find_iova: the index of the allocated range containing pfn, or -1. */
  private findIndex(pfn: number): number {
    const i = this.floorIndex(pfn);
    if (i < 0 || i === this.count - 1 || pfn > this.hi[i]!) return -1; // none, or the anchor
    return i;
  }

  /** find_iova: the allocated range containing pfn (a new object), or null. */
  find_iova(pfn: number): Iova | null {
    const i = this.findIndex(pfn);
    return i < 0 ? null : this.node(i);
  }

  /** remove_iova (+ free_iova_mem) of the node at index i. */
  private freeAt(i: number): void {
    this.__cached_rbnode_delete_update(i);
    const n = this.count;
    this.lo.copyWithin(i, i + 1, n);
    this.hi.copyWithin(i, i + 1, n);
    this.count = n - 1;
  }

  /** free_iova: releases the range containing pfn; nothing if there is none. */
  free_iova(pfn: number): void {
    const i = this.findIndex(pfn);
    if (i >= 0) this.freeAt(i);
  }

  // ---- range caches ---------------------------------------------------------------------------

  private cpuRcache(order: number, cpu: number): IovaCpuRcache {
    const c = this.rcaches[order]!.cpu_rcaches[cpu];
    if (!c) throw new Error(`iova: cpu ${cpu} out of range (${this.cpus} cpus)`);
    return c;
  }

  /** iova_magazine_free_pfns: each cached pfn goes back to the tree, in magazine order. */
  private iova_magazine_free_pfns(mag: IovaMagazine): void {
    for (const pfn of mag.pfns) {
      const i = this.findIndex(pfn);
      if (i < 0) continue; // the kernel WARNs: only a double free puts an unallocated pfn here
      this.freeAt(i);
    }
    mag.pfns = [];
  }

  private __iova_rcache_insert(order: number, pfn: number, cpu: number): boolean {
    const rcache = this.rcaches[order]!;
    const c = this.cpuRcache(order, cpu);
    if (c.loaded.full()) {
      if (!c.prev.full()) {
        [c.loaded, c.prev] = [c.prev, c.loaded];
      } else {
        // A new magazine (GFP_ATOMIC; the model's allocation never fails); the full one goes to the depot.
        rcache.depot.push(c.loaded);
        this.work?.schedule_delayed_work(`iova-depot:${this.name}:${order}`, IOVA_DEPOT_DELAY_NS, () => this.iova_depot_work_func(order));
        c.loaded = new IovaMagazine();
      }
    }
    c.loaded.push(pfn);
    return true;
  }

  private iova_rcache_insert(pfn: number, size: number, cpu: number): boolean {
    const order = order_base_2(size);
    if (order >= IOVA_RANGE_CACHE_MAX_SIZE) return false;
    return this.__iova_rcache_insert(order, pfn, cpu);
  }

  private __iova_rcache_get(order: number, limit_pfn: number, cpu: number): number {
    const rcache = this.rcaches[order]!;
    const c = this.cpuRcache(order, cpu);
    let has_pfn = false;
    if (!c.loaded.empty()) {
      has_pfn = true;
    } else if (!c.prev.empty()) {
      [c.loaded, c.prev] = [c.prev, c.loaded];
      has_pfn = true;
    } else if (rcache.depot.length > 0) {
      c.loaded = rcache.depot.pop()!;
      has_pfn = true;
    }
    return has_pfn ? c.loaded.pop(limit_pfn) : 0;
  }

  private iova_rcache_get(size: number, limit_pfn: number, cpu: number): number {
    const order = order_base_2(size);
    if (order >= IOVA_RANGE_CACHE_MAX_SIZE) return 0;
    return this.__iova_rcache_get(order, limit_pfn - size, cpu);
  }

  /** iova_depot_work_func: trims one magazine while the depot holds more than one per CPU. */
  private iova_depot_work_func(order: number): void {
    const rcache = this.rcaches[order]!;
    if (rcache.depot.length <= this.cpus) return;
    const mag = rcache.depot.pop()!;
    this.iova_magazine_free_pfns(mag);
    this.work?.schedule_delayed_work(`iova-depot:${this.name}:${order}`, IOVA_DEPOT_DELAY_NS, () => this.iova_depot_work_func(order));
  }

  /** free_cpu_cached_iovas: both magazines of every order of one CPU back to the tree. */
  free_cpu_cached_iovas(cpu: number): void {
    for (let i = 0; i < IOVA_RANGE_CACHE_MAX_SIZE; i++) {
      const c = this.cpuRcache(i, cpu);
      this.iova_magazine_free_pfns(c.loaded);
      this.iova_magazine_free_pfns(c.prev);
    }
  }

  /** free_global_cached_iovas: every depot magazine back to the tree. */
  free_global_cached_iovas(): void {
    for (const rcache of this.rcaches) {
      while (rcache.depot.length > 0) this.iova_magazine_free_pfns(rcache.depot.pop()!);
    }
  }

  /**
   * alloc_iova_fast: `size` pfns at or below limit_pfn, from the CPU's range cache if it has a fit,
   * else from the tree; on failure optionally flush every cache and retry once. Returns pfn or 0.
   */
  alloc_iova_fast(size: number, limit_pfn: number, flush_rcache: boolean, cpu: number): number {
    // Cacheable sizes are rounded up so that a freed range fits its cache bucket again.
    if (size < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1)) size = roundup_pow_of_two(size);
    const pfn = this.iova_rcache_get(size, limit_pfn + 1, cpu);
    if (pfn) return pfn;
    for (;;) {
      const pfn = this.__alloc_and_insert_iova_range(size, limit_pfn + 1, true);
      if (pfn >= 0) return pfn;
      if (!flush_rcache) return 0;
      flush_rcache = false;
      for (let c = 0; c < this.cpus; c++) this.free_cpu_cached_iovas(c);
      this.free_global_cached_iovas();
    }
  }

  /** free_iova_fast: into the CPU's range cache when the size is cacheable, else back to the tree. */
  free_iova_fast(pfn: number, size: number, cpu: number): void {
    if (this.iova_rcache_insert(pfn, size, cpu)) return;
    this.free_iova(pfn);
  }

  // ---- model views ----------------------------------------------------------------------------

  /** Allocated ranges in address order (without the anchor); cached pfns stay allocated. */
  ranges(): readonly Iova[] {
    const out: Iova[] = [];
    for (let i = 0; i < this.count - 1; i++) out.push(this.node(i));
    return out;
  }

  allocatedPfns(): number {
    let n = 0;
    for (let i = 0; i < this.count - 1; i++) n += this.hi[i]! - this.lo[i]! + 1;
    return n;
  }

  /** Cached pfns of one order: per CPU [loaded, prev], and the depot (head last). */
  rcacheView(order: number): { cpus: { loaded: number[]; prev: number[] }[]; depot: number[][] } {
    const r = this.rcaches[order]!;
    return {
      cpus: r.cpu_rcaches.map((c) => ({ loaded: [...c.loaded.pfns], prev: [...c.prev.pfns] })),
      depot: r.depot.map((m) => [...m.pfns]),
    };
  }

  /** Structural invariants; returns a description of the first violation or null. */
  checkInvariants(): string | null {
    const { lo, hi, count } = this;
    const last = count - 1;
    for (let i = 0; i < count; i++) {
      const pfnLo = lo[i]!;
      const pfnHi = hi[i]!;
      if (pfnLo > pfnHi) return `iova: inverted range [pfn_lo=0x${pfnLo.toString(16)}] [pfn_hi=0x${pfnHi.toString(16)}]`;
      if (i !== last && pfnLo < this.start_pfn) return `iova: range below start_pfn [pfn_lo=0x${pfnLo.toString(16)}]`;
      if (i !== last && lo[i + 1]! <= pfnHi) return `iova: overlapping ranges [pfn=0x${pfnLo.toString(16)}] [pfn=0x${lo[i + 1]!.toString(16)}]`;
    }
    if (count === 0 || lo[last] !== IOVA_ANCHOR || hi[last] !== IOVA_ANCHOR) return 'iova: anchor is not the last node';
    for (const c of [this.cachedLo, this.cached32Lo]) {
      if (lo[this.floorIndex(c)] !== c) return `iova: cached node [pfn_lo=0x${c.toString(16)}] is not in the tree`;
    }
    return null;
  }

  hashInto(h: Hasher): void {
    const { lo, hi, count } = this;
    h.num(this.max32_alloc_size).u32(count);
    for (let i = 0; i < count; i++) h.num(lo[i]!).num(hi[i]!);
    h.num(this.cachedLo).num(this.cached32Lo);
    for (const r of this.rcaches) {
      h.u32(r.depot.length);
      for (const m of r.depot) {
        h.u32(m.size);
        for (const p of m.pfns) h.num(p);
      }
      for (const c of r.cpu_rcaches) {
        h.u32(c.loaded.size);
        for (const p of c.loaded.pfns) h.num(p);
        h.u32(c.prev.size);
        for (const p of c.prev.pfns) h.num(p);
      }
    }
  }
}
