// dma-iommu (drivers/iommu/dma-iommu.c): streaming and coherent DMA through IOMMU domains — prot
// bits, the untrusted-device bounce through swiotlb, IOVA allocation (32-bit first), map/unmap with
// strict or flush-queue invalidation, scatter-gather, sync. Device-side access is in dev-access.ts.

import type { DomainConfig } from '../config.ts';
import { DMA_ATTR_MMIO, DMA_ATTR_PRIVILEGED, DMA_ATTR_SKIP_CPU_SYNC, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE, SIZE_MAX } from '../dma/defs.ts';
import { arch_sync_dma_for_cpu, arch_sync_dma_for_device, dma_kmalloc_needs_bounce } from '../dma/direct.ts';
import { is_swiotlb_active, is_swiotlb_buffer, swiotlb_max_mapping_size, swiotlb_sync_single_for_cpu, swiotlb_sync_single_for_device, swiotlb_tbl_map_single, swiotlb_tbl_unmap_single } from '../dma/swiotlb.ts';
import { trace_swiotlb_bounced } from '../dma/trace.ts';
import { ModelInputError, type Kernel } from '../kernel.ts';
import { min_not_zero, type Device } from '../platform/device.ts';
import type { Hasher } from '../util/hash.ts';
import { exactNum, exactRange } from '../util/exact.ts';
import { DMA_BIT_MASK, hex016, maskBits } from '../util/hex.ts';
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from './io-pgtable.ts';
import { IommuDomain, iommu_domain_flush_iotlb_all, iommu_iova_to_phys, iommu_map_pages, iommu_unmap_fast, iommu_iotlb_sync, type IotlbGather } from './iommu.ts';
import { iommu_dma_map_sg, iommu_dma_unmap_sg, iommu_dma_sync_sg_for_cpu, iommu_dma_sync_sg_for_device } from './dma-iommu-sg.ts';

export { iommu_dev_access } from './dev-access.ts';
export { iommu_dma_map_sg, iommu_dma_unmap_sg, iommu_dma_sync_sg_for_cpu, iommu_dma_sync_sg_for_device };

/** The IOMMU side of the machine: one paging DMA domain per configured domain. */
export class IommuState {
  readonly byName = new Map<string, IommuDomain>();

  constructor(readonly k: Kernel, readonly domains: DomainConfig[]) {
    for (const cfg of domains) {
      if (this.byName.has(cfg.name)) throw new ModelInputError(`domains: "${cfg.name}" is defined twice`);
      if (cfg.granule < 4096 || (cfg.granule & (cfg.granule - 1)) !== 0) throw new ModelInputError(`domain ${cfg.name}: granule ${cfg.granule} is not a power of two of at least 4 KiB`);
      if (cfg.apertureBits < 32 || cfg.apertureBits > 64) throw new ModelInputError(`domain ${cfg.name}: aperture-bits ${cfg.apertureBits} is outside 32..64`);
      if (cfg.mode === 'lazy' && (cfg.fq.size < 2 || (cfg.fq.size & (cfg.fq.size - 1)) !== 0)) throw new ModelInputError(`domain ${cfg.name}: fq size ${cfg.fq.size} is not a power of two`);
      this.byName.set(cfg.name, new IommuDomain(k, cfg));
    }
    for (const d of k.deviceList) {
      if (!d.dmaIommu) continue;
      if (d.domain === undefined) throw new ModelInputError(`device ${d.name}: dma: iommu needs a domain`);
      if (!this.byName.has(d.domain)) throw new ModelInputError(`device ${d.name}: unknown IOMMU domain "${d.domain}"`);
    }
  }

  /** iommu_get_dma_domain(dev) */
  domainOf(dev: Device): IommuDomain {
    const dom = dev.domain === undefined ? undefined : this.byName.get(dev.domain);
    if (!dom) throw new ModelInputError(`device ${dev.name} is not attached to an IOMMU domain`);
    return dom;
  }

  domain(name: string): IommuDomain {
    const dom = this.byName.get(name);
    if (!dom) throw new ModelInputError(`unknown IOMMU domain "${name}"`);
    return dom;
  }

