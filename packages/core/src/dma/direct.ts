// dma-direct (kernel/dma/direct.c and direct.h): streaming maps without an IOMMU — dma-ranges
// translation, dma_capable with bus_dma_limit, untranslated MMIO, swiotlb fallback and force
// bounce, the overflow warning, sync, scatter-gather, coherent allocation, mask support.
// Cache maintenance is an event (k.out.ran.cache), not a cache model.

import type { SgList } from '../events.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import { min_not_zero } from '../platform/device.ts';
import { DMA_BIT_MASK, hex, hex016, maskBits } from '../util/hex.ts';
import { DMA_ATTR_MMIO, DMA_ATTR_SKIP_CPU_SYNC, DMA_MAPPING_ERROR, EIO, SIZE_MAX } from './defs.ts';
import { dma_capable, dma_to_phys, phys_to_dma, phys_to_dma_direct, phys_to_dma_unencrypted } from './dma-direct.ts';
import {
  is_swiotlb_active,
  is_swiotlb_buffer,
  is_swiotlb_force_bounce,
  swiotlb_map,
  swiotlb_max_mapping_size,
  swiotlb_sync_single_for_cpu,
  swiotlb_sync_single_for_device,
  swiotlb_tbl_unmap_single,
} from './swiotlb.ts';

/** zone_dma_limit of the x86-like platform: ZONE_DMA is the low 16 MiB (zone_dma_bits = 24). */
export const ZONE_DMA_LIMIT = DMA_BIT_MASK(24);

/** arch_sync_dma_for_device(): cache maintenance before the device touches the buffer (an event here). */
export function arch_sync_dma_for_device(k: Kernel, _paddr: bigint, _size: number, _dir: number): void {
  k.out.ran.cache = true;
}

/** arch_sync_dma_for_cpu(): cache maintenance before the CPU reads what the device wrote (an event here). */
export function arch_sync_dma_for_cpu(k: Kernel, _paddr: bigint, _size: number, _dir: number): void {
  k.out.ran.cache = true;
}

/**
 * dma_kmalloc_needs_bounce(): only CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC kernels (arm64) bounce
 * small kmalloc buffers of non-coherent devices; the x86-like platform does not select it.
 */
export function dma_kmalloc_needs_bounce(_k: Kernel, _dev: Device, _size: number, _dir: number): boolean {
  return false;
}

/** 6.17 is_pci_p2pdma_page(): a page of a peer BAR. MMIO regions stand for p2pdma ZONE_DEVICE pages. */
function is_pci_p2pdma_page(k: Kernel, phys: bigint): boolean {
  return k.mem.isMmio(phys);
}

function overflow(k: Kernel, dev: Device, fn: string, dma_addr: bigint, size: number): bigint {
  k.dev_WARN_ONCE(dev, 'kernel/dma/direct.h', fn, `DMA addr ${hex016(dma_addr)}+${size} overflow (mask ${hex(dev.dmaMask ?? 0n)}, bus limit ${hex(dev.busDmaLimit)}).`);
  return DMA_MAPPING_ERROR;
}

/**
 * dma_direct_map_phys() (6.18) — and, with k.is618 false, 6.17's dma_direct_map_page(), which has
 * no DMA_ATTR_MMIO and refuses p2pdma pages where it would bounce or overflow.
 */
export function dma_direct_map_phys(k: Kernel, dev: Device, phys: bigint, size: number, dir: number, attrs: number): bigint {
  const mmio = k.is618 && (attrs & DMA_ATTR_MMIO) !== 0;
  const fn = k.is618 ? 'dma_direct_map_phys' : 'dma_direct_map_page';
  let dma_addr: bigint;

  if (is_swiotlb_force_bounce(k, dev)) {
    if (mmio) {
      // 6.18 jumps to the overflow WARN with dma_addr never assigned (rows B7).
      // UNCONFIRMED: the kernel prints an uninitialised stack value; the model prints phys.
      return overflow(k, dev, fn, phys, size);
    }
    if (!k.is618 && is_pci_p2pdma_page(k, phys)) return DMA_MAPPING_ERROR;
    return swiotlb_map(k, dev, phys, size, dir, attrs);
  }

  if (mmio) {
    dma_addr = phys; // MMIO is never translated through dma-ranges
    if (!dma_capable(dev, dma_addr, size, false)) return overflow(k, dev, fn, dma_addr, size);
  } else {
    dma_addr = phys_to_dma(dev, phys);
    if (!dma_capable(dev, dma_addr, size, true) || dma_kmalloc_needs_bounce(k, dev, size, dir)) {
      if (!k.is618 && is_pci_p2pdma_page(k, phys)) return DMA_MAPPING_ERROR;
      if (is_swiotlb_active(k, dev)) return swiotlb_map(k, dev, phys, size, dir, attrs);
      return overflow(k, dev, fn, dma_addr, size);
    }
  }

  if (!dev.coherent && !(attrs & (DMA_ATTR_SKIP_CPU_SYNC | (mmio ? DMA_ATTR_MMIO : 0)))) arch_sync_dma_for_device(k, phys, size, dir);
  return dma_addr;
}

