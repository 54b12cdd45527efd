// Legacy struct dma_map_ops (the `dma: ops` devices). The kernel's remaining ops users (AMD GART,
// sparc/parisc/alpha IOMMUs, powerpc, xen-swiotlb, ...) each translate differently, so dmasim
// ships one small, honest implementation instead of imitating any of them: an IOMMU-less ops that
// maps pages 1:1 (the device's dma-ranges applied, as dma-direct does), resources 1:1 and
// untranslated when configured (`ops: { map-resource: true }`), and allocates coherent pages 1:1.
// It has no sync callbacks (so dma_setup_need_sync marks the device skip-sync), no dma_supported,
// no max_mapping_size and no get_required_mask — the mapping.c defaults apply.

import type { SgList } from '../events.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import { min_not_zero } from '../platform/device.ts';
import { hex016 } from '../util/hex.ts';
import { DMA_MAPPING_ERROR, EIO } from './defs.ts';
import { dma_to_phys, phys_to_dma } from './dma-direct.ts';

/** ops->map_resource exists for this device. */
export function ops_has_map_resource(dev: Device): boolean {
  return dev.cfg.ops.mapResource;
}

/** The ops refuse a bus address beyond what the device can address (no bounce buffering). */
function fits(dev: Device, dma: bigint, size: number): boolean {
  if (dma === DMA_MAPPING_ERROR) return false;
  return BigInt.asUintN(64, dma + BigInt(size) - 1n) <= min_not_zero(dev.dmaMask ?? 0n, dev.busDmaLimit);
}

/** ops->map_page(dev, phys_to_page(phys), offset_in_page(phys), ...): 1:1. */
export function ops_map_page(_k: Kernel, dev: Device, phys: bigint, size: number, _dir: number, _attrs: number): bigint {
  const dma = phys_to_dma(dev, phys);
  return fits(dev, dma, size) ? dma : DMA_MAPPING_ERROR;
}

/** ops->unmap_page: a 1:1 mapping has nothing to undo. */
export function ops_unmap_page(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number, _attrs: number): void {}

/** ops->map_resource (only when configured): the physical address, untranslated. */
export function ops_map_resource(_k: Kernel, dev: Device, phys: bigint, size: number, _dir: number, _attrs: number): bigint {
  return fits(dev, phys, size) ? phys : DMA_MAPPING_ERROR;
}

export function ops_unmap_resource(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number, _attrs: number): void {}

/** ops->map_sg: each element 1:1, no merging; -EIO if one does not fit. */
export function ops_map_sg(k: Kernel, dev: Device, sg: SgList, dir: number, attrs: number): number {
  for (const s of sg.segments) {
    const addr = ops_map_page(k, dev, s.phys, s.size, dir, attrs);
    if (addr === DMA_MAPPING_ERROR) {
      sg.dma.length = 0;
      return -EIO;
    }
    sg.dma.push({ addr, len: s.size });
  }
  return sg.segments.length;
}

export function ops_unmap_sg(_k: Kernel, _dev: Device, _sg: SgList, _dir: number, _attrs: number): void {}

/** ops->alloc: zeroed pages below the coherent mask, mapped 1:1. */
export function ops_alloc(k: Kernel, dev: Device, size: number, _attrs: number): { cpuAddr: bigint; dmaAddr: bigint } | null {
  const page = k.cfg.platform.pageSize;
  const bytes = Math.ceil(size / page) * page;
  const limit = min_not_zero(dev.coherentDmaMask, dev.busDmaLimit);
  const phys = k.mem.allocPages(bytes, dma_to_phys(dev, limit), `coherent:${dev.name}`);
  if (phys === null) return null;
  const dma = phys_to_dma(dev, phys);
  if (dma === DMA_MAPPING_ERROR || BigInt.asUintN(64, dma + BigInt(bytes) - 1n) > limit) {
    k.mem.freePages(phys, bytes);
    return null;
  }
  k.mem.fill(phys, bytes, 0);
  return { cpuAddr: phys, dmaAddr: dma };
}

export function ops_free(k: Kernel, dev: Device, size: number, cpu_addr: bigint, dma_addr: bigint, _attrs: number): void {
  const page = k.cfg.platform.pageSize;
  if (!k.mem.freePages(cpu_addr, Math.ceil(size / page) * page)) {
    k.finding('double-free', `ops->free of pages that are not a live coherent allocation [cpu address=${hex016(cpu_addr)}] [device address=${hex016(dma_addr)}] [size=${size} bytes] [device=${dev.name}]`);
  }
}
