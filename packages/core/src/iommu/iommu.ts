// The IOMMU core API (drivers/iommu/iommu.c) over one paging domain: iommu_map / iommu_unmap with
// their trace events, IOTLB invalidation, iova_to_phys and fault reporting. A domain also carries
// the dma-iommu cookie (IOVA allocator, flush queue) since every domain here is a DMA domain.

import type { DomainConfig } from '../config.ts';
import { ModelInputError, type Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import type { Hasher } from '../util/hash.ts';
import { exactNum } from '../util/exact.ts';
import { hex016 } from '../util/hex.ts';
import { trace_iommu_map, trace_iommu_unmap } from '../dma/trace.ts';
import { FlushQueue } from './flush-queue.ts';
import { EEXIST, IoPgtable } from './io-pgtable.ts';
import { Iotlb } from './iotlb.ts';
import { IovaDomain } from './iova.ts';

export const EINVAL = 22;

/** A live dma-iommu mapping (model bookkeeping: who mapped which IOVA bytes). */
export interface IommuMapping {
  iovaPfn: number;
  pages: number;
  dev: string;
  /** IOVA byte ranges [start, end) the driver was given (several for a merged scatterlist). */
  ranges: { start: bigint; end: bigint }[];
  /** The same ranges as numbers, flattened [start, end, ...], when every end is exact (below 2^53); else null. Not state. */
  rangesN: number[] | null;
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
  readonly live = new Map<number, IommuMapping>();

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

  iova(pfn: number): bigint {
    return BigInt(pfn) << this.shift;
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
    const keys = [...this.live.keys()].sort((a, b) => a - b);
    h.u32(keys.length);
    for (const key of keys) {
      const m = this.live.get(key)!;
      h.num(m.iovaPfn).num(m.pages).str(m.dev).u32(m.ranges.length);
      for (const r of m.ranges) h.big(r.start).big(r.end);
    }
  }
}

/** iommu_map_nosync: map [iova, iova + size) to paddr; traces `map` on success, unrolls on failure. */
export function iommu_map_nosync(k: Kernel, dom: IommuDomain, iova: bigint, paddr: bigint, size: bigint, prot: number, owner: number): number {
  // Both addresses and the size must be aligned to the smallest page size (pr_err + -EINVAL);
  // dma-iommu always aligns them, so only a model bug gets here.
  if (((iova | paddr | size) & dom.gmask) !== 0n) return -EINVAL;
  const pages = Number(size >> dom.shift);
  // Model limit, not the kernel's: the IO page table keeps one entry per granule page, so a single
  // mapping of more than 2^20 pages (4 GiB at 4 KiB) is refused as input the model cannot hold.
  if (pages > IOMMU_MODEL_MAX_MAP_PAGES) {
    throw new ModelInputError(`a single IOMMU mapping of ${size} bytes is larger than dmasim models (at most ${IOMMU_MODEL_MAX_MAP_PAGES} pages of ${dom.granule} bytes)`);
  }
  const mapped = dom.pgtable.map_pages(dom.pfn(iova), paddr, pages, prot, owner);
  if (mapped < pages) {
    iommu_unmap(k, dom, iova, BigInt(mapped) << dom.shift);
    return -EEXIST;
  }
  trace_iommu_map(k, iova, paddr, size);
  return 0;
}

/** iommu_map: map, then iommu_sync_map (nothing to do for the modelled page table). */
export function iommu_map(k: Kernel, dom: IommuDomain, iova: bigint, paddr: bigint, size: bigint, prot: number, owner: number): number {
  return iommu_map_nosync(k, dom, iova, paddr, size, prot, owner);
}

/** Largest single iommu_map the model accepts, in granule pages. */
export const IOMMU_MODEL_MAX_MAP_PAGES = 1 << 20;

/** __iommu_unmap: clears pages until `size` is done or an unmapped page stops it; traces `unmap`. */
function __iommu_unmap(k: Kernel, dom: IommuDomain, iova: bigint, size: bigint, gather: IotlbGather): bigint {
  if (((iova | size) & dom.gmask) !== 0n) return 0n;
  const pfn = dom.pfn(iova);
  const done = dom.pgtable.unmap_pages(pfn, Number(size >> dom.shift));
  if (done > 0) {
    if (gather.pages === 0) gather.startPfn = pfn;
    gather.pages += done;
  }
  const unmapped = BigInt(done) << dom.shift;
  trace_iommu_unmap(k, iova, size, unmapped);
  return unmapped;
}

/** iommu_unmap_fast: the caller syncs (or queues) the gathered invalidation. */
export function iommu_unmap_fast(k: Kernel, dom: IommuDomain, iova: bigint, size: bigint, gather: IotlbGather): bigint {
  return __iommu_unmap(k, dom, iova, size, gather);
}

/** iommu_unmap: unmap and invalidate at once. */
export function iommu_unmap(k: Kernel, dom: IommuDomain, iova: bigint, size: bigint): bigint {
  const gather: IotlbGather = { startPfn: 0, pages: 0, queued: false };
  const r = __iommu_unmap(k, dom, iova, size, gather);
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