  /** Allocated IOVA pfns per domain (ranges in the tree, including those parked in the rcache). */
  summary(): { domain: string; allocatedPfns: number }[] {
    return [...this.byName.values()].map((d) => ({ domain: d.name, allocatedPfns: d.iovad.allocatedPfns() }));
  }

  /** Live dma-iommu mappings (IOVAs handed out and not yet unmapped), of one device or all. */
  liveMappings(devName?: string): number {
    let n = 0;
    for (const d of this.byName.values()) n += d.live.countOf(devName);
    return n;
  }

  /** Unmapped IOVA ranges still waiting in flush queues. */
  queuedIovas(): number {
    let n = 0;
    for (const d of this.byName.values()) n += d.fq?.pending() ?? 0;
    return n;
  }

  /** Invariants after an event: the IOVA tree is well formed and live mappings never overlap. */
  checkInvariants(): string | null {
    for (const d of this.byName.values()) {
      const e = d.iovad.checkInvariants();
      if (e) return `domain ${d.name}: ${e}`;
      const twice = d.live.overlapping();
      if (twice) {
        const [a, b] = twice;
        return `domain ${d.name}: IOVA handed out twice [iova=${hex016(d.iova(b.iovaPfn))}] [devices=${a.dev},${b.dev}]`;
      }
    }
    return null;
  }

  hashInto(h: Hasher): void {
    h.u32(this.byName.size);
    for (const d of this.byName.values()) d.hashInto(h);
  }
}

/** The acting CPU (it picks the IOVA rcache and the flush queue). */
export function currentCpu(k: Kernel): number {
  if (k.cpu < 0 || k.cpu >= k.cfg.platform.cpus) throw new ModelInputError(`cpu ${k.cpu} does not exist (platform has ${k.cfg.platform.cpus})`);
  return k.cpu;
}

/** DMA_ATTR_MMIO exists from 6.18 on; a 6.17 kernel has no such bit. */
export function attrsMmio(k: Kernel, attrs: number): boolean {
  return k.profile !== '6.17' && (attrs & DMA_ATTR_MMIO) !== 0;
}

const DMA_IOMMU_C = 'drivers/iommu/dma-iommu.c';

/** WARN_ON: printed every time it triggers. */
export function warn_on(k: Kernel, fn: string): void {
  k.printk(k.warnLine(DMA_IOMMU_C, fn));
}

/** dma_info_to_prot(dir, coherent, attrs) — Decision table C1/C4 prot column. */
export function dma_info_to_prot(k: Kernel, dir: number, coherent: boolean, attrs: number): number {
  let prot: number;
  if (attrsMmio(k, attrs)) prot = IOMMU_MMIO; // drops IOMMU_CACHE even on a coherent device
  else prot = coherent ? IOMMU_CACHE : 0;
  if (attrs & DMA_ATTR_PRIVILEGED) prot |= IOMMU_PRIV;
  switch (dir) {
    case DMA_BIDIRECTIONAL:
      return prot | IOMMU_READ | IOMMU_WRITE;
    case DMA_TO_DEVICE:
      return prot | IOMMU_READ;
    case DMA_FROM_DEVICE:
      return prot | IOMMU_WRITE;
    default:
      return 0;
  }
}

/** dev_use_swiotlb: untrusted (external-facing) device, or the kmalloc-bounce condition. */
export function dev_use_swiotlb(k: Kernel, dev: Device, size: number, dir: number): boolean {
  return dev.untrusted || dma_kmalloc_needs_bounce(k, dev, size, dir);
}

/** iova_unaligned / iova_offset(phys | size) */
function iova_unaligned(dom: IommuDomain, phys: bigint, size: number): boolean {
  return dom.off(phys) !== 0 || size % dom.granule !== 0;
}

const MASK32 = DMA_BIT_MASK(32);

