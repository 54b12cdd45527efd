// dma-debug (kernel/dma/debug.c, CONFIG_DMA_API_DEBUG): the DMA API checker beside the API. The
// front door (mapping.ts) calls these debug_* hooks where the kernel does; the checks and their
// messages live in debug-core.ts, the hash and cacheline bookkeeping in debug-hash.ts.

import type { SgList } from '../events.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import { hex016, pad16 } from '../util/hex.ts';
import { DMA_ATTR_MMIO, DMA_BIDIRECTIONAL, DMA_MAPPING_ERROR } from './defs.ts';
import { dir2name, pfn_valid } from './debug-core.ts';
import { MAP_ERR_CHECK_NOT_APPLICABLE, MAP_ERR_NOT_CHECKED, type DebugEntry, type DebugRef, type DebugType } from './debug-hash.ts';
import { exactRange } from '../util/exact.ts';

export { DmaDebug, pfn_valid, to_cacheline_number, type ResourceRamCheck } from './debug-core.ts';
export { HASH_SIZE, hash_fn, type DebugEntry, type DebugType } from './debug-hash.ts';

/** x86-64 PAGE_OFFSET (4-level paging, no KASLR): phys_to_virt() of the linear map. */
const PAGE_OFFSET = 0xffff888000000000n;

/**
 * dma_entry_alloc() and the fields the hook fills in, then the map site. The fields come as
 * arguments, not as an object: a scatterlist made that object for every element.
 */
function newEntry(
  k: Kernel, dev: Device, type: DebugType, paddr: bigint, devAddr: bigint, size: number, direction: number,
  sgCallEnts: number, sgMappedEnts: number, mapErrType: number, hook: string, api: string,
): DebugEntry {
  // A freed entry (its links are null since hash_bucket_del), else a new one; every field set here.
  const r = k.debug.spareEntry() ?? blankEntry(dev);
  r.dev = dev;
  r.type = type;
  r.paddr = paddr;
  r.devAddr = devAddr;
  r.size = size;
  r.direction = direction;
  r.sgCallEnts = sgCallEnts;
  r.sgMappedEnts = sgMappedEnts;
  r.mapErrType = mapErrType;
  r.hook = hook;
  r.api = api;
  r.seq = k.seq;
  r.cpu = k.cpu;
  r.devAddrN = exactRange(devAddr, size);
  return k.debug.dma_entry_alloc(r);
}

/** An entry with every field, in one order: all entries share one object shape (hot path). */
function blankEntry(dev: Device): DebugEntry {
  return {
    dev, type: 'phy', paddr: 0n, devAddr: 0n, size: 0, direction: 0, sgCallEnts: 0, sgMappedEnts: 0, mapErrType: 0,
    hook: '', api: '', seq: 0, cpu: 0, devAddrN: -1,
    bPrev: null, bNext: null, dPrev: null, dNext: null,
  };
}

// ---- hooks called by mapping.ts, where the kernel calls debug_* ----

/** 6.18: every dma_map_phys mapping (RAM or MMIO) is recorded as type "phy". */
export function debug_dma_map_phys(k: Kernel, dev: Device, phys: bigint, size: number, dir: number, addr: bigint, attrs: number): void {
  const d = k.debug;
  if (!d.enabled) return;
  if (d.dma_mapping_error(dev, addr)) return;
  const entry = newEntry(
    k, dev, 'phy', phys, addr, size, dir, 0, 0, MAP_ERR_NOT_CHECKED,
    'debug_dma_map_phys', 'dma_map_phys',
  );
  if (attrs & DMA_ATTR_MMIO) {
    // PageReserved is not modelled: every RAM page counts as an ordinary one.
    if (d.resourceRamCheck === 'debug' && pfn_valid(k, phys)) {
      d.err_printk(dev, entry, 'debug_dma_map_phys', `dma_map_resource called for RAM address ${hex016(phys)}`);
    }
  }
  // Otherwise check_for_stack() / check_for_illegal_area() would run: dmasim has no task stacks
  // and no kernel text or rodata, so they never fire.
  d.add_dma_entry(entry, attrs);
}

export function debug_dma_unmap_phys(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, _attrs: number): void {
  if (!k.debug.enabled) return;
  k.debug.check_unmap({ dev, type: 'phy', paddr: 0n, devAddr: addr, size, direction: dir, sgCallEnts: 0 });
}

