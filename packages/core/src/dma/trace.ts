// Trace events of include/trace/events/dma.h and include/trace/events/swiotlb.h, in the print
// format of the machine's profile (6.18: dma_map_phys / dma_unmap_phys; 6.17: dma_map_page,
// dma_unmap_page, dma_map_resource, dma_unmap_resource). Text is what TP_printk prints.

import type { SgList, Segment, TraceRec } from '../events.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import type { U64 } from '../util/exact.ts';
import { hex, hex016, pad16 } from '../util/hex.ts';
import { ATTR_TABLE, DIR_TRACE_NAMES, DMA_ATTR_MMIO, DMA_MAPPING_ERROR } from './defs.ts';
import { is_swiotlb_force_bounce } from './swiotlb.ts';

/** x86-64 PAGE_OFFSET (4-level paging, no KASLR): the linear-map address of a physical page. */
const PAGE_OFFSET = 0xffff888000000000n;

/** __print_flags(attrs, "|", ...): known names in table order, leftover bits as 0x%lx. 6.17 has no MMIO. */
export function decode_dma_attrs(k: Kernel, attrs: number): string {
  return attrsText(k.is618, attrs);
}

function attrsText(is618: boolean, attrs: number): string {
  if (attrs === 0) return '';
  let rest = attrs;
  let out = '';
  for (const [bit, name] of ATTR_TABLE) {
    if (rest === 0) break;
    if (bit === DMA_ATTR_MMIO && !is618) continue;
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

/**
 * The trace records that most calls make, kept as their fields: the text is formatted only when
 * something reads it (a scenario's expect, `--trace`, a divergence report). Formatting every
 * record's text cost about a sixth of a replay of an IOMMU mix, and the outcome digest of log
 * format 3 folds these fields instead of the text (log/digest.ts; docs/log-format.md lists the
 * kinds). The fields are copies taken when the call ran, so later calls cannot change the text.
 * `text` is a getter, so `toJSON` gives the plain { system, name, text } form.
 */
export class Trace implements TraceRec {
  private formatted: string | undefined = undefined;
  // The fields are not to be changed by a reader. Only reset() changes them, when the machine reuses
  // the record for a later event (TracePool, while outcomes are recycled).
  constructor(
    public system: TraceRec['system'],
    public name: string,
    /** TRACE_* below: which fields are meaningful and how the text is formatted. */
    public kind: number,
    /** The device (its name is printed; log format 3 folds its index); null for the iommu kinds. */
    public dev: Device | null,
    /** U64s: the iommu kinds may hold exact values as numbers (util/exact.ts); the other kinds hold bigints. */
    public a: U64,
    public b: U64,
    public c: U64,
    public n: number,
    public dir: number,
    public attrs: number,
    /** 6.18 attrs names (MMIO) for the map/unmap kinds; FORCE for swiotlb_bounced. */
    public flag: boolean,
    /** The scatterlist kinds' arrays (copies): dma addresses or physical addresses, lengths, physical addresses. */
    public xs: readonly bigint[] | null,
    public ys: readonly number[] | null,
    public zs: readonly bigint[] | null,
  ) {}

  /** The record made anew with these fields (what `new Trace(...)` would hold). */
  reset(system: TraceRec['system'], name: string, kind: number, dev: Device | null, a: U64, b: U64, c: U64, n: number, dir: number, attrs: number, flag: boolean, xs: readonly bigint[] | null, ys: readonly number[] | null, zs: readonly bigint[] | null): void {
    this.formatted = undefined;
    this.system = system;
    this.name = name;
    this.kind = kind;
    this.dev = dev;
    this.a = a;
    this.b = b;
    this.c = c;
    this.n = n;
    this.dir = dir;
    this.attrs = attrs;
    this.flag = flag;
    this.xs = xs;
    this.ys = ys;
    this.zs = zs;
  }

  get text(): string {
    return (this.formatted ??= traceText(this));
  }

  toJSON(): { system: TraceRec['system']; name: string; text: string } {
    return { system: this.system, name: this.name, text: this.text };
  }
}

/** Trace kinds (Trace.kind). Numbers are part of log format 3's outcome digest: never renumber. */
export const TRACE_MAP = 1; // a = phys, b = dma, n = size
export const TRACE_UNMAP = 2; // a = dma, n = size
export const TRACE_SYNC = 3; // a = dma, n = size
export const TRACE_MAP_SG = 4; // xs = dma addrs, ys = sizes, zs = phys addrs
export const TRACE_UNMAP_SG = 5; // xs = phys addrs
export const TRACE_IOMMU_MAP = 6; // a = iova, b = paddr, c = size
export const TRACE_IOMMU_UNMAP = 7; // a = iova, b = unmapped size, c = size
export const TRACE_BOUNCED = 8; // a = dev_addr, b = dma_mask, n = size, flag = FORCE

function traceText(t: Trace): string {
  const dir = (): string => decode_dma_data_direction(t.dir);
  switch (t.kind) {
    case TRACE_MAP:
      return `${t.dev!.name} dir=${dir()} dma_addr=${hex(t.b)} size=${t.n} phys_addr=${hex(t.a)} attrs=${attrsText(t.flag, t.attrs)}`;
    case TRACE_UNMAP:
      return `${t.dev!.name} dir=${dir()} dma_addr=${hex(t.a)} size=${t.n} attrs=${attrsText(t.flag, t.attrs)}`;
    case TRACE_SYNC:
      return `${t.dev!.name} dir=${dir()} dma_addr=${hex(t.a)} size=${t.n}`;
    case TRACE_MAP_SG:
      return `${t.dev!.name} dir=${dir()} dma_addrs=${print_array(t.xs!)} sizes=${print_array(t.ys!)} phys_addrs=${print_array(t.zs!)} attrs=${attrsText(t.flag, t.attrs)}`;
    case TRACE_UNMAP_SG:
      return `${t.dev!.name} dir=${dir()} phys_addrs=${print_array(t.xs!)} attrs=${attrsText(t.flag, t.attrs)}`;
    case TRACE_IOMMU_MAP:
      return `IOMMU: iova=${hex016(t.a)} - ${hex016(BigInt(t.a) + BigInt(t.c))} paddr=${hex016(t.b)} size=${t.c}`;
    case TRACE_IOMMU_UNMAP:
      return `IOMMU: iova=${hex016(t.a)} - ${hex016(BigInt(t.a) + BigInt(t.c))} size=${t.c} unmapped_size=${t.b}`;
    case TRACE_BOUNCED:
      return `dev_name: ${t.dev!.name} dma_mask=${hex(t.b)} dev_addr=${hex(t.a)} size=${t.n} ${t.flag ? 'FORCE' : 'NORMAL'}`;
    default:
      throw new Error(`trace kind ${t.kind}`);
  }
}

/**
 * Trace records reused from event to event while Machine.recycleOutcomes is set: a record belongs
 * to its outcome, which is valid only until the next event, so the records of one event are taken
 * again by the next (`used` goes back to 0 at each Machine.apply). Without it every traced call
 * allocated a 15-field record (~90 B an event on the IOMMU mixes; BENCHMARKS.md, ninth round).
 */
export class TracePool {
  readonly items: Trace[] = [];
  used = 0;
}

function rec(k: Kernel, system: TraceRec['system'], name: string, kind: number, dev: Device | null, a: U64, b: U64, c: U64, n: number, dir: number, attrs: number, flag: boolean, xs: readonly bigint[] | null = null, ys: readonly number[] | null = null, zs: readonly bigint[] | null = null): void {
  const pool = k.tracePool;
  if (pool === null) {
    k.traceRec(new Trace(system, name, kind, dev, a, b, c, n, dir, attrs, flag, xs, ys, zs));
    return;
  }
  let t = pool.items[pool.used];
  if (t === undefined) pool.items.push((t = new Trace(system, name, kind, dev, a, b, c, n, dir, attrs, flag, xs, ys, zs)));
  else t.reset(system, name, kind, dev, a, b, c, n, dir, attrs, flag, xs, ys, zs);
  pool.used++;
  k.traceRec(t);
}

function mapRec(k: Kernel, name: string, dev: Device, phys: bigint, dma: bigint, size: number, dir: number, attrs: number): void {
  rec(k, 'dma', name, TRACE_MAP, dev, phys, dma, 0n, size, dir, attrs, k.is618);
}

function unmapRec(k: Kernel, name: string, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  rec(k, 'dma', name, TRACE_UNMAP, dev, addr, 0n, 0n, size, dir, attrs, k.is618);
}

// ---- class dma_map / dma_unmap ----

/** 6.18 and later. */
export function trace_dma_map_phys(k: Kernel, dev: Device, phys: bigint, dma: bigint, size: number, dir: number, attrs: number): void {
  mapRec(k, 'dma_map_phys', dev, phys, dma, size, dir, attrs);
}
export function trace_dma_unmap_phys(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  unmapRec(k, 'dma_unmap_phys', dev, addr, size, dir, attrs);
}
/** 6.12 – 6.17. */
export function trace_dma_map_page(k: Kernel, dev: Device, phys: bigint, dma: bigint, size: number, dir: number, attrs: number): void {
  mapRec(k, 'dma_map_page', dev, phys, dma, size, dir, attrs);
}
export function trace_dma_unmap_page(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  unmapRec(k, 'dma_unmap_page', dev, addr, size, dir, attrs);
}
export function trace_dma_map_resource(k: Kernel, dev: Device, phys: bigint, dma: bigint, size: number, dir: number, attrs: number): void {
  mapRec(k, 'dma_map_resource', dev, phys, dma, size, dir, attrs);
}
export function trace_dma_unmap_resource(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  unmapRec(k, 'dma_unmap_resource', dev, addr, size, dir, attrs);
}

/** iommu:map (include/trace/events/iommu.h), traced by iommu_map_nosync. */
export function trace_iommu_map(k: Kernel, iova: U64, paddr: U64, size: U64): void {
  rec(k, 'iommu', 'map', TRACE_IOMMU_MAP, null, iova, paddr, size, 0, 0, 0, false);
}
/** iommu:unmap, traced by __iommu_unmap. */
export function trace_iommu_unmap(k: Kernel, iova: U64, size: U64, unmapped: U64): void {
  rec(k, 'iommu', 'unmap', TRACE_IOMMU_UNMAP, null, iova, unmapped, size, 0, 0, 0, false);
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
  const n = Math.min(ents, sg.dma.length);
  const addrs = new Array<bigint>(n);
  const lens = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const d = sg.dma[i]!;
    addrs[i] = d.addr;
    lens[i] = d.len;
  }
  rec(k, 'dma', 'dma_map_sg', TRACE_MAP_SG, dev, 0n, 0n, 0n, 0, dir, attrs, k.is618, addrs, lens, physOf(sg.segments));
}

function physOf(segments: readonly Segment[]): bigint[] {
  const xs = new Array<bigint>(segments.length);
  for (let i = 0; i < segments.length; i++) xs[i] = segments[i]!.phys;
  return xs;
}

/** The array named dma_addrs holds the *physical* addresses of the input list (as the kernel's does). */
export function trace_dma_map_sg_err(k: Kernel, dev: Device, segments: readonly Segment[], err: number, dir: number, attrs: number): void {
  k.trace(
    'dma',
    'dma_map_sg_err',
    `${dev.name} dir=${decode_dma_data_direction(dir)} dma_addrs=${print_array(physOf(segments))} err=${err} attrs=${decode_dma_attrs(k, attrs)}`,
  );
}

export function trace_dma_unmap_sg(k: Kernel, dev: Device, segments: readonly Segment[], dir: number, attrs: number): void {
  rec(k, 'dma', 'dma_unmap_sg', TRACE_UNMAP_SG, dev, 0n, 0n, 0n, 0, dir, attrs, k.is618, physOf(segments));
}

// ---- sync ----

export function trace_dma_sync_single_for_cpu(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  rec(k, 'dma', 'dma_sync_single_for_cpu', TRACE_SYNC, dev, addr, 0n, 0n, size, dir, 0, false);
}
export function trace_dma_sync_single_for_device(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  rec(k, 'dma', 'dma_sync_single_for_device', TRACE_SYNC, dev, addr, 0n, 0n, size, dir, 0, false);
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
  rec(k, 'swiotlb', 'swiotlb_bounced', TRACE_BOUNCED, dev, dev_addr, dev.dmaMask ?? 0n, 0n, size, 0, 0, is_swiotlb_force_bounce(k, dev));
}