/** dma_direct_unmap_phys() (6.18) / dma_direct_unmap_page() (6.17). */
export function dma_direct_unmap_phys(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  if (k.is618 && attrs & DMA_ATTR_MMIO) return; // nothing to undo: uncached and never bounced
  const phys = dma_to_phys(dev, addr);
  if (is_swiotlb_buffer(k, dev, phys)) k.out.path = 'swiotlb';
  if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC)) dma_direct_sync_single_for_cpu(k, dev, addr, size, dir);
  swiotlb_tbl_unmap_single(k, dev, phys, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
}

/** 6.17 dma_direct_map_resource(): the physical address as is, dev_err_once + WARN when not capable. */
export function dma_direct_map_resource(k: Kernel, dev: Device, paddr: bigint, size: number, _dir: number, _attrs: number): bigint {
  const dma_addr = paddr;
  if (!dma_capable(dev, dma_addr, size, false)) {
    k.dev_warn_once(dev, 'kernel/dma/direct.c:dma_direct_map_resource', `DMA addr ${hex016(dma_addr)}+${size} overflow (mask ${hex(dev.dmaMask ?? 0n)}, bus limit ${hex(dev.busDmaLimit)}).`);
    k.warn_on_once('kernel/dma/direct.c', 'dma_direct_map_resource');
    return DMA_MAPPING_ERROR;
  }
  return dma_addr;
}

export function dma_direct_sync_single_for_device(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  const paddr = dma_to_phys(dev, addr);
  if (is_swiotlb_buffer(k, dev, paddr)) k.out.path = 'swiotlb';
  swiotlb_sync_single_for_device(k, dev, paddr, size, dir);
  if (!dev.coherent) arch_sync_dma_for_device(k, paddr, size, dir);
}

/** (arch_dma_mark_clean for FROM_DEVICE is an ia64 leftover and a no-op here.) */
export function dma_direct_sync_single_for_cpu(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  const paddr = dma_to_phys(dev, addr);
  if (!dev.coherent) arch_sync_dma_for_cpu(k, paddr, size, dir);
  if (is_swiotlb_buffer(k, dev, paddr)) k.out.path = 'swiotlb';
  swiotlb_sync_single_for_cpu(k, dev, paddr, size, dir);
}

/**
 * dma_direct_map_sg(): every element through dma_direct_map_phys; a failure unmaps the elements
 * mapped so far (SKIP_CPU_SYNC) and returns -EIO. P2P elements (pci_p2pdma_state) are not
 * modelled: every element is PCI_P2PDMA_MAP_NONE, i.e. RAM.
 */
export function dma_direct_map_sg(k: Kernel, dev: Device, sg: SgList, dir: number, attrs: number): number {
  const segs = sg.segments;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    const addr = dma_direct_map_phys(k, dev, s.phys, s.size, dir, attrs);
    if (addr === DMA_MAPPING_ERROR) {
      dma_direct_unmap_sg(k, dev, sg, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC, i);
      sg.dma.length = 0;
      return -EIO;
    }
    sg.dma.push({ addr, len: s.size });
  }
  return segs.length;
}

/** dma_direct_unmap_sg() over the first `nents` elements (sg_dma_address / sg_dma_len of each). */
export function dma_direct_unmap_sg(k: Kernel, dev: Device, sg: SgList, dir: number, attrs: number, nents = sg.segments.length): void {
  for (let i = 0; i < nents; i++) {
    const d = sg.dma[i];
    if (d) dma_direct_unmap_phys(k, dev, d.addr, d.len, dir, attrs);
  }
}

export function dma_direct_sync_sg_for_device(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  for (let i = 0; i < sg.segments.length; i++) {
    const d = sg.dma[i];
    if (d) dma_direct_sync_single_for_device(k, dev, d.addr, sg.segments[i]!.size, dir);
  }
}