/** 6.17: dma_map_page_attrs records type "single". */
export function debug_dma_map_page(k: Kernel, dev: Device, phys: bigint, size: number, dir: number, addr: bigint, attrs: number): void {
  const d = k.debug;
  if (!d.enabled) return;
  if (d.dma_mapping_error(dev, addr)) return;
  const entry = newEntry(
    k, dev, 'single', phys, addr, size, dir, 0, 0, MAP_ERR_NOT_CHECKED,
    'debug_dma_map_page', 'dma_map_page_attrs',
  );
  d.add_dma_entry(entry, attrs);
}

export function debug_dma_unmap_page(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  if (!k.debug.enabled) return;
  k.debug.check_unmap({ dev, type: 'single', paddr: 0n, devAddr: addr, size, direction: dir, sgCallEnts: 0 });
}

/** 6.17: dma_map_resource records type "resource" — even at DMA_MAPPING_ERROR (row D6). */
export function debug_dma_map_resource(k: Kernel, dev: Device, phys: bigint, size: number, dir: number, addr: bigint, attrs: number): void {
  const d = k.debug;
  if (!d.enabled) return;
  const entry = newEntry(
    k, dev, 'resource', phys, addr, size, dir, 0, 0, MAP_ERR_NOT_CHECKED,
    'debug_dma_map_resource', 'dma_map_resource',
  );
  d.add_dma_entry(entry, attrs);
}

export function debug_dma_unmap_resource(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  if (!k.debug.enabled) return;
  k.debug.check_unmap({ dev, type: 'resource', paddr: 0n, devAddr: addr, size, direction: dir, sgCallEnts: 0 });
}

/**
 * dma_map_single's check on the virtual address. The kernel prints it with %p (hashed); we print
 * the linear-map address unhashed, as a kernel booted with no_hash_pointers does.
 */
export function debug_dma_map_single(k: Kernel, dev: Device, phys: bigint, size: number): void {
  if (!k.debug.enabled) return;
  // dmasim maps by physical address, so the vmalloc-area check cannot apply (row A8 refuses
  // vmalloc memory before this hook in any case).
  if (!pfn_valid(k, phys)) {
    const addr = pad16(BigInt.asUintN(64, PAGE_OFFSET + phys));
    k.debug.err_printk(dev, null, 'debug_dma_map_single', `device driver maps memory from invalid area [addr=${addr}] [len=${size}]`);
  }
}

/** Marks the first exact match still "not checked" as checked. */
export function debug_dma_mapping_error(k: Kernel, dev: Device, addr: bigint): void {
  if (!k.debug.enabled) return;
  k.debug.mark_checked(dev, addr);
}

/** One entry per mapped DMA segment, with the paddr of the input entry at the same index. */
export function debug_dma_map_sg(k: Kernel, dev: Device, sg: SgList, dir: number, attrs: number): void {
  const d = k.debug;
  if (!d.enabled) return;
  const nents = sg.segments.length;
  const mapped = sg.dma.length;
  for (let i = 0; i < mapped; i++) {
    const seg = sg.segments[i];
    const dma = sg.dma[i]!;
    const entry = newEntry(
      k, dev, 'scatter-gather', seg?.phys ?? 0n, dma.addr, dma.len, dir, nents, mapped, MAP_ERR_CHECK_NOT_APPLICABLE,
      'debug_dma_map_sg', '__dma_map_sg_attrs',
    );
    d.check_sg_segment(dev, seg?.size ?? 0, dma);
    d.add_dma_entry(entry, attrs);
  }
}

/**
 * The reference for element i of a list. Elements past the mapped count carry what dma-iommu
 * leaves there (DMA_MAPPING_ERROR, length 0); dma-direct maps every element. Filled into one
 * object that serves every element (as the kernel's on-stack ref): the checks read it and keep
 * nothing of it.
 */
function sgRef(dev: Device, sg: SgList, i: number, dir: number): DebugRef {
  const dma = sg.dma[i];
  const r = sgScratch;
  r.dev = dev;
  r.paddr = sg.segments[i]?.phys ?? 0n;
  r.devAddr = dma ? dma.addr : DMA_MAPPING_ERROR;
  r.size = dma ? dma.len : 0;
  r.direction = dir;
  r.sgCallEnts = sg.segments.length;
  return r;
}

