// Scatter-gather through dma-iommu (the sg half of drivers/iommu/dma-iommu.c): one IOVA range for
// the whole list, segments granule-aligned (and padded to the segment boundary), mapped in
// physically contiguous runs, then merged into DMA segments by __finalise_sg.
// P2P pages inside a scatterlist (pci_p2pdma_state) are not modelled: segments are RAM.

import { DMA_ATTR_SKIP_CPU_SYNC, DMA_MAPPING_ERROR, EINVAL, EIO, ENOMEM, EREMOTEIO } from '../dma/defs.ts';
import { arch_sync_dma_for_cpu, arch_sync_dma_for_device, dma_kmalloc_needs_bounce } from '../dma/direct.ts';
import type { SgList } from '../events.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import {
  __iommu_dma_unmap,
  dma_info_to_prot,
  iommu_dma_alloc_iova,
  iommu_dma_free_iova,
  iommu_dma_map_phys,
  iommu_dma_sync_single_for_cpu,
  iommu_dma_sync_single_for_device,
  iommu_dma_unmap_phys,
  recordMapping,
} from './dma-iommu.ts';
import { iommu_map_nosync, iommu_unmap, type IommuDomain } from './iommu.ts';
import { exactNum } from '../util/exact.ts';

/** One scatterlist entry as iommu_dma_map_sg rewrites it in place. */
interface SgEntry {
  /** sg_phys after the offset was pulled back to the granule. */
  phys: bigint;
  /** s->length: granule-aligned, plus any padding to the next segment boundary. */
  length: bigint;
  /** Stashed in sg_dma_address / sg_dma_len until __finalise_sg restores them. */
  s_iova_off: bigint;
  s_length: bigint;
}

/** dev_use_sg_swiotlb: untrusted devices, or any segment that fails the kmalloc-bounce test. */
export function dev_use_sg_swiotlb(k: Kernel, dev: Device, sg: SgList, dir: number): boolean {
  if (dev.untrusted) return true;
  return sg.segments.some((s) => dma_kmalloc_needs_bounce(k, dev, s.size, dir));
}

/** iommu_map_sg: maps physically contiguous runs with one iommu_map each; returns bytes or -errno. */
function iommu_map_sg(k: Kernel, dom: IommuDomain, iova: bigint, entries: SgEntry[], prot: number): bigint | number {
  let len = 0n;
  let start = 0n;
  let mapped = 0n;
  // Like the kernel's loop, one step past the end (on the last entry) flushes the final run.
  for (let i = 0; i <= entries.length; i++) {
    const s = entries[Math.min(i, entries.length - 1)]!;
    if (len && s.phys !== start + len) {
      const ret = iommu_map_nosync(k, dom, iova + mapped, start, len, prot, dom.pfn(iova));
      if (ret) {
        iommu_unmap(k, dom, iova, mapped);
        return ret;
      }
      mapped += len;
      len = 0n;
    }
    if (len) {
      len += s.length;
    } else {
      len = s.length;
      start = s.phys;
    }
  }
  return mapped;
}

/** __finalise_sg: restore the entries and write the merged DMA segments; returns their count. */
function __finalise_sg(dev: Device, sg: SgList, entries: SgEntry[], dma_addr: bigint): number {
  const seg_mask = dev.segmentBoundaryMask;
  const max_len = BigInt(dev.maxSegmentSize);
  const out: { addr: bigint; len: number }[] = [];
  let cur_len = 0n;
  for (const s of entries) {
    if (cur_len && !s.s_iova_off && (dma_addr & seg_mask) && max_len - cur_len >= s.s_length) {
      cur_len += s.s_length; // concatenate with the previous output segment
    } else {
      cur_len = s.s_length;
      out.push({ addr: dma_addr + s.s_iova_off, len: 0 });
    }
    out[out.length - 1]!.len = Number(cur_len);
    dma_addr += s.length;
    if (s.s_length + s.s_iova_off < s.length) cur_len = 0n;
  }
  sg.dma = out;
  return out.length;
}

