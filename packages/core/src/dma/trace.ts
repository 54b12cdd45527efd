// Trace events of include/trace/events/dma.h and include/trace/events/swiotlb.h, in the print
// format of the machine's profile (6.18: dma_map_phys / dma_unmap_phys; 6.17: dma_map_page,
// dma_unmap_page, dma_map_resource, dma_unmap_resource). Text is what TP_printk prints.

import type { SgList, Segment } from '../events.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import { hex, pad16 } from '../util/hex.ts';
import { ATTR_TABLE, DIR_TRACE_NAMES, DMA_ATTR_MMIO, DMA_MAPPING_ERROR } from './defs.ts';
import { is_swiotlb_force_bounce } from './swiotlb.ts';

/** x86-64 PAGE_OFFSET (4-level paging, no KASLR): the linear-map address of a physical page. */
const PAGE_OFFSET = 0xffff888000000000n;

/** __print_flags(attrs, "|", ...): known names in table order, leftover bits as 0x%lx. 6.17 has no MMIO. */
export function decode_dma_attrs(k: Kernel, attrs: number): string {
  let rest = attrs;
  let out = '';
  for (const [bit, name] of ATTR_TABLE) {
    if (rest === 0) break;
    if (bit === DMA_ATTR_MMIO && !k.is618) continue;
    if ((rest & bit) !== bit) continue;
    rest &= ~bit;
    out += out ? `|${name}` : name;
  }
  if (rest) out += `${out ? '|' : ''}0x${(rest >>> 0).toString(16)}`;
  return out;
}

/** __print_symbolic(dir, ...): an unknown value prints as 0x%lx. */
export function decode_dma_data_direction(dir: number): string {
  return DIR_TRACE_NAMES[dir] ?? `0x${(dir >>> 0).toString(16)}`;
}

/** __print_array(): "{0x..,0x..}" (trace_print_array_seq, verified). */
export function print_array(xs: readonly (bigint | number)[]): string {
  let s = '{';
  for (let i = 0; i < xs.length; i++) s += `${i ? ',' : ''}0x${hex(xs[i]!)}`;
  return s + '}';
}

/**
 * virt_addr=%p. The kernel hashes %p with a per-boot key no model can reproduce; dmasim prints
 * it as a kernel booted with no_hash_pointers does: the x86-64 linear-map address, 16 digits.
 * NULL prints as 16 zeros.
 */
export function print_virt(phys: bigint | null): string {
  return phys === null ? '0000000000000000' : pad16(BigInt.asUintN(64, PAGE_OFFSET + phys));
}

function mapText(k: Kernel, dev: Device, phys: bigint, dma: bigint, size: number, dir: number, attrs: number): string {
  return `${dev.name} dir=${decode_dma_data_direction(dir)} dma_addr=${hex(dma)} size=${size} phys_addr=${hex(phys)} attrs=${decode_dma_attrs(k, attrs)}`;
}

function unmapText(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): string {
  return `${dev.name} dir=${decode_dma_data_direction(dir)} dma_addr=${hex(addr)} size=${size} attrs=${decode_dma_attrs(k, attrs)}`;
}

// ---- class dma_map / dma_unmap ----

/** 6.18 and later. */
export function trace_dma_map_phys(k: Kernel, dev: Device, phys: bigint, dma: bigint, size: number, dir: number, attrs: number): void {
  k.trace('dma', 'dma_map_phys', mapText(k, dev, phys, dma, size, dir, attrs));
}
export function trace_dma_unmap_phys(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  k.trace('dma', 'dma_unmap_phys', unmapText(k, dev, addr, size, dir, attrs));
}
/** 6.12 – 6.17. */
export function trace_dma_map_page(k: Kernel, dev: Device, phys: bigint, dma: bigint, size: number, dir: number, attrs: number): void {
  k.trace('dma', 'dma_map_page', mapText(k, dev, phys, dma, size, dir, attrs));
}
export function trace_dma_unmap_page(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  k.trace('dma', 'dma_unmap_page', unmapText(k, dev, addr, size, dir, attrs));
}
export function trace_dma_map_resource(k: Kernel, dev: Device, phys: bigint, dma: bigint, size: number, dir: number, attrs: number): void {
  k.trace('dma', 'dma_map_resource', mapText(k, dev, phys, dma, size, dir, attrs));
}
export function trace_dma_unmap_resource(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  k.trace('dma', 'dma_unmap_resource', unmapText(k, dev, addr, size, dir, attrs));
}

// ---- alloc / free ----

/**
 * dma_alloc: `virt` is the buffer's CPU physical address (null = NULL). flags: the model has no
 * gfp argument; every allocation is GFP_KERNEL. dir is always DMA_BIDIRECTIONAL for dma_alloc_attrs
 * (6.17.0 left the field uninitialised until the fix 16abbabc; the model prints the value passed).
 */
