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
import { iommu_map_nosync, iommu_map_pages, iommu_unmap, iommu_unmap_pages, type IommuDomain } from './iommu.ts';
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
  const M = sgOnNumbers.enabled ? boundarySpan(mask) : -1;
  const lenN = M > 0 ? entriesN(dom, sg, M) : -1;
  if (lenN >= 0) return mapSgN(k, dom, dev, sg, lenN, M, prot);
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
  return mapSgAt(k, dom, dev, sg, entries, iova_len, pfn, pages, prot);
}

/** The rest of iommu_dma_map_sg once the IOVA range is allocated, on bigints: map the runs, then finalise and record (or free and fail). */
function mapSgAt(k: Kernel, dom: IommuDomain, dev: Device, sg: SgList, entries: SgEntry[], iova_len: bigint, pfn: number, pages: number, prot: number): number {
  const iova = dom.iova(pfn);
  const ret = iommu_map_sg(k, dom, iova, entries, prot);
  if (typeof ret === 'number' || ret < iova_len) {
    iommu_dma_free_iova(k, dom, pfn, pages, null);
    sg.dma = [];
    return mapSgError(typeof ret === 'number' ? ret : 0);
  }
  const count = __finalise_sg(dev, sg, entries, iova);
  recordMapping(dom, dev, pfn, pages, ...dmaRanges(sg));
  return count;
}

/** The errors iommu_dma_map_sg passes on from iommu_map; any other becomes -EINVAL. */
function mapSgError(err: number): number {
  return err === -ENOMEM || err === -EREMOTEIO ? err : -EINVAL;
}

// ---- the same on numbers ----
// iommu_dma_map_sg made ~25 bigints and an entry object per segment (~120 B per event on the IOMMU
// mixes; BENCHMARKS.md, eleventh round). When every segment's address is exact as a number and the
// boundary mask is 2^n - 1 (every device's: 0xffffffff for PCI, else all ones), the steps run on
// numbers in the scratch arrays below, and the result is the same as on bigints: `sg-numbers.test.ts`
// runs both on random scatterlists and compares everything they leave behind.

/** For tests: false sends every scatterlist down the bigint path (the reference the number path is checked against). */
export const sgOnNumbers = { enabled: true };

/** The entries of the number path, in parallel (iommu_dma_map_sg is never re-entered while they are in use). */
const eP: number[] = [];
const eLen: number[] = [];
const eOff: number[] = [];
const eSLen: number[] = [];

const TWO64 = 1n << 64n;
let spanMask = -1n;
let spanOf = -1;
/** mask + 1 as a number (a power of two, so exact) when mask is 2^n - 1 with 1 ≤ n ≤ 64; else -1 (the last mask's answer kept). */
function boundarySpan(mask: bigint): number {
  if (mask !== spanMask) {
    const m = mask + 1n;
    spanMask = mask;
    spanOf = mask > 0n && m <= TWO64 && (m & mask) === 0n ? Number(m) : -1;
  }
  return spanOf;
}

/**
 * The bigint loop's entries on numbers, into the scratch arrays, for a boundary mask of M - 1
 * (boundarySpan()): returns iova_len, or -1 when the bigint path must run (an address or a length
 * not exact or not whole). No side effects.
 * The padding (mask - iova_len + 1) & mask is (-iova_len) mod M for M = mask + 1; for M = 2^64 it
 * rounds as a number but stays above 2^53, beyond any segment length, so the test against the
 * segment comes out as on bigints (and a pad that would be applied while inexact sends the list to
 * the bigint path).
 */
function entriesN(dom: IommuDomain, sg: SgList, M: number): number {
  const g = dom.granule;
  const segs = sg.segments;
  const n = segs.length;
  if (eP.length < n) eP.length = eLen.length = eOff.length = eSLen.length = n;
  let iova_len = 0;
  for (let i = 0; i < n; i++) {
    const seg = segs[i]!;
    const phys = exactNum(seg.phys);
    // (A size that is not a whole number fails on bigints, BigInt(size); so it goes there.)
    if (phys < 0 || !Number.isSafeInteger(seg.size) || seg.size < 0 || phys + seg.size > Number.MAX_SAFE_INTEGER) return -1;
    const off = phys % g; // phys & gmask: g is a power of two
    const s_length = dom.pagesFor(seg.size, off) * g;
    const r = iova_len % M;
    const pad = r === 0 ? 0 : M - r;
    // BigInt.asUintN(64, s_length - 1n): all ones for a zero length, above any pad.
    if (pad !== 0 && (s_length === 0 || pad < s_length - 1) && i > 0) {
      if (pad > Number.MAX_SAFE_INTEGER) return -1;
      eLen[i - 1]! += pad;
      iova_len += pad;
    }
    eP[i] = phys - off;
    eLen[i] = s_length;
    eOff[i] = off;
    eSLen[i] = seg.size;
    iova_len += s_length;
  }
  return iova_len <= Number.MAX_SAFE_INTEGER ? iova_len : -1;
}