function iommu_dma_map_sg_swiotlb(k: Kernel, dev: Device, sg: SgList, dir: number, attrs: number): number {
  const out: { addr: bigint; len: number }[] = [];
  for (const s of sg.segments) {
    const addr = iommu_dma_map_phys(k, dev, s.phys, s.size, dir, attrs);
    if (addr === DMA_MAPPING_ERROR) {
      for (const m of out) iommu_dma_unmap_phys(k, dev, m.addr, m.len, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      sg.dma = [];
      return -EIO;
    }
    out.push({ addr, len: s.size });
  }
  sg.dma = out;
  return out.length;
}

/** iommu_dma_map_sg: returns the number of DMA segments, or -ENOMEM / -EINVAL / -EIO; fills sg.dma. */
export function iommu_dma_map_sg(k: Kernel, dev: Device, sg: SgList, dir: number, attrs: number): number {
  const dom = k.iommu.domainOf(dev);
  k.out.path = 'iommu';
  if (dev_use_sg_swiotlb(k, dev, sg, dir)) return iommu_dma_map_sg_swiotlb(k, dev, sg, dir, attrs);
  const prot = dma_info_to_prot(k, dir, dev.coherent, attrs);
  if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC)) iommu_dma_sync_sg_for_device(k, dev, sg, dir);

  const mask = dev.segmentBoundaryMask;
  let iova_len = 0n;
  const entries: SgEntry[] = [];
  for (const seg of sg.segments) {
    const s_iova_off = seg.phys & dom.gmask;
    const s_length = dom.align(BigInt(seg.size) + s_iova_off);
    const pad_len = (mask - iova_len + 1n) & mask;
    // A segment that would cross the boundary starts at the next boundary: the previous one grows.
    const prev = entries[entries.length - 1];
    if (pad_len && pad_len < BigInt.asUintN(64, s_length - 1n) && prev) {
      prev.length += pad_len;
      iova_len += pad_len;
    }
    entries.push({ phys: seg.phys - s_iova_off, length: s_length, s_iova_off, s_length: BigInt(seg.size) });
    iova_len += s_length;
  }
  if (!iova_len) return __finalise_sg(dev, sg, entries, 0n);

  const pages = Number(iova_len >> dom.shift);
  const pfn = iommu_dma_alloc_iova(k, dom, pages, dev.dma_get_mask(), dev);
  if (!pfn) {
    sg.dma = [];
    return -ENOMEM;
  }
  const iova = dom.iova(pfn);
  const ret = iommu_map_sg(k, dom, iova, entries, prot);
  if (typeof ret === 'number' || ret < iova_len) {
    iommu_dma_free_iova(k, dom, pfn, pages, null);
    sg.dma = [];
    const err = typeof ret === 'number' ? ret : 0;
    return err === -ENOMEM || err === -EREMOTEIO ? err : -EINVAL;
  }
  const count = __finalise_sg(dev, sg, entries, iova);
  recordMapping(dom, dev, pfn, pages, ...dmaRanges(sg));
  return count;
}

/** The DMA segments' byte ranges for recordMapping: flattened numbers when every end is exact, else bigint pairs. */
function dmaRanges(sg: SgList): [number[] | null, { start: bigint; end: bigint }[] | null] {
  const out = new Array<number>(sg.dma.length * 2);
  for (let i = 0; i < sg.dma.length; i++) {
    const d = sg.dma[i]!;
    const start = exactNum(d.addr);
    if (start < 0 || start + d.len > Number.MAX_SAFE_INTEGER) return [null, sg.dma.map((x) => ({ start: x.addr, end: x.addr + BigInt(x.len) }))];
    out[2 * i] = start;
    out[2 * i + 1] = start + d.len;
  }
  return [out, null];
}

/** iommu_dma_unmap_sg: one __iommu_dma_unmap from the first DMA segment to the end of the last. */
export function iommu_dma_unmap_sg(k: Kernel, dev: Device, sg: SgList, dir: number, attrs: number): void {
  k.out.path = 'iommu';
  if (dev_use_sg_swiotlb(k, dev, sg, dir)) {
    // sg_dma_is_swiotlb(): the model's SgList carries no flag, so it is re-derived from the device
    // and the segments — the same answer unless the driver unmaps with another direction.
    for (const d of sg.dma) iommu_dma_unmap_phys(k, dev, d.addr, d.len, dir, attrs);
    return;
  }
  if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC)) iommu_dma_sync_sg_for_cpu(k, dev, sg, dir);
  const first = sg.dma[0];
  if (!first || first.len === 0) return;
  let end = 0n;
  for (const d of sg.dma) {
    if (d.len === 0) break;
    end = d.addr + BigInt(d.len);
  }
  if (end) __iommu_dma_unmap(k, dev, first.addr, Number(end - first.addr));
}

export function iommu_dma_sync_sg_for_cpu(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  k.out.path = 'iommu';
  if (dev_use_sg_swiotlb(k, dev, sg, dir)) {
    sg.dma.forEach((d, i) => iommu_dma_sync_single_for_cpu(k, dev, d.addr, sg.segments[i]?.size ?? d.len, dir));
  } else if (!dev.coherent) {
    for (const s of sg.segments) arch_sync_dma_for_cpu(k, s.phys, s.size, dir);
  }
}

export function iommu_dma_sync_sg_for_device(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  k.out.path = 'iommu';
  if (dev_use_sg_swiotlb(k, dev, sg, dir)) {
    sg.dma.forEach((d, i) => iommu_dma_sync_single_for_device(k, dev, d.addr, sg.segments[i]?.size ?? d.len, dir));
  } else if (!dev.coherent) {
    for (const s of sg.segments) arch_sync_dma_for_device(k, s.phys, s.size, dir);
  }
}
