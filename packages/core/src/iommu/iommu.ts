// The IOMMU core API (drivers/iommu/iommu.c) over one paging domain: iommu_map / iommu_unmap with
// their trace events, IOTLB invalidation, iova_to_phys and fault reporting. A domain also carries
// the dma-iommu cookie (IOVA allocator, flush queue) since every domain here is a DMA domain.

import type { DomainConfig } from '../config.ts';
import { ModelInputError, type Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import type { Hasher } from '../util/hash.ts';
import { exactNum, high32, low32, type U64 } from '../util/exact.ts';
import { hex016 } from '../util/hex.ts';
import { trace_iommu_map, trace_iommu_unmap } from '../dma/trace.ts';
import { FlushQueue } from './flush-queue.ts';
import { EEXIST, IoPgtable } from './io-pgtable.ts';
import { Iotlb } from './iotlb.ts';
import { IovaDomain } from './iova.ts';
import { NumMap } from '../util/num-map.ts';
import { doubled } from '../util/array.ts';

export const EINVAL = 22;

/**
 * A live dma-iommu mapping (model bookkeeping: who mapped which IOVA bytes). Its byte ranges are
 * kept as numbers when every end is exact (below 2^53, all but contrived IOVAs: PCI devices get
 * 32-bit ones first), so a map makes no bigints for them; as bigints otherwise.
 */
export class IommuMapping {
  constructor(
    readonly iovaPfn: number,
    readonly pages: number,
    readonly dev: string,
    /** The ranges [start, end) flattened, as numbers, when every end is exact; else null (see `big`). */
    readonly rangesN: number[] | null,
    private readonly big: readonly { start: bigint; end: bigint }[] | null,
  ) {}

  /** IOVA byte ranges [start, end) the driver was given (several for a merged scatterlist). */
  get ranges(): readonly { start: bigint; end: bigint }[] {
    const r = this.rangesN;
    if (r === null) return this.big!;
    const out: { start: bigint; end: bigint }[] = [];
    for (let i = 0; i < r.length; i += 2) out.push({ start: BigInt(r[i]!), end: BigInt(r[i + 1]!) });
    return out;
  }
}

/**
 * The live dma-iommu mappings of one domain, by IOVA pfn (model bookkeeping). Each mapping's pfn,
 * pages, device name and ranges sit in a slot of parallel arrays, found through a NumMap from pfn
 * to slot: an IommuMapping object and a ranges array per mapping were two more objects alive from
 * map to unmap, and at 64 devices those outlive the young generation; the invariant check and the
 * state mark read every mapping, and read them faster from arrays than from objects scattered over
 * the heap (BENCHMARKS.md, fifteenth round). A mapping with one exact range keeps it in
 * `start` / `end`; any other keeps its ranges in `rangesN` (flattened numbers) or `big`.
 * `get`, `values` and `set` speak IommuMapping, made or read on demand, for tests and cold paths.
 */
export class IommuLive {
  private readonly slotOf = new NumMap<number>();
  private pagesA = new Float64Array(64);
  private startA = new Float64Array(64);
  private endA = new Float64Array(64);
  private readonly devA: string[] = [];
  /** Per slot: the flattened ranges when not one exact pair, else null. */
  private readonly rangesNA: (number[] | null)[] = [];
  /** Per slot: the ranges as bigints when some end is not exact, else null. */
  private readonly bigA: (readonly { start: bigint; end: bigint }[] | null)[] = [];
  private readonly freeSlots: number[] = [];
  private used = 0;

  get size(): number {
    return this.slotOf.size;
  }

  /** The slot of the mapping kept under `pfn`, or -1. */
  slot(pfn: number): number {
    return this.slotOf.get(pfn) ?? -1;
  }

  devOf(slot: number): string {
    return this.devA[slot]!;
  }

  /** Is the mapping's one range [start, end) exact, in startOf / endOf? (Else rangesNOf holds them, or they are bigints: get().ranges.) */
  isSingle(slot: number): boolean {
    return this.rangesNA[slot] === null && this.bigA[slot] === null;
  }

  startOf(slot: number): number {
    return this.startA[slot]!;
  }

  endOf(slot: number): number {
    return this.endA[slot]!;
  }

  /** The flattened ranges of a mapping with several exact ones, else null. */
  rangesNOf(slot: number): number[] | null {
    return this.rangesNA[slot]!;
  }

  /** A mapping that became live: one exact range [start, end) (no array made for it). */
  addSingle(pfn: number, pages: number, dev: string, start: number, end: number): void {
    const s = this.take(pfn, pages, dev);
    this.startA[s] = start;
    this.endA[s] = end;
    this.rangesNA[s] = null;
    this.bigA[s] = null;
  }

  /** A mapping that became live, its ranges as IommuMapping holds them (rangesN, else big). */
  add(pfn: number, pages: number, dev: string, rangesN: number[] | null, big: readonly { start: bigint; end: bigint }[] | null): void {
    if (rangesN !== null && rangesN.length === 2) {
      this.addSingle(pfn, pages, dev, rangesN[0]!, rangesN[1]!);
      return;
    }
    const s = this.take(pfn, pages, dev);
    this.rangesNA[s] = rangesN;
    this.bigA[s] = rangesN === null ? big : null;
  }

  set(pfn: number, m: IommuMapping): void {
    this.add(pfn, m.pages, m.dev, m.rangesN, m.rangesN === null ? m.ranges : null);
  }

  delete(pfn: number): boolean {
    const s = this.slotOf.get(pfn);
    if (s === undefined) return false;
    this.slotOf.delete(pfn);
    this.rangesNA[s] = null;
    this.bigA[s] = null;
    this.freeSlots.push(s);
    return true;
  }

  /** The mapping kept under pfn, as a new IommuMapping, or undefined. */
  get(pfn: number): IommuMapping | undefined {
    const s = this.slotOf.get(pfn);
    return s === undefined ? undefined : this.mapping(pfn, s);
  }

  /** Live mappings of one device (by name), or of all. */
  countOf(dev?: string): number {
    if (dev === undefined) return this.slotOf.size;
    let n = 0;
    this.slotOf.forEach((s) => {
      if (this.devA[s] === dev) n++;
    });
    return n;
  }

  /** Every live mapping as a new IommuMapping, in no particular order. */
  values(): IommuMapping[] {
    const out: IommuMapping[] = [];
    this.slotOf.forEach((s, pfn) => out.push(this.mapping(pfn, s)));
    return out;
  }

  /**
   * The count, then by IOVA pfn each mapping's pfn, pages and device, then its ranges: their count,
   * then each start and end as Hasher.big folds them (num() gives the same words for an exact value,
   * so a mapping folds alike whichever way its ranges are held).
   */
  hashInto(h: Hasher): void {
    const pfns = this.slotOf.sortedKeys();
    h.u32(pfns.length);
    for (let i = 0; i < pfns.length; i++) {
      const pfn = pfns[i]!;
      const s = this.slotOf.get(pfn)!;
      h.num(pfn).num(this.pagesA[s]!).str(this.devA[s]!);
      const r = this.rangesNA[s]!;
      const big = this.bigA[s]!;
      if (r !== null) {
        h.u32(r.length / 2);
        for (let j = 0; j < r.length; j++) h.num(r[j]!);
      } else if (big !== null) {
        h.u32(big.length);
        for (const x of big) h.big(x.start).big(x.end);
      } else h.u32(1).num(this.startA[s]!).num(this.endA[s]!);
    }
  }

  /** The first two live mappings, by IOVA pfn, whose page spans overlap, or null (pfns sorted as numbers: no object per mapping is read). */
  overlapping(): [IommuMapping, IommuMapping] | null {
    const pfns = this.slotOf.sortedKeys();
    for (let i = 1; i < pfns.length; i++) {
      const prev = pfns[i - 1]!;
      if (prev + this.pagesA[this.slotOf.get(prev)!]! > pfns[i]!) return [this.get(prev)!, this.get(pfns[i]!)!];
    }
    return null;
  }

  private mapping(pfn: number, s: number): IommuMapping {
    const r = this.rangesNA[s]!;
    const big = this.bigA[s]!;
    return new IommuMapping(pfn, this.pagesA[s]!, this.devA[s]!, r ?? (big === null ? [this.startA[s]!, this.endA[s]!] : null), big);
  }

  /** A slot for a mapping under pfn (a pfn already live is replaced in its slot, as a Map's set would). */
  private take(pfn: number, pages: number, dev: string): number {
    let s = this.slotOf.get(pfn) ?? this.freeSlots.pop();
    if (s === undefined) {
      s = this.used++;
      if (s === this.pagesA.length) {
        this.pagesA = doubled(this.pagesA);
        this.startA = doubled(this.startA);
        this.endA = doubled(this.endA);
      }
    }
    this.slotOf.set(pfn, s);
    this.pagesA[s] = pages;
    this.devA[s] = dev;
    return s;
  }
}

/** struct iommu_iotlb_gather: the range an unmap collected, and whether it is left to the flush queue. */
export interface IotlbGather {
  startPfn: number;
  pages: number;
  queued: boolean;
}

export class IommuDomain {
  readonly name: string;
  readonly cfg: DomainConfig;
  readonly granule: number;
  readonly shift: bigint;
  readonly gmask: bigint;
  /** geometry.aperture_end (force_aperture is set). */
  readonly aperture_end: bigint;
  readonly pgtable: IoPgtable;
  readonly iotlb = new Iotlb();
  /** cookie->iovad */
  readonly iovad: IovaDomain;
  /** cookie->fq_domain: set for lazy (IOMMU_DOMAIN_DMA_FQ) domains. */
  readonly fq: FlushQueue | null;
  /** Live dma-iommu mappings by IOVA pfn. */
  readonly live = new IommuLive();

  constructor(k: Kernel, cfg: DomainConfig) {
    this.name = cfg.name;
    this.cfg = cfg;
    this.granule = cfg.granule;
    this.shift = BigInt(Math.log2(cfg.granule));
    this.gmask = BigInt(cfg.granule) - 1n;
    this.aperture_end = (1n << BigInt(cfg.apertureBits)) - 1n;
    this.pgtable = new IoPgtable(cfg.granule);
    const cpus = k.cfg.platform.cpus;
    const clock = k.clock;
    // iommu_dma_init_domain: base_pfn = max(1, aperture_start >> order); the aperture starts at 0.
    // Simplification: no reserved regions are carved out of the IOVA tree (the kernel reserves the
    // PCI host bridge windows and the IOMMU's reserved regions, e.g. the x86 MSI window
    // 0xfee00000-0xfeefffff); the scenario format does not describe them, so placements differ from
    // a real x86 box once 32-bit IOVAs reach down to that window (after 256 single pages).
    this.iovad = new IovaDomain(cfg.granule, 1, {
      cpus,
      name: cfg.name,
      work: {
        schedule_delayed_work: (key, delayNs, fn) => {
          if (!clock.isArmed(key)) clock.arm(key, clock.nowNs + delayNs, fn);
        },
      },
    });
    this.fq =
      cfg.mode === 'lazy'
        ? new FlushQueue(cfg.fq, cpus, {
            name: cfg.name,
            iovad: this.iovad,
            flush_iotlb_all: () => this.iotlb.flush_all(),
            mod_timer: (key, delayNs, fn) => clock.arm(key, clock.nowNs + delayNs, fn),
          })
        : null;
  }

  pfn(iova: bigint): number {
    const n = exactNum(iova); // on numbers when exact: no BigInt shift per call
    return n >= 0 ? Math.floor(n / this.granule) : Number(iova >> this.shift);
  }

  /** x >> shift for any u64 x (a DMA limit), from its 32-bit halves: exact, since the result is below 2^52. */
  limitPfn(x: bigint): number {
    if (this.granule > 4294967296) return Number(x >> this.shift);
    return high32(x) * (4294967296 / this.granule) + Math.floor(low32(x) / this.granule);
  }

  /** x & gmask, the offset into its granule page, as a number. */
  off(x: bigint): number {
    // A scenario's granule is at most 1 GiB (schema-machine.ts): the offset lies in the low 32 bits.
    return this.granule <= 0x4000_0000 ? low32(x) & (this.granule - 1) : Number(x & this.gmask);
  }

  /** (pfn << shift) + off as a U64: a number when exact (one multiply, no bigint), else a bigint. Also bytes of `pfn` pages. */
  at(pfn: number, off = 0): U64 {
    // A product or sum above 2^53 - 1 rounds to at least 2^53, so the test never passes an inexact value.
    const n = pfn * this.granule + off;
    return n <= Number.MAX_SAFE_INTEGER ? n : (BigInt(pfn) << this.shift) + BigInt(off);
  }

  /** at() as a bigint. */
  iova(pfn: number, off = 0): bigint {
    return BigInt(this.at(pfn, off));
  }

  /** iova_align(size + off) >> shift: the granule pages of a span of `size` bytes starting `off` into a page (exact for any safe size). */
  pagesFor(size: number, off: number): number {
    const g = this.granule;
    const whole = Math.floor(size / g);
    return whole + Math.ceil((size - whole * g + off) / g);
  }

  /** iova_align: up to the granule. */
  align(size: bigint): bigint {
    return (size + this.gmask) & ~this.gmask;
  }

  hashInto(h: Hasher): void {
    h.str(this.name);
    this.iovad.hashInto(h);
    this.pgtable.hashInto(h);
    this.iotlb.hashInto(h);
    if (this.fq) this.fq.hashInto(h);
    this.live.hashInto(h);
  }
}

/** iommu_map_nosync: map [iova, iova + size) to paddr; traces `map` on success, unrolls on failure. */
export function iommu_map_nosync(k: Kernel, dom: IommuDomain, iova: bigint, paddr: bigint, size: bigint, prot: number, owner: number): number {
  // Both addresses and the size must be aligned to the smallest page size (pr_err + -EINVAL);
  // dma-iommu always aligns them, so only a model bug gets here.
  if (((iova | paddr | size) & dom.gmask) !== 0n) return -EINVAL;
  return iommu_map_pages(k, dom, dom.pfn(iova), paddr, Number(size >> dom.shift), prot, owner);
}

/**
 * iommu_map_nosync of whole granule pages, [pfn, pfn + pages) to paddr, where the IOVA and size
 * are aligned by construction: dma-iommu's single mappings and number-path scatterlists call it
 * without making the bytes as bigints (iommu_map, map then a sync with nothing to do for the
 * modelled page table, is this too). `paddr` a U64 (util/exact.ts); it is still checked for alignment.
 */
export function iommu_map_pages(k: Kernel, dom: IommuDomain, pfn: number, paddr: U64, pages: number, prot: number, owner: number): number {
  if ((typeof paddr === 'number' ? paddr % dom.granule : dom.off(paddr)) !== 0) return -EINVAL;
  // Model limit, not the kernel's: the IO page table keeps one entry per granule page, so a single
  // mapping of more than 2^20 pages (4 GiB at 4 KiB) is refused as input the model cannot hold.
  if (pages > IOMMU_MODEL_MAX_MAP_PAGES) {
    throw new ModelInputError(`a single IOMMU mapping of ${dom.at(pages)} bytes is larger than dmasim models (at most ${IOMMU_MODEL_MAX_MAP_PAGES} pages of ${dom.granule} bytes)`);
  }
  const mapped = dom.pgtable.map_pages(pfn, paddr, pages, prot, owner);
  if (mapped < pages) {
    iommu_unmap_pages(k, dom, pfn, mapped);
    return -EEXIST;
  }
  trace_iommu_map(k, dom.at(pfn), paddr, dom.at(pages));
  return 0;
}

/** Largest single iommu_map the model accepts, in granule pages. */
export const IOMMU_MODEL_MAX_MAP_PAGES = 1 << 20;

/** __iommu_unmap of whole granule pages: clears pages until `pages` are done or an unmapped page stops it; traces `unmap`. Returns pages unmapped. */
function __iommu_unmap(k: Kernel, dom: IommuDomain, pfn: number, pages: number, gather: IotlbGather): number {
  const done = dom.pgtable.unmap_pages(pfn, pages);
  if (done > 0) {
    if (gather.pages === 0) gather.startPfn = pfn;
    gather.pages += done;
  }
  trace_iommu_unmap(k, dom.at(pfn), dom.at(pages), dom.at(done));
  return done;
}

/** iommu_unmap_fast on whole granule pages: the caller syncs (or queues) the gathered invalidation. Returns pages unmapped. */
export function iommu_unmap_fast(k: Kernel, dom: IommuDomain, pfn: number, pages: number, gather: IotlbGather): number {
  return __iommu_unmap(k, dom, pfn, pages, gather);
}

/** iommu_unmap: unmap and invalidate at once. An unaligned IOVA or size unmaps nothing (and traces nothing). */
export function iommu_unmap(k: Kernel, dom: IommuDomain, iova: bigint, size: bigint): bigint {
  if (((iova | size) & dom.gmask) !== 0n) return 0n;
  return BigInt(iommu_unmap_pages(k, dom, dom.pfn(iova), Number(size >> dom.shift))) << dom.shift;
}

/** iommu_unmap of whole granule pages; returns pages unmapped. */
export function iommu_unmap_pages(k: Kernel, dom: IommuDomain, pfn: number, pages: number): number {
  const gather: IotlbGather = { startPfn: 0, pages: 0, queued: false };
  const r = __iommu_unmap(k, dom, pfn, pages, gather);
  iommu_iotlb_sync(dom, gather);
  return r;
}

/** iommu_iotlb_sync: invalidate the gathered range. */
export function iommu_iotlb_sync(dom: IommuDomain, gather: IotlbGather): void {
  if (gather.pages > 0) dom.iotlb.invalidate(gather.startPfn, gather.pages);
}

/** iommu_flush_iotlb_all: ops->flush_iotlb_all (the flush queue's counters are not involved). */
export function iommu_domain_flush_iotlb_all(dom: IommuDomain): void {
  dom.iotlb.flush_all();
}

/** iommu_iova_to_phys: 0 when nothing is mapped. */
export function iommu_iova_to_phys(dom: IommuDomain, iova: bigint): bigint {
  const pfn = dom.pfn(iova);
  const off = dom.off(iova);
  const pn = dom.pgtable.ptes.physN(pfn);
  // On numbers when the page's address is exact (one BigInt for the result); else the page table's own walk.
  if (pn >= 0 && pn + off <= Number.MAX_SAFE_INTEGER) return BigInt(pn + off);
  return dom.pgtable.iova_to_phys(iova);
}

export const IOMMU_FAULT_READ = 0x0;
export const IOMMU_FAULT_WRITE = 0x1;

/**
 * report_iommu_fault: traces io_page_fault. The driver's own log line (AMD-Vi's "Event logged
 * [IO_PAGE_FAULT ...]", arm-smmu's "Unhandled context fault") is hardware specific and not modelled.
 */
export function report_iommu_fault(k: Kernel, dev: Device, iova: bigint, flags: number): void {
  k.trace('iommu', 'io_page_fault', `IOMMU:${dev.driver} ${dev.name} iova=${hex016(iova)} flags=0x${flags.toString(16).padStart(4, '0')}`);
}