/** iommu_dma_alloc_iova of `pages` granule pages: 32-bit first for PCI devices, then the full limit. Returns the IOVA pfn, 0 on failure. */
export function iommu_dma_alloc_iova(k: Kernel, dom: IommuDomain, pages: number, dma_limit: bigint, dev: Device): number {
  const cpu = currentCpu(k);
  dma_limit = min_not_zero(dma_limit, dev.busDmaLimit);
  if (dma_limit > dom.aperture_end) dma_limit = dom.aperture_end;
  if (dma_limit > MASK32 && dev.pci32bitWorkaround) {
    const pfn = dom.iovad.alloc_iova_fast(pages, dom.limitPfn(MASK32), false, cpu);
    if (pfn) return pfn;
    dev.pci32bitWorkaround = false;
    k.dev_printk(dev, `Using ${maskBits(dma_limit)}-bit DMA addresses`);
  }
  return dom.iovad.alloc_iova_fast(pages, dom.limitPfn(dma_limit), true, cpu);
}

/** iommu_dma_free_iova: to the flush queue when the unmap was queued, else straight to the rcache. */
export function iommu_dma_free_iova(k: Kernel, dom: IommuDomain, pfn: number, pages: number, gather: IotlbGather | null): void {
  if (gather?.queued) dom.fq!.queue_iova(pfn, pages, currentCpu(k));
  else dom.iovad.free_iova_fast(pfn, pages, currentCpu(k));
}

/**
 * Model bookkeeping: a dma-iommu mapping of `pages` pages at `pfn` became live, the driver given
 * the byte ranges `rangesN` (flattened [start, end) numbers; null when some end is not exact, and
 * then `big` holds them).
 */
export function recordMapping(dom: IommuDomain, dev: Device, pfn: number, pages: number, rangesN: number[] | null, big: { start: bigint; end: bigint }[] | null): void {
  dom.live.add(pfn, pages, dev.name, rangesN, big);
}

/** __iommu_dma_map: allocate an IOVA for the granule-aligned span, map it; returns IOVA + offset. */
export function __iommu_dma_map(k: Kernel, dev: Device, phys: bigint, size: number, prot: number, dma_limit: bigint): bigint {
  const dom = k.iommu.domainOf(dev);
  // On numbers: the offset, the span in pages, the IOVA pfn (IommuDomain); bigints only for what
  // leaves as one (the handle) and for addresses that are not exact (BENCHMARKS.md, eleventh round).
  const iova_off = dom.off(phys);
  // If anyone ever wants this, the IOVA allocator would need to support it (the kernel's words).
  if (dev.minAlignMask > dom.granule - 1) {
    k.dev_WARN_ONCE(dev, DMA_IOMMU_C, '__iommu_dma_map', 'Unsupported alignment constraint');
    return DMA_MAPPING_ERROR;
  }
  const pages = dom.pagesFor(size, iova_off);
  const pfn = iommu_dma_alloc_iova(k, dom, pages, dma_limit, dev);
  if (pfn === 0) return DMA_MAPPING_ERROR;
  const physN = exactNum(phys);
  if (iommu_map_pages(k, dom, pfn, physN >= 0 ? physN - iova_off : phys - BigInt(iova_off), pages, prot, pfn)) {
    iommu_dma_free_iova(k, dom, pfn, pages, null);
    return DMA_MAPPING_ERROR;
  }
  const start = dom.at(pfn, iova_off);
  const startN = exactRange(start, size);
  if (startN >= 0) dom.live.addSingle(pfn, pages, dev.name, startN, startN + size);
  else recordMapping(dom, dev, pfn, pages, null, [{ start: BigInt(start), end: BigInt(start) + BigInt(size) }]);
  return BigInt(start);
}

/** __iommu_dma_unmap: unmap the granule span; strict invalidates and frees now, lazy queues. */
export function __iommu_dma_unmap(k: Kernel, dev: Device, dma_addr: bigint, size: number): void {
  const dom = k.iommu.domainOf(dev);
  const pfn = dom.pfn(dma_addr); // the IOVA less its offset, in pages
  const pages = dom.pagesFor(size, dom.off(dma_addr));
  const gather: IotlbGather = { startPfn: 0, pages: 0, queued: dom.fq !== null };
  const unmapped = iommu_unmap_fast(k, dom, pfn, pages, gather);
  if (unmapped !== pages) warn_on(k, '__iommu_dma_unmap');
  if (!gather.queued) iommu_iotlb_sync(dom, gather);
  if (!dom.live.delete(pfn)) {
    // The kernel releases the IOVA regardless: a range no live mapping owns ends up in the rcache
    // (or the tree loses someone else's node), ready to be handed out twice.
    k.finding('double-free', `IOVA released that no live mapping holds [domain=${dom.name}] [device=${dev.name}] [iova=${hex016(dom.at(pfn))}] [size=${dom.at(pages)} bytes]`);
  }
  iommu_dma_free_iova(k, dom, pfn, pages, gather);
}