/** iommu_dma_map_sg after entriesN(): allocate, map the runs, finalise and record — on numbers while the IOVA range is exact, else on bigints. */
function mapSgN(k: Kernel, dom: IommuDomain, dev: Device, sg: SgList, iova_len: number, M: number, prot: number): number {
  const n = sg.segments.length;
  if (iova_len === 0) return finaliseN(dev, sg, n, 0, M);
  const g = dom.granule;
  const pages = iova_len / g;
  const pfn = iommu_dma_alloc_iova(k, dom, pages, dev.dma_get_mask(), dev);
  if (!pfn) {
    sg.dma = [];
    return -ENOMEM;
  }
  const iova = dom.at(pfn);
  if (typeof iova !== 'number' || iova + iova_len > Number.MAX_SAFE_INTEGER) {
    // An IOVA above 2^53 (a 64-bit aperture): the rest on bigints, from the same entries.
    const entries: SgEntry[] = [];
    for (let i = 0; i < n; i++) entries.push({ phys: BigInt(eP[i]!), length: BigInt(eLen[i]!), s_iova_off: BigInt(eOff[i]!), s_length: BigInt(eSLen[i]!) });
    return mapSgAt(k, dom, dev, sg, entries, BigInt(iova_len), pfn, pages, prot);
  }
  const ret = mapRunsN(k, dom, pfn, n, prot);
  if (ret < 0 || ret < iova_len) {
    iommu_dma_free_iova(k, dom, pfn, pages, null);
    sg.dma = [];
    return mapSgError(ret < 0 ? ret : 0);
  }
  return finaliseN(dev, sg, n, iova, M, dom, pfn, pages);
}

/** iommu_map_sg on numbers: one iommu_map per physically contiguous run; returns bytes mapped or -errno. */
function mapRunsN(k: Kernel, dom: IommuDomain, pfn: number, n: number, prot: number): number {
  const g = dom.granule;
  let len = 0;
  let start = 0;
  let mapped = 0;
  // As iommu_map_sg: one step past the end (on the last entry) flushes the final run.
  for (let i = 0; i <= n; i++) {
    const j = Math.min(i, n - 1);
    if (len && eP[j] !== start + len) {
      // The run's IOVA, address and length are granule-aligned (iommu_map_nosync's -EINVAL test
      // cannot fire: the lengths are aligned, and so is every pad for a mask of 2^n - 1).
      const ret = iommu_map_pages(k, dom, pfn + mapped / g, start, len / g, prot, pfn);
      if (ret) {
        iommu_unmap_pages(k, dom, pfn, mapped / g);
        return ret;
      }
      mapped += len;
      len = 0;
    }
    if (len) {
      len += eLen[j]!;
    } else {
      len = eLen[j]!;
      start = eP[j]!;
    }
  }
  return mapped;
}

/**
 * __finalise_sg on numbers: the merged DMA segments into sg.dma (their addresses as bigints, what
 * the driver gets); with `dom`, the mapping is recorded too (its ranges as numbers).
 */
function finaliseN(dev: Device, sg: SgList, n: number, dma_addr: number, M: number, dom?: IommuDomain, pfn = 0, pages = 0): number {
  const max_len = dev.maxSegmentSize;
  const out: { addr: bigint; len: number }[] = [];
  const ranges: number[] = [];
  let cur_len = 0;
  for (let i = 0; i < n; i++) {
    const s_length = eSLen[i]!;
    const s_iova_off = eOff[i]!;
    if (cur_len && !s_iova_off && dma_addr % M !== 0 && max_len - cur_len >= s_length) {
      cur_len += s_length; // concatenate with the previous output segment
    } else {
      cur_len = s_length;
      ranges.push(dma_addr + s_iova_off, 0);
      out.push({ addr: 0n, len: 0 });
    }
    out[out.length - 1]!.len = cur_len;
    ranges[ranges.length - 1] = ranges[ranges.length - 2]! + cur_len;
    dma_addr += eLen[i]!;
    if (s_length + s_iova_off < eLen[i]!) cur_len = 0;
  }
  for (let i = 0; i < out.length; i++) out[i]!.addr = BigInt(ranges[2 * i]!);
  sg.dma = out;
  if (dom) recordMapping(dom, dev, pfn, pages, ranges, null);
  return out.length;
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
