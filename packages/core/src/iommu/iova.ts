// The IOVA allocator of drivers/iommu/iova.c: a top-down range allocator over page-frame numbers
// with cached search positions, plus the per-CPU range caches (magazines and depot). Pure: it knows
// nothing of devices or the DMA API; the only outside service it uses is delayed work (the depot).

import type { Hasher } from '../util/hash.ts';

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
  readonly anchor: Iova = { pfn_lo: IOVA_ANCHOR, pfn_hi: IOVA_ANCHOR };
  cached_node: Iova;
  cached32_node: Iova;
  /** The rbtree as an array sorted by pfn_lo; the anchor is always last. Same order, same walk. */
  private readonly nodes: Iova[];
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
    this.nodes = [this.anchor];
    this.cached_node = this.anchor;
    this.cached32_node = this.anchor;
    this.cpus = opts.cpus;
    this.name = opts.name ?? 'iova';
    this.work = opts.work;
    for (let i = 0; i < IOVA_RANGE_CACHE_MAX_SIZE; i++) {
      const cpu_rcaches: IovaCpuRcache[] = [];
      for (let c = 0; c < opts.cpus; c++) cpu_rcaches.push({ loaded: new IovaMagazine(), prev: new IovaMagazine() });
      this.rcaches.push({ depot: [], cpu_rcaches });
    }
  }

  // ---- the tree -------------------------------------------------------------------------------

  /** Index of the last node with pfn_lo ≤ pfn, or -1. */
  private floorIndex(pfn: number): number {
    let lo = 0;
    let hi = this.nodes.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.nodes[mid]!.pfn_lo <= pfn) {
        ans = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return ans;
  }

  private indexOf(node: Iova): number {
    const i = this.floorIndex(node.pfn_lo);
    if (i < 0 || this.nodes[i] !== node) throw new Error(`iova: node [${node.pfn_lo}, ${node.pfn_hi}] is not in the tree`);
    return i;
  }

  private rb_next(node: Iova): Iova | null {
    return this.nodes[this.indexOf(node) + 1] ?? null;
  }

  private __get_cached_rbnode(limit_pfn: number): Iova {
    return limit_pfn <= this.dma_32bit_pfn ? this.cached32_node : this.cached_node;
  }

  private __cached_rbnode_insert_update(iova: Iova): void {
    if (iova.pfn_hi < this.dma_32bit_pfn) this.cached32_node = iova;
    else this.cached_node = iova;
  }

  private __cached_rbnode_delete_update(free: Iova): void {
    let cached = this.cached32_node;
    if (free === cached || (free.pfn_hi < this.dma_32bit_pfn && free.pfn_lo >= cached.pfn_lo)) {
      this.cached32_node = this.rb_next(free)!;
    }
    if (free.pfn_lo < this.dma_32bit_pfn) this.max32_alloc_size = this.dma_32bit_pfn;
    cached = this.cached_node;
    if (free.pfn_lo >= cached.pfn_lo) this.cached_node = this.rb_next(free)!;
  }

  /**
   * iova_find_limit: where the retry pass starts. The kernel's rbtree descent returns the first node
   * at or above limit_pfn (or the anchor for limits above 32 bits); starting the downward walk at any
   * node above the limit places identically, so the first node with pfn_hi ≥ limit_pfn is used.
   */
  private iova_find_limit(limit_pfn: number): number {
    let lo = 0;
    let hi = this.nodes.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.nodes[mid]!.pfn_hi >= limit_pfn) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private insert(iova: Iova): void {
    const i = this.floorIndex(iova.pfn_lo);
    const below = this.nodes[i];
    const above = this.nodes[i + 1];
    if ((below && below.pfn_hi >= iova.pfn_lo) || (above && above.pfn_lo <= iova.pfn_hi)) {
      throw new Error(`iova: [${iova.pfn_lo}, ${iova.pfn_hi}] overlaps an allocated range`);
    }
    this.nodes.splice(i + 1, 0, iova);
  }

  /** limit_pfn is exclusive here (alloc_iova passes its inclusive limit + 1). */
  private __alloc_and_insert_iova_range(size: number, limit_pfn: number, size_aligned: boolean): Iova | null {
    const alignShift = size_aligned ? fls_long(size - 1) : 0;
    let high_pfn = limit_pfn;
    let low_pfn = this.start_pfn;
    if (limit_pfn <= this.dma_32bit_pfn && size >= this.max32_alloc_size) return null;

    let curr = this.indexOf(this.__get_cached_rbnode(limit_pfn));
    const retry_pfn = this.nodes[curr]!.pfn_hi;
    let new_pfn = 0;
    for (;;) {
      // Walk down from `curr`, placing the block just below each node until it fits in a gap.
      // high_pfn < size is the kernel's unsigned wrap: new_pfn would be huge and end the walk.
      let wrapped = false;
      do {
        high_pfn = Math.min(high_pfn, this.nodes[curr]!.pfn_lo);
        wrapped = high_pfn < size;
        if (!wrapped) new_pfn = alignDown(high_pfn - size, alignShift);
        curr--;
      } while (!wrapped && curr >= 0 && new_pfn <= this.nodes[curr]!.pfn_hi && new_pfn >= low_pfn);

      if (wrapped || new_pfn < low_pfn) {
        if (low_pfn === this.start_pfn && retry_pfn < limit_pfn) {
          // Second pass: the holes between the cached node and the limit.
          high_pfn = limit_pfn;
          low_pfn = retry_pfn + 1;
          curr = this.iova_find_limit(limit_pfn);
          continue;
        }
        this.max32_alloc_size = size;
        return null;
      }
      break;
    }
    const iova: Iova = { pfn_lo: new_pfn, pfn_hi: new_pfn + size - 1 };
    this.insert(iova);
    this.__cached_rbnode_insert_update(iova);
    return iova;
  }

  /** alloc_iova: `size` pfns at or below limit_pfn (inclusive), top-down; null when full. */
  alloc_iova(size: number, limit_pfn: number, size_aligned: boolean): Iova | null {
    return this.__alloc_and_insert_iova_range(size, limit_pfn + 1, size_aligned);
  }

  /** private_find_iova / find_iova: the allocated range containing pfn. */
  find_iova(pfn: number): Iova | null {
    const i = this.floorIndex(pfn);
    const n = this.nodes[i];
    if (!n || n === this.anchor || pfn > n.pfn_hi) return null;
    return n;
  }

  /** remove_iova (+ free_iova_mem). */
  __free_iova(iova: Iova): void {
    this.__cached_rbnode_delete_update(iova);
    this.nodes.splice(this.indexOf(iova), 1);
  }

  /** free_iova: releases the range containing pfn; nothing if there is none. */
  free_iova(pfn: number): void {
    const iova = this.find_iova(pfn);
    if (iova) this.__free_iova(iova);
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
      const iova = this.find_iova(pfn);
      if (!iova) continue; // the kernel WARNs: only a double free puts an unallocated pfn here
      this.__free_iova(iova);
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
      const iova = this.alloc_iova(size, limit_pfn, true);
      if (iova) return iova.pfn_lo;
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
    return this.nodes.slice(0, -1);
  }

  allocatedPfns(): number {
    let n = 0;
    for (let i = 0; i < this.nodes.length - 1; i++) n += this.nodes[i]!.pfn_hi - this.nodes[i]!.pfn_lo + 1;
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
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i]!;
      if (n.pfn_lo > n.pfn_hi) return `iova: inverted range [pfn_lo=0x${n.pfn_lo.toString(16)}] [pfn_hi=0x${n.pfn_hi.toString(16)}]`;
      if (n !== this.anchor && n.pfn_lo < this.start_pfn) return `iova: range below start_pfn [pfn_lo=0x${n.pfn_lo.toString(16)}]`;
      const next = this.nodes[i + 1];
      if (next && next.pfn_lo <= n.pfn_hi) return `iova: overlapping ranges [pfn=0x${n.pfn_lo.toString(16)}] [pfn=0x${next.pfn_lo.toString(16)}]`;
    }
    if (this.nodes[this.nodes.length - 1] !== this.anchor) return 'iova: anchor is not the last node';
    for (const c of [this.cached_node, this.cached32_node]) {
      const i = this.floorIndex(c.pfn_lo);
      if (this.nodes[i] !== c) return `iova: cached node [pfn_lo=0x${c.pfn_lo.toString(16)}] is not in the tree`;
    }
    return null;
  }

  hashInto(h: Hasher): void {
    h.num(this.max32_alloc_size).u32(this.nodes.length);
    for (const n of this.nodes) h.num(n.pfn_lo).num(n.pfn_hi);
    h.num(this.cached_node.pfn_lo).num(this.cached32_node.pfn_lo);
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