const sgScratch: DebugRef = { dev: null as unknown as Device, type: 'scatter-gather', paddr: 0n, devAddr: 0n, size: 0, direction: 0, sgCallEnts: 0 };

/** nelems is the list's nents; the walk stops after the mapped count found for element 0. */
export function debug_dma_unmap_sg(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  const d = k.debug;
  if (!d.enabled) return;
  let mapped = 0;
  for (let i = 0; i < sg.segments.length; i++) {
    const ref = sgRef(dev, sg, i, dir);
    if (mapped && i >= mapped) break;
    if (i === 0) mapped = d.get_nr_mapped_entries(ref);
    d.check_unmap(ref);
  }
}

function syncSingle(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, toCpu: boolean): void {
  if (!k.debug.enabled) return;
  k.debug.check_sync({ dev, type: 'single', paddr: 0n, devAddr: addr, size, direction: dir, sgCallEnts: 0 }, toCpu);
}

export function debug_dma_sync_single_for_cpu(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  syncSingle(k, dev, addr, size, dir, true);
}

export function debug_dma_sync_single_for_device(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  syncSingle(k, dev, addr, size, dir, false);
}

/** Unlike unmap, a list whose first element is unknown is not checked at all (mapped count 0). */
function syncSg(k: Kernel, dev: Device, sg: SgList, dir: number, toCpu: boolean): void {
  const d = k.debug;
  if (!d.enabled) return;
  let mapped = 0;
  for (let i = 0; i < sg.segments.length; i++) {
    const ref = sgRef(dev, sg, i, dir);
    if (i === 0) mapped = d.get_nr_mapped_entries(ref);
    if (i >= mapped) break;
    d.check_sync(ref, toCpu);
  }
}

export function debug_dma_sync_sg_for_cpu(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  syncSg(k, dev, sg, dir, true);
}

export function debug_dma_sync_sg_for_device(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  syncSg(k, dev, sg, dir, false);
}

function pageAlign(k: Kernel, phys: bigint): bigint {
  const page = BigInt(k.cfg.platform.pageSize);
  return phys - (phys % page);
}

/** cpuAddr null = the allocation failed (virt == NULL): nothing is recorded. */
export function debug_dma_alloc_coherent(k: Kernel, dev: Device, size: number, dmaAddr: bigint, cpuAddr: bigint | null, attrs: number): void {
  const d = k.debug;
  if (!d.enabled || cpuAddr === null) return;
  if (!pfn_valid(k, cpuAddr)) return;
  const entry = newEntry(
    k, dev, 'coherent', pageAlign(k, cpuAddr), dmaAddr, size, DMA_BIDIRECTIONAL, 0, 0, MAP_ERR_CHECK_NOT_APPLICABLE,
    'debug_dma_alloc_coherent', 'dma_alloc_attrs',
  );
  d.add_dma_entry(entry, attrs);
}

export function debug_dma_free_coherent(k: Kernel, dev: Device, size: number, cpuAddr: bigint, dmaAddr: bigint): void {
  if (!pfn_valid(k, cpuAddr)) return;
  if (!k.debug.enabled) return;
  k.debug.check_unmap({ dev, type: 'coherent', paddr: pageAlign(k, cpuAddr), devAddr: dmaAddr, size, direction: DMA_BIDIRECTIONAL, sgCallEnts: 0 });
}

/** Bus notifier BUS_NOTIFY_UNBOUND_DRIVER (dma_debug_device_change): the leak report. */
export function debug_dma_unbind(k: Kernel, dev: Device): void {
  const d = k.debug;
  d.markUnbound(dev);
  if (!d.enabled) return;
  const { count, entry } = d.device_dma_allocations(dev);
  if (count === 0 || !entry) return;
  d.err_printk(
    dev,
    entry,
    'dma_debug_device_change',
    `device driver has pending DMA allocations while released from device [count=${count}]\n` +
      `One of leaked entries details: [device address=${hex016(entry.devAddr)}] [size=${entry.size} bytes] ` +
      `[mapped with ${dir2name(entry.direction)}] [mapped as ${entry.type}]`,
  );
}