/** The untrusted-device bounce: a granule-aligned swiotlb slot, padding zeroed. */
function iommu_dma_map_swiotlb(k: Kernel, dev: Device, dom: IommuDomain, phys: bigint, size: number, dir: number, attrs: number): bigint {
  if (!is_swiotlb_active(k, dev)) {
    k.dev_warn_once(dev, `${DMA_IOMMU_C}:iommu_dma_map_swiotlb:inactive`, 'DMA bounce buffers are inactive, unable to map unaligned transaction.');
    return DMA_MAPPING_ERROR;
  }
  trace_swiotlb_bounced(k, dev, phys, size);
  const tlb = swiotlb_tbl_map_single(k, dev, phys, size, Number(dom.gmask), dir, attrs);
  if (tlb === DMA_MAPPING_ERROR) return DMA_MAPPING_ERROR;
  k.out.ran.swiotlb = true;
  k.out.path = 'iommu-swiotlb';
  if (dev.untrusted) {
    // The device sees whole granules: no leftover kernel data before or after the buffer.
    const start = tlb & ~dom.gmask;
    k.mem.fill(start, Number(tlb - start), 0);
    const end = tlb + BigInt(size);
    k.mem.fill(end, Number(dom.align(end) - end), 0);
  }
  return tlb;
}

/** iommu_dma_map_phys (6.18) / iommu_dma_map_page (6.17): Decision table rows C1–C6. */
export function iommu_dma_map_phys(k: Kernel, dev: Device, phys: bigint, size: number, dir: number, attrs: number): bigint {
  const dom = k.iommu.domainOf(dev);
  const mmio = attrsMmio(k, attrs);
  const coherent = dev.coherent;
  const prot = dma_info_to_prot(k, dir, coherent, attrs);
  k.out.path = 'iommu';
  if (dev_use_swiotlb(k, dev, size, dir) && iova_unaligned(dom, phys, size)) {
    if (mmio) return DMA_MAPPING_ERROR; // C5: MMIO can never bounce
    phys = iommu_dma_map_swiotlb(k, dev, dom, phys, size, dir, attrs);
    if (phys === DMA_MAPPING_ERROR) return DMA_MAPPING_ERROR;
  }
  if (!coherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC) && !mmio) arch_sync_dma_for_device(k, phys, size, dir);
  const iova = __iommu_dma_map(k, dev, phys, size, prot, dev.dma_get_mask());
  if (iova === DMA_MAPPING_ERROR && !mmio && is_swiotlb_buffer(k, dev, phys)) swiotlb_tbl_unmap_single(k, dev, phys, size, dir, attrs);
  return iova;
}

/** iommu_dma_unmap_phys (6.18) / iommu_dma_unmap_page (6.17). */
export function iommu_dma_unmap_phys(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  const dom = k.iommu.domainOf(dev);
  k.out.path = 'iommu';
  if (attrsMmio(k, attrs)) {
    __iommu_dma_unmap(k, dev, addr, size); // no sync, no swiotlb
    return;
  }
  const phys = iommu_iova_to_phys(dom, addr);
  if (phys === 0n) {
    warn_on(k, 'iommu_dma_unmap_phys');
    return;
  }
  if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC) && !dev.coherent) arch_sync_dma_for_cpu(k, phys, size, dir);
  __iommu_dma_unmap(k, dev, addr, size);
  if (is_swiotlb_buffer(k, dev, phys)) {
    k.out.path = 'iommu-swiotlb';
    k.out.ran.swiotlb = true;
    swiotlb_tbl_unmap_single(k, dev, phys, size, dir, attrs);
  }
}