export function dma_direct_sync_sg_for_cpu(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  for (let i = 0; i < sg.segments.length; i++) {
    const d = sg.dma[i];
    if (d) dma_direct_sync_single_for_cpu(k, dev, d.addr, sg.segments[i]!.size, dir);
  }
}

/**
 * dma_direct_alloc(), simplified: pages of get_order(size) from the top of RAM below the physical
 * limit of min_not_zero(coherent mask, bus limit) (dma_direct_optimal_gfp_mask picks the zone; the
 * model takes the highest fitting block instead of retrying zones), zeroed, then dma_coherent_ok.
 * No CMA, no per-device pools, no remapping; a non-coherent device gets arch_dma_prep_coherent.
 */
export function dma_direct_alloc(k: Kernel, dev: Device, size: number, _attrs: number): { cpuAddr: bigint; dmaAddr: bigint } | null {
  const page = k.cfg.platform.pageSize;
  const bytes = Math.ceil(size / page) * page;
  const dma_limit = min_not_zero(dev.coherentDmaMask, dev.busDmaLimit);
  const phys_limit = dma_to_phys(dev, dma_limit);
  const phys = k.mem.allocPages(bytes, phys_limit, `coherent:${dev.name}`);
  if (phys === null) return null;
  const dma = phys_to_dma_direct(dev, phys);
  if (dma === DMA_MAPPING_ERROR || BigInt.asUintN(64, dma + BigInt(bytes) - 1n) > dma_limit) {
    k.mem.freePages(phys, bytes);
    return null;
  }
  k.mem.fill(phys, bytes, 0);
  if (!dev.coherent) k.out.ran.cache = true; // arch_dma_prep_coherent()
  return { cpuAddr: phys, dmaAddr: dma };
}

export function dma_direct_free(k: Kernel, dev: Device, size: number, cpu_addr: bigint, dma_addr: bigint, _attrs: number): void {
  const page = k.cfg.platform.pageSize;
  const bytes = Math.ceil(size / page) * page;
  if (!k.mem.freePages(cpu_addr, bytes)) {
    // The page allocator would free whatever pages these are ("Bad page state" at best).
    k.finding('double-free', `dma_direct_free of pages that are not a live coherent allocation [cpu address=${hex016(cpu_addr)}] [device address=${hex016(dma_addr)}] [size=${size} bytes] [device=${dev.name}]`);
  }
}

/** dma_direct_get_required_mask(): a full mask covering the bus address of the last RAM page. */
export function dma_direct_get_required_mask(k: Kernel, dev: Device): bigint {
  const phys = k.mem.ramEnd - BigInt(k.cfg.platform.pageSize);
  const max_dma = phys_to_dma_direct(dev, phys < 0n ? 0n : phys);
  const bits = maskBits(max_dma);
  return bits === 0 ? 0n : DMA_BIT_MASK(bits);
}

/** dma_direct_supported(): ≥ 32 bits always; smaller masks must cover min(last RAM page, ZONE_DMA). */
export function dma_direct_supported(k: Kernel, dev: Device, mask: bigint): boolean {
  if (mask >= DMA_BIT_MASK(32)) return true;
  let min_mask = k.mem.ramEnd - BigInt(k.cfg.platform.pageSize);
  if (min_mask > ZONE_DMA_LIMIT) min_mask = ZONE_DMA_LIMIT;
  return mask >= phys_to_dma_unencrypted(dev, min_mask);
}

/** dma_direct_all_ram_mapped(): every RAM range is covered by the device's dma-ranges. */
export function dma_direct_all_ram_mapped(k: Kernel, dev: Device): boolean {
  if (!dev.dmaRangeMap.length) return true;
  for (const r of k.cfg.platform.ram) {
    let p = r.base;
    const end = r.base + r.size;
    while (p < end) {
      const m = dev.dmaRangeMap.find((x) => p >= x.cpu && p - x.cpu < x.size);
      if (!m) return false;
      p = m.cpu + m.size;
    }
  }
  return true;
}

/** dma_direct_max_mapping_size(): swiotlb's limit when the device may bounce, else SIZE_MAX. */
export function dma_direct_max_mapping_size(k: Kernel, dev: Device, addressingLimited: boolean): bigint {
  if (is_swiotlb_active(k, dev) && (addressingLimited || is_swiotlb_force_bounce(k, dev))) return swiotlb_max_mapping_size(k, dev);
  return SIZE_MAX;
}
