// swiotlb bounce buffers (kernel/dma/swiotlb.c): the default pool, areas, the per-area slot search
// with alignment and offset preservation, list bookkeeping, bounce copies, messages.
// Modelled as the static default pool (no CONFIG_SWIOTLB_DYNAMIC growth, no transient pools, no
// restricted-dma pools, no memory encryption); every device uses io_tlb_default_mem.

import type { PlatformConfig } from '../config.ts';
import { ModelInputError, type Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import type { Hasher } from '../util/hash.ts';
import { hex, hex016, U64_MAX } from '../util/hex.ts';
import { LITTLE_ENDIAN, low32 } from '../util/exact.ts';
import { DMA_ATTR_NO_WARN, DMA_ATTR_SKIP_CPU_SYNC, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE } from './defs.ts';
import { dma_capable, phys_to_dma, phys_to_dma_unencrypted } from './dma-direct.ts';
import { arch_sync_dma_for_device } from './direct.ts';
import { trace_swiotlb_bounced } from './trace.ts';

export const IO_TLB_SHIFT = 11;
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
export const IO_TLB_SEGSIZE = 128;
/** orig_addr of a free slot. */
export const INVALID_PHYS_ADDR = U64_MAX;

/** nr_slots(): slots needed for `bytes`. */
export function nr_slots(bytes: number): number {
  return Math.ceil(bytes / IO_TLB_SIZE);
}

function roundup_pow_of_two(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/** io_tlb_default_mem with its one pool (defpool). */
export class SwiotlbMem {
  /** Pool [start, end); 0/0 when there is no pool. */
  readonly start: bigint;
  readonly end: bigint;
  readonly nslabs: number;
  readonly nareas: number;
  readonly areaNslabs: number;
  readonly forceBounce: boolean;
  /** Per-slot metadata (struct io_tlb_slot). alloc_size is signed: a wrapped size_t stays negative. */
  readonly origAddr: BigUint64Array;
  /** origAddr's memory as 32-bit words (the state hash reads these: no BigInt per slot). */
  private readonly origWords: Uint32Array;
  readonly allocSize: Int32Array;
  readonly list: Uint16Array;
  readonly padSlots: Uint16Array;
  /** Per-area next-search index and used count. */
  readonly areaIndex: Int32Array;
  readonly areaUsed: Int32Array;

  /**
   * swiotlb_init_remap(): nslabs is ALIGN(slots, 128); the area count is the configured one or the
   * CPU count, rounded up to a power of two (swiotlb_adjust_nareas), and nslabs then grows to at
   * least 128 slots per area and to a power of two (round_up_default_nslabs). The pool is
   * memblock_alloc_low()'d: top-down in RAM below 4 GiB, page aligned, unless platform.swiotlb.base
   * places it.
   */
  constructor(readonly k: Kernel, platform: PlatformConfig) {
    const cfg = platform.swiotlb;
    this.forceBounce = cfg.force;
    let nslabs = Math.ceil(Math.max(0, cfg.slots) / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
    let nareas = 1;
    if (nslabs > 0) {
      nareas = roundup_pow_of_two(cfg.areas ?? platform.cpus);
      nslabs = roundup_pow_of_two(Math.max(nslabs, IO_TLB_SEGSIZE * nareas));
    }
    this.nslabs = nslabs;
    this.nareas = nareas;
    this.areaNslabs = nslabs / nareas;
    const bytes = BigInt(nslabs) << BigInt(IO_TLB_SHIFT);
    let start = 0n;
    if (nslabs > 0) {
      if (cfg.base !== undefined) {
        if (cfg.base % BigInt(IO_TLB_SIZE) !== 0n) throw new ModelInputError(`platform.swiotlb.base ${hex016(cfg.base)} is not 2 KiB aligned`);
        start = cfg.base;
        k.mem.reserve(start, bytes, 'the swiotlb pool');
      } else {
        const at = k.mem.reserveLow(bytes, BigInt(platform.pageSize), 'the swiotlb pool');
        if (at === null) throw new ModelInputError(`platform.swiotlb: no room for ${nslabs} slots (${bytes >> 20n} MiB) in RAM below 4 GiB; give swiotlb.base or fewer slots`);
        start = at;
      }
    }
    this.start = start;
    this.end = start + bytes;
    this.origAddr = new BigUint64Array(nslabs).fill(INVALID_PHYS_ADDR);
    this.origWords = new Uint32Array(this.origAddr.buffer);
    this.allocSize = new Int32Array(nslabs);
    this.list = new Uint16Array(nslabs);
    this.padSlots = new Uint16Array(nslabs);
    // swiotlb_init_io_tlb_pool: each slot's list counts the free slots to its segment's end.
    for (let i = 0; i < nslabs; i++) this.list[i] = IO_TLB_SEGSIZE - (i % IO_TLB_SEGSIZE);
    this.areaIndex = new Int32Array(nareas);
    this.areaUsed = new Int32Array(nareas);
  }

  get totalSlots(): number {
    return this.nslabs;
  }

  /** mem_used(): slots in use across all areas. */
  get usedSlots(): number {
    let n = 0;
    for (let a = 0; a < this.nareas; a++) n += this.areaUsed[a]!;
    return n;
  }

  slotList(i: number): number {
    return this.list[i]!;
  }
  slotOrig(i: number): bigint {
    return this.origAddr[i]!;
  }
  slotAllocSize(i: number): number {
    return this.allocSize[i]!;
  }
  slotPad(i: number): number {
    return this.padSlots[i]!;
  }
  /** Slot index of a bounce address. */
  slotOf(tlb: bigint): number {
    return Number((tlb - this.start) >> BigInt(IO_TLB_SHIFT));
  }
  slotAddr(i: number): bigint {
    return this.start + (BigInt(i) << BigInt(IO_TLB_SHIFT));
  }

  hashInto(h: Hasher): void {
    h.big(this.start).u32(this.nslabs).u32(this.nareas);
    for (let a = 0; a < this.nareas; a++) h.u32(this.areaIndex[a]!).u32(this.areaUsed[a]!);
    // orig_addr read as its two 32-bit words (what Hasher.big folds, low then high): reading the
    // BigUint64Array made a BigInt per slot at every state mark (BENCHMARKS.md, eleventh round).
    const words = this.origWords;
    const lo = LITTLE_ENDIAN ? 0 : 1;
    for (let i = 0; i < this.nslabs; i++) {
      h.u32(this.list[i]!);
      const low = words[2 * i + lo]!;
      const high = words[2 * i + 1 - lo]!;
      // INVALID_PHYS_ADDR is all ones in both words.
      if (this.list[i] === 0 || low !== 0xffffffff || high !== 0xffffffff) h.u32(low).u32(high).u32(this.allocSize[i]!).u32(this.padSlots[i]!);
    }
  }
}

/** is_swiotlb_active(dev): the device's io_tlb_mem has a pool. */
export function is_swiotlb_active(k: Kernel, _dev: Device): boolean {
  return k.swiotlb.nslabs > 0;
}

/** is_swiotlb_force_bounce(dev): swiotlb=force. */
export function is_swiotlb_force_bounce(k: Kernel, _dev: Device): boolean {
  return k.swiotlb.forceBounce;
}

/** is_swiotlb_buffer(dev, phys) / swiotlb_find_pool(): phys lies inside the pool. */
export function is_swiotlb_buffer(k: Kernel, _dev: Device, phys: bigint): boolean {
  const m = k.swiotlb;
  return m.nslabs > 0 && phys >= m.start && phys < m.end;
}

/** swiotlb_align_offset(dev, align_mask, addr): the low bits of addr the bounce address must keep. */
export function swiotlb_align_offset(dev: Device, align_mask: number, addr: bigint): number {
  return low32(addr) & dev.minAlignMask & (align_mask | (IO_TLB_SIZE - 1));
}

/** swiotlb_max_mapping_size(dev): 256 KiB less the largest min_align_mask padding. */
export function swiotlb_max_mapping_size(_k: Kernel, dev: Device): bigint {
  const min_align = dev.minAlignMask ? Math.ceil(dev.minAlignMask / IO_TLB_SIZE) * IO_TLB_SIZE : 0;
  return BigInt(IO_TLB_SIZE * IO_TLB_SEGSIZE - min_align);
}

/** swiotlb_search_pool_area(): one area's search; returns the first slot index or -1. */
function swiotlb_search_pool_area(k: Kernel, dev: Device, area_index: number, orig_addr: bigint, alloc_size: number, alloc_align_mask: number): number {
  const m = k.swiotlb;
  const boundary_mask = dev.segmentBoundaryMask;
  const tbl_dma_addr = phys_to_dma_unencrypted(dev, m.start) & boundary_mask;
  // Only low bits take part in the alignment tests (all masks are below 2^32).
  const tblLow = low32(tbl_dma_addr);
  const origLow = low32(orig_addr);
  let iotlb_align_mask = dev.minAlignMask;
  const nslots = nr_slots(alloc_size);
  const offset = swiotlb_align_offset(dev, 0, orig_addr);
  if (nslots === 0) k.BUG('kernel/dma/swiotlb.c', 'swiotlb_search_pool_area');

  // Historically, streaming buffers of at least a page were page aligned; kept for them.
  if (!alloc_align_mask && !iotlb_align_mask && alloc_size >= k.cfg.platform.pageSize) alloc_align_mask = k.cfg.platform.pageSize - 1;
  alloc_align_mask = (alloc_align_mask | (IO_TLB_SIZE - 1)) >>> 0;
  iotlb_align_mask = (iotlb_align_mask & ~alloc_align_mask) >>> 0;
  const stride = (Math.max(alloc_align_mask, iotlb_align_mask) >>> IO_TLB_SHIFT) + 1;
  const checkBoundary = boundary_mask !== U64_MAX;

  if (nslots > m.areaNslabs - m.areaUsed[area_index]!) return -1;
  const slot_base = area_index * m.areaNslabs;
  let index = m.areaIndex[area_index]!;
  let slot_index = 0;
  let found = false;
  for (let slots_checked = 0; slots_checked < m.areaNslabs; ) {
    slot_index = slot_base + index;
    const tlbLow = (tblLow + slot_index * IO_TLB_SIZE) >>> 0;
    if ((tlbLow & alloc_align_mask) !== 0 || (orig_addr !== 0n && (tlbLow & iotlb_align_mask) !== (origLow & iotlb_align_mask))) {
      index = wrap_area_index(m, index + 1);
      slots_checked++;
      continue;
    }
    if (m.list[slot_index]! >= nslots && !(checkBoundary && iommu_is_span_boundary(slot_index, nslots, tbl_dma_addr, boundary_mask))) {
      found = true;
      break;
    }
    index = wrap_area_index(m, index + stride);
    slots_checked += stride;
  }
  if (!found) return -1;

  for (let i = slot_index; i < slot_index + nslots; i++) {
    m.list[i] = 0;
    m.allocSize[i] = alloc_size - (offset + (i - slot_index) * IO_TLB_SIZE);
  }
  let count = 0;
  for (let i = slot_index - 1; i >= 0 && i % IO_TLB_SEGSIZE !== IO_TLB_SEGSIZE - 1 && m.list[i] !== 0; i--) m.list[i] = ++count;
  m.areaIndex[area_index] = wrap_area_index(m, index + nslots);
  m.areaUsed[area_index] = m.areaUsed[area_index]! + nslots;
  return slot_index;
}

function wrap_area_index(m: SwiotlbMem, index: number): number {
  return index >= m.areaNslabs ? 0 : index;
}

/** iommu_is_span_boundary() in slots (the default boundary, ULONG_MAX, is never crossed). */
function iommu_is_span_boundary(index: number, nr: number, tbl_dma_addr: bigint, boundary_mask: bigint): boolean {
  const max_slots = (boundary_mask >> BigInt(IO_TLB_SHIFT)) + 1n;
  const shift = BigInt(nr_slots(Number(tbl_dma_addr)));
  const off = (shift + BigInt(index)) & (max_slots - 1n);
  return off + BigInt(nr) > max_slots;
}

/** swiotlb_find_slots(): areas from the acting CPU's, with wrap-around. */
function swiotlb_find_slots(k: Kernel, dev: Device, orig_addr: bigint, alloc_size: number, alloc_align_mask: number): number {
  const m = k.swiotlb;
  if (alloc_size > IO_TLB_SEGSIZE * IO_TLB_SIZE) return -1;
  const start = k.cpu & (m.nareas - 1);
  let i = start;
  do {
    const index = swiotlb_search_pool_area(k, dev, i, orig_addr, alloc_size, alloc_align_mask);
    if (index >= 0) return index;
    if (++i >= m.nareas) i = 0;
  } while (i !== start);
  return -1;
}

/** swiotlb_tbl_map_single(): a bounce buffer for [orig, orig+mapping_size); its phys or DMA_MAPPING_ERROR. */
export function swiotlb_tbl_map_single(k: Kernel, dev: Device, orig: bigint, mapping_size: number, alloc_align_mask: number, dir: number, attrs: number): bigint {
  const m = k.swiotlb;
  k.out.ran.swiotlb = true;
  if (m.nslabs === 0) {
    k.dev_warn_ratelimited(dev, 'swiotlb_tbl_map_single', 'swiotlb_tbl_map_single:nomem', "Can not allocate SWIOTLB buffer earlier and can't now provide you with the DMA bounce buffer");
    return DMA_MAPPING_ERROR;
  }
  if (alloc_align_mask > k.cfg.platform.pageSize - 1) {
    k.dev_WARN_ONCE(dev, 'kernel/dma/swiotlb.c', 'swiotlb_tbl_map_single', 'Alloc alignment may prevent fulfilling requests with max mapping_size');
  }
  let offset = swiotlb_align_offset(dev, alloc_align_mask, orig);
  const align = alloc_align_mask + 1;
  const size = Math.ceil((mapping_size + offset) / align) * align;
  let index = swiotlb_find_slots(k, dev, orig, size, alloc_align_mask);
  if (index === -1) {
    if (!(attrs & DMA_ATTR_NO_WARN)) {
      k.dev_warn_ratelimited(dev, 'swiotlb_tbl_map_single', 'swiotlb_tbl_map_single:full', `swiotlb buffer is full (sz: ${size} bytes), total ${m.nslabs} (slots), used ${m.usedSlots} (slots)`);
    }
    return DMA_MAPPING_ERROR;
  }
  dev.dmaSkipSync = false; // dma_reset_need_sync(): bounce buffers always need sync
  const pad_slots = offset >> IO_TLB_SHIFT;
  offset &= IO_TLB_SIZE - 1;
  index += pad_slots;
  m.padSlots[index] = pad_slots;
  for (let i = 0; i < nr_slots(size) - pad_slots; i++) m.origAddr[index + i] = BigInt.asUintN(64, orig + BigInt(i * IO_TLB_SIZE));
  const tlb_addr = m.slotAddr(index) + BigInt(offset);
  // Always copy in, whatever the direction: a partial device write must not expose stale bounce bytes.
  swiotlb_bounce(k, dev, tlb_addr, mapping_size, DMA_TO_DEVICE);
  return tlb_addr;
}

/** swiotlb_bounce(): copy between the original buffer and its bounce slots, clamped to the allocation. */
function swiotlb_bounce(k: Kernel, dev: Device, tlb_addr: bigint, size: number, dir: number): void {
  const m = k.swiotlb;
  const index = m.slotOf(tlb_addr);
  let orig_addr = m.origAddr[index]!;
  let alloc_size = m.allocSize[index]!;
  if (orig_addr === INVALID_PHYS_ADDR) return;
  k.out.ran.swiotlb = true;
  const tlb_offset = (low32(tlb_addr) & (IO_TLB_SIZE - 1)) - swiotlb_align_offset(dev, 0, orig_addr);
  orig_addr = BigInt.asUintN(64, orig_addr + BigInt(tlb_offset));
  alloc_size -= tlb_offset;
  // alloc_size is a size_t in the kernel: a negative value is huge and never clamps.
  if (alloc_size >= 0 && size > alloc_size) {
    k.dev_WARN_ONCE(dev, 'kernel/dma/swiotlb.c', 'swiotlb_bounce', `Buffer overflow detected. Allocation size: ${alloc_size}. Mapping size: ${size}.`);
    size = alloc_size;
  }
  if (dir === DMA_TO_DEVICE) k.mem.copy(tlb_addr, orig_addr, size);
  else k.mem.copy(orig_addr, tlb_addr, size);
}

/** swiotlb_release_slots(): give the allocation back and renumber the free runs around it. */
function swiotlb_release_slots(k: Kernel, dev: Device, tlb_addr: bigint): void {
  const m = k.swiotlb;
  const offset = swiotlb_align_offset(dev, 0, tlb_addr);
  let index = m.slotOf(tlb_addr - BigInt(offset));
  index -= m.padSlots[index]!;
  if (m.list[index] !== 0) {
    // The kernel has no guard here and would corrupt its counters; the model reports and refuses.
    k.finding('double-free', `swiotlb slot ${index} released while free [tlb addr=${hex016(tlb_addr)}] [device=${dev.name}]`);
    return;
  }
  const nslots = Math.min(nr_slots(m.allocSize[index]! + offset), m.nslabs - index);
  const aindex = Math.floor(index / m.areaNslabs);
  const segEnd = (Math.floor(index / IO_TLB_SEGSIZE) + 1) * IO_TLB_SEGSIZE;
  let count = index + nslots < segEnd ? m.list[index + nslots]! : 0;
  for (let i = index + nslots - 1; i >= index; i--) {
    m.list[i] = ++count;
    m.origAddr[i] = INVALID_PHYS_ADDR;
    m.allocSize[i] = 0;
    m.padSlots[i] = 0;
  }
  for (let i = index - 1; i >= 0 && i % IO_TLB_SEGSIZE !== IO_TLB_SEGSIZE - 1 && m.list[i] !== 0; i--) m.list[i] = ++count;
  m.areaUsed[aindex] = m.areaUsed[aindex]! - nslots;
  k.out.ran.swiotlb = true;
}

/** __swiotlb_tbl_unmap_single(): copy back per direction (unless SKIP_CPU_SYNC), then release. */
function __swiotlb_tbl_unmap_single(k: Kernel, dev: Device, tlb_addr: bigint, mapping_size: number, dir: number, attrs: number): void {
  if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC) && (dir === DMA_FROM_DEVICE || dir === DMA_BIDIRECTIONAL)) swiotlb_bounce(k, dev, tlb_addr, mapping_size, DMA_FROM_DEVICE);
  swiotlb_release_slots(k, dev, tlb_addr);
}

/** swiotlb_tbl_unmap_single() (the swiotlb.h inline): a no-op unless tlb_addr is in the pool. */
export function swiotlb_tbl_unmap_single(k: Kernel, dev: Device, tlb_addr: bigint, mapping_size: number, dir: number, attrs: number): void {
  if (is_swiotlb_buffer(k, dev, tlb_addr)) __swiotlb_tbl_unmap_single(k, dev, tlb_addr, mapping_size, dir, attrs);
}

/** swiotlb_sync_single_for_device(): original → bounce for TO_DEVICE / BIDIRECTIONAL. */
export function swiotlb_sync_single_for_device(k: Kernel, dev: Device, tlb_addr: bigint, size: number, dir: number): void {
  if (!is_swiotlb_buffer(k, dev, tlb_addr)) return;
  if (dir === DMA_TO_DEVICE || dir === DMA_BIDIRECTIONAL) swiotlb_bounce(k, dev, tlb_addr, size, DMA_TO_DEVICE);
  else if (dir !== DMA_FROM_DEVICE) k.BUG('kernel/dma/swiotlb.c', '__swiotlb_sync_single_for_device');
}

/** swiotlb_sync_single_for_cpu(): bounce → original for FROM_DEVICE / BIDIRECTIONAL. */
export function swiotlb_sync_single_for_cpu(k: Kernel, dev: Device, tlb_addr: bigint, size: number, dir: number): void {
  if (!is_swiotlb_buffer(k, dev, tlb_addr)) return;
  if (dir === DMA_FROM_DEVICE || dir === DMA_BIDIRECTIONAL) swiotlb_bounce(k, dev, tlb_addr, size, DMA_FROM_DEVICE);
  else if (dir !== DMA_TO_DEVICE) k.BUG('kernel/dma/swiotlb.c', '__swiotlb_sync_single_for_cpu');
}

/** swiotlb_map() (dma-direct's bounce): trace, bounce, check the slot is addressable, cache op. */
export function swiotlb_map(k: Kernel, dev: Device, paddr: bigint, size: number, dir: number, attrs: number): bigint {
  k.out.path = 'swiotlb';
  k.out.ran.swiotlb = true;
  trace_swiotlb_bounced(k, dev, phys_to_dma(dev, paddr), size);
  const swiotlb_addr = swiotlb_tbl_map_single(k, dev, paddr, size, 0, dir, attrs);
  if (swiotlb_addr === DMA_MAPPING_ERROR) return DMA_MAPPING_ERROR;
  const dma_addr = phys_to_dma_unencrypted(dev, swiotlb_addr);
  if (!dma_capable(dev, dma_addr, size, true)) {
    __swiotlb_tbl_unmap_single(k, dev, swiotlb_addr, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    k.dev_WARN_ONCE(dev, 'kernel/dma/swiotlb.c', 'swiotlb_map', `swiotlb addr ${hex016(dma_addr)}+${size} overflow (mask ${hex(dev.dmaMask ?? 0n)}, bus limit ${hex(dev.busDmaLimit)}).`);
    return DMA_MAPPING_ERROR;
  }
  if (!dev.coherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC)) arch_sync_dma_for_device(k, swiotlb_addr, size, dir);
  return dma_addr;
}