/** iommu_dma_map_resource (≤ 6.17): a plain IOVA map with IOMMU_MMIO; no sync, no swiotlb. */
export function iommu_dma_map_resource(k: Kernel, dev: Device, phys: bigint, size: number, dir: number, attrs: number): bigint {
  k.out.path = 'iommu';
  return __iommu_dma_map(k, dev, phys, size, dma_info_to_prot(k, dir, false, attrs) | IOMMU_MMIO, dev.dma_get_mask());
}

export function iommu_dma_unmap_resource(k: Kernel, dev: Device, addr: bigint, size: number, _dir: number, _attrs: number): void {
  k.out.path = 'iommu';
  __iommu_dma_unmap(k, dev, addr, size);
}

export function iommu_dma_sync_single_for_cpu(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  k.out.path = 'iommu';
  if (dev.coherent && !dev_use_swiotlb(k, dev, size, dir)) return;
  const phys = iommu_iova_to_phys(k.iommu.domainOf(dev), addr);
  if (!dev.coherent) arch_sync_dma_for_cpu(k, phys, size, dir);
  if (is_swiotlb_buffer(k, dev, phys)) {
    k.out.path = 'iommu-swiotlb';
    swiotlb_sync_single_for_cpu(k, dev, phys, size, dir);
  }
}

export function iommu_dma_sync_single_for_device(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  k.out.path = 'iommu';
  if (dev.coherent && !dev_use_swiotlb(k, dev, size, dir)) return;
  const phys = iommu_iova_to_phys(k.iommu.domainOf(dev), addr);
  if (is_swiotlb_buffer(k, dev, phys)) {
    k.out.path = 'iommu-swiotlb';
    swiotlb_sync_single_for_device(k, dev, phys, size, dir);
  }
  if (!dev.coherent) arch_sync_dma_for_device(k, phys, size, dir);
}

/**
 * iommu_dma_alloc: zeroed pages mapped at one IOVA below the coherent mask. Simplification: the
 * pages are one contiguous block (the kernel's remap path may use scattered pages under one IOVA
 * range; the IOVA, prot and trace are the same apart from one `map` event per contiguous run).
 */
export function iommu_dma_alloc(k: Kernel, dev: Device, size: number, attrs: number): { cpuAddr: bigint; dmaAddr: bigint } | null {
  k.out.path = 'iommu';
  const ioprot = dma_info_to_prot(k, DMA_BIDIRECTIONAL, dev.coherent, attrs);
  const bytes = pageAlign(k, size);
  const phys = k.mem.allocPages(bytes, undefined, `dma-iommu:${dev.name}`);
  if (phys === null) return null;
  k.mem.fill(phys, bytes, 0); // __GFP_ZERO
  if (!dev.coherent) arch_sync_dma_for_device(k, phys, bytes, DMA_BIDIRECTIONAL); // arch_dma_prep_coherent
  const dmaAddr = __iommu_dma_map(k, dev, phys, size, ioprot, dev.coherentDmaMask);
  if (dmaAddr === DMA_MAPPING_ERROR) {
    k.mem.freePages(phys, bytes);
    return null;
  }
  return { cpuAddr: phys, dmaAddr };
}

export function iommu_dma_free(k: Kernel, dev: Device, size: number, cpuAddr: bigint, dmaAddr: bigint, _attrs: number): void {
  k.out.path = 'iommu';
  __iommu_dma_unmap(k, dev, dmaAddr, size);
  k.mem.freePages(cpuAddr, pageAlign(k, size));
}

function pageAlign(k: Kernel, size: number): number {
  const ps = k.cfg.platform.pageSize;
  return Math.max(ps, Math.ceil(size / ps) * ps);
}

/** iommu_dma_max_mapping_size: an untrusted device is bounded by the swiotlb (it may bounce). */
export function iommu_dma_max_mapping_size(k: Kernel, dev: Device): bigint {
  if (dev.untrusted) return swiotlb_max_mapping_size(k, dev);
  return SIZE_MAX;
}

/** The flush-iotlb event: iommu_flush_iotlb_all(domain). */
export function iommu_flush_iotlb_all(k: Kernel, domain: string): void {
  iommu_domain_flush_iotlb_all(k.iommu.domain(domain));
}