export function trace_dma_alloc(k: Kernel, dev: Device, virt: bigint | null, dma: bigint, size: number, dir: number, attrs: number): void {
  k.trace(
    'dma',
    'dma_alloc',
    `${dev.name} dir=${decode_dma_data_direction(dir)} dma_addr=${hex(dma)} size=${size} virt_addr=${print_virt(virt)} flags=GFP_KERNEL attrs=${decode_dma_attrs(k, attrs)}`,
  );
}

export function trace_dma_free(k: Kernel, dev: Device, virt: bigint | null, dma: bigint, size: number, dir: number, attrs: number): void {
  k.trace(
    'dma',
    'dma_free',
    `${dev.name} dir=${decode_dma_data_direction(dir)} dma_addr=${hex(dma)} size=${size} virt_addr=${print_virt(virt)} attrs=${decode_dma_attrs(k, attrs)}`,
  );
}

// ---- scatter-gather ----

/**
 * dma_map_sg in the 6.13 – 6.18.0 format (the 2026 truncation change, upstream daafcc0e, came to
 * 6.18 only in 6.18.9): dma_addrs/sizes of the `ents` mapped entries, phys_addrs of the nents inputs.
 */
export function trace_dma_map_sg(k: Kernel, dev: Device, sg: SgList, ents: number, dir: number, attrs: number): void {
  const dma = sg.dma.slice(0, ents);
  k.trace(
    'dma',
    'dma_map_sg',
    `${dev.name} dir=${decode_dma_data_direction(dir)} dma_addrs=${print_array(dma.map((d) => d.addr))} sizes=${print_array(dma.map((d) => d.len))} phys_addrs=${print_array(sg.segments.map((s) => s.phys))} attrs=${decode_dma_attrs(k, attrs)}`,
  );
}

/** The array named dma_addrs holds the *physical* addresses of the input list (as the kernel's does). */
export function trace_dma_map_sg_err(k: Kernel, dev: Device, segments: readonly Segment[], err: number, dir: number, attrs: number): void {
  k.trace(
    'dma',
    'dma_map_sg_err',
    `${dev.name} dir=${decode_dma_data_direction(dir)} dma_addrs=${print_array(segments.map((s) => s.phys))} err=${err} attrs=${decode_dma_attrs(k, attrs)}`,
  );
}

export function trace_dma_unmap_sg(k: Kernel, dev: Device, segments: readonly Segment[], dir: number, attrs: number): void {
  k.trace('dma', 'dma_unmap_sg', `${dev.name} dir=${decode_dma_data_direction(dir)} phys_addrs=${print_array(segments.map((s) => s.phys))} attrs=${decode_dma_attrs(k, attrs)}`);
}

// ---- sync ----

export function trace_dma_sync_single_for_cpu(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  k.trace('dma', 'dma_sync_single_for_cpu', `${dev.name} dir=${decode_dma_data_direction(dir)} dma_addr=${hex(addr)} size=${size}`);
}
export function trace_dma_sync_single_for_device(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  k.trace('dma', 'dma_sync_single_for_device', `${dev.name} dir=${decode_dma_data_direction(dir)} dma_addr=${hex(addr)} size=${size}`);
}

/**
 * dma_sync_sg: sg_dma_address/sg_dma_len of all nents elements; elements past the mapped count
 * carry what dma-iommu leaves there (DMA_MAPPING_ERROR, length 0).
 */
function syncSgText(dev: Device, sg: SgList, dir: number): string {
  const addrs: bigint[] = [];
  const lens: number[] = [];
  for (let i = 0; i < sg.segments.length; i++) {
    const d = sg.dma[i];
    addrs.push(d ? d.addr : DMA_MAPPING_ERROR);
    lens.push(d ? d.len : 0);
  }
  return `${dev.name} dir=${decode_dma_data_direction(dir)} dma_addrs=${print_array(addrs)} sizes=${print_array(lens)}`;
}
export function trace_dma_sync_sg_for_cpu(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  k.trace('dma', 'dma_sync_sg_for_cpu', syncSgText(dev, sg, dir));
}
export function trace_dma_sync_sg_for_device(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  k.trace('dma', 'dma_sync_sg_for_device', syncSgText(dev, sg, dir));
}

// ---- swiotlb ----

/** swiotlb:swiotlb_bounced; dev_addr is the bus address of the *original* buffer. */
export function trace_swiotlb_bounced(k: Kernel, dev: Device, dev_addr: bigint, size: number): void {
  k.trace(
    'swiotlb',
    'swiotlb_bounced',
    `dev_name: ${dev.name} dma_mask=${hex(dev.dmaMask ?? 0n)} dev_addr=${hex(dev_addr)} size=${size} ${is_swiotlb_force_bounce(k, dev) ? 'FORCE' : 'NORMAL'}`,
  );
}
