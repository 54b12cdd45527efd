// dma-debug's checker state (kernel/dma/debug.c): error reporting under the budget, add_dma_entry,
// check_unmap, check_sync, check_sg_segment, the leak walk, debugfs dump, and the state hash.

import type { PlatformConfig } from '../config.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import type { Hasher } from '../util/hash.ts';
import { hex, hex016, U64_MAX } from '../util/hex.ts';
import { exactRange } from '../util/exact.ts';
import {
  DIR_DEBUG_NAMES,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
} from './defs.ts';
import {
  ActiveCachelines,
  ACTIVE_CACHELINE_MAX_OVERLAP,
  DebugHash,
  hash_fn,
  HASH_SIZE,
  L1_CACHE_SHIFT,
  MAP_ERR_CHECKED,
  MAP_ERR_NOT_CHECKED,
  maperr2str,
  type DebugEntry,
  type DebugRef,
  type MapSite,
} from './debug-hash.ts';

/** CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC: arm64 selects it; the x86-like default platform does not. */
const DMA_BOUNCE_UNALIGNED_KMALLOC = false;
/** PREALLOC_DMA_DEBUG_ENTRIES (boot default of dma_debug_entries=). */
const PREALLOC_DMA_DEBUG_ENTRIES = 1 << 16;
/** sizeof(struct dma_debug_entry) on 64-bit: 120 bytes, ____cacheline_aligned_in_smp to 128. */
const DMA_DEBUG_ENTRY_BYTES = 128;

/**
 * Where the "dma_map_resource() on RAM" check lives. 'wrapper' = Linux 6.18 as merged: the
 * dma_map_resource() wrapper WARNs and returns DMA_MAPPING_ERROR (row A5, in mapping.ts) and
 * dma-debug itself checks nothing for MMIO. 'debug' = after the May-2026 fix (upstream af0c3f05,
 * backported to 6.18 stable): the wrapper check is gone and debug_dma_map_phys() reports
 * "dma_map_resource called for RAM address" while the mapping proceeds.
 */
export type ResourceRamCheck = 'wrapper' | 'debug';

/**
 * Freed entries are kept for reuse only while at least this many are live: only then do entries
 * outlive the young generation (the 64-device pipeline logs keep 7–14 k live). With the ~2 k of 8
 * devices a new entry dies young and costs less than refilling an old one: a scatterlist's 16
 * entries, refilled, took 5–10 % longer to map and unmap on the direct-only log (BENCHMARKS.md,
 * fifteenth round).
 */
const REUSE_ENTRIES_ABOVE = 4096;

export class DmaDebug {
  /** error_count (debugfs dma-api/error_count): every error, printed or not. */
  errorCount = 0;
  /** show_num_errors: errors still to be printed; spent only while all_errors is off. */
  showNumErrors: number;
  readonly allErrors: boolean;
  /** false = dma_debug_disabled(): every hook returns at once. */
  readonly enabled: boolean;
  /** Profile 6.18 is the series as merged ('wrapper'); 'debug' is selectable for tests and later profiles. */
  resourceRamCheck: ResourceRamCheck = 'wrapper';
  readonly hash = new DebugHash();
  readonly cachelines = new ActiveCachelines();
  /** nr_total_entries: the entry pool (grown a page of entries at a time, never shrunk). */
  nrTotalEntries = PREALLOC_DMA_DEBUG_ENTRIES;
  private overlapWarned = false;
  /**
   * Not state: freed entry objects, which newEntry() refills as the kernel reuses its free_entries.
   * With 64 devices' mappings in flight an entry lives through scavenges and was promoted, the
   * largest kind of object a mapping promoted (BENCHMARKS.md, fifteenth round); a reused entry is
   * old already. Nothing keeps an entry after dma_entry_free: its messages are printed at once.
   */
  private readonly freeEntries: DebugEntry[] = [];
  /** Devices whose driver was released: dev_driver_string() then prints the bus name. */
  private readonly unbound = new Set<Device>();

  constructor(
    readonly k: Kernel,
    readonly cfg: PlatformConfig['dmaDebug'],
  ) {
    this.enabled = cfg.enabled;
    this.showNumErrors = cfg.numErrors;
    this.allErrors = cfg.allErrors;
  }

  /** Live entries (for `debug-entries` expectations and the state summary). */
  get entryCount(): number {
    return this.hash.size;
  }

  deviceEntryCount(dev: Device): number {
    return this.hash.deviceCount(dev);
  }

  /** dev_driver_string(): the driver's name while bound, the bus name after unbind. */
  dev_driver_string(dev: Device): string {
    if (this.unbound.has(dev)) return dev.pci ? 'pci' : 'platform';
    return dev.driver;
  }

  /** debugfs dma-api/dump (dump_show): one line per live entry, buckets in index order. */
  dump(): string[] {
    const lines: string[] = [];
    for (const { idx, entry: e } of this.hash.walk()) {
      lines.push(
        `${this.dev_driver_string(e.dev)} ${e.dev.name} ${e.type} idx ${idx} P=${hex016(e.paddr)} D=${hex(e.devAddr)} ` +
          `L=${hex(e.size)} cln=${hex016(to_cacheline_number(e))} ${dir2name(e.direction)} ${maperr2str[e.mapErrType]}`,
      );
    }
    return lines;
  }

  hashInto(h: Hasher): void {
    h.bool(this.enabled).u32(this.errorCount).u32(this.showNumErrors).bool(this.allErrors);
    h.str(this.resourceRamCheck).u32(this.nrTotalEntries).bool(this.overlapWarned);
    const unbound = [...this.unbound].map((d) => d.name).sort();
    h.u32(unbound.length);
    for (const name of unbound) h.str(name);
    h.u32(this.hash.size);
    for (let idx = 0; idx < HASH_SIZE; idx++) {
      // The walk() order, without a generator step per entry.
      for (let e = this.hash.bucketFirst(idx); e !== null; e = e.bNext) {
        h.u32(idx).str(e.dev.name).str(e.type).big(e.paddr);
        if (e.devAddrN >= 0) h.num(e.devAddrN); // big(devAddr)'s words, without reading the bigint
        else h.big(e.devAddr);
        h.num(e.size).u32(e.direction);
        h.u32(e.sgCallEnts).u32(e.sgMappedEnts).u32(e.mapErrType);
        h.str(e.hook).str(e.api).num(e.seq).u32(e.cpu);
      }
    }
    this.cachelines.hashInto(h);
  }

  /**
   * err_printk(): count the error; print it while the budget lasts (num_errors, default 1) or
   * always with all_errors. The kernel prints it with WARN(), then the entry's saved stack. We have
   * no kernel stack: the WARNING line names the debug.c function, and the "Mapped at:" frames name
   * the hook, the API call and the dmasim event (sequence number, CPU) that created the entry.
   */
  err_printk(dev: Device, entry: DebugEntry | null, fn: string, msg: string): void {
    const k = this.k;
    this.errorCount++;
    // driver_filter() always passes: dmasim has no dma_debug_driver= setting.
    if (this.allErrors || this.showNumErrors > 0) {
      k.printk(`DMA-API: ${this.dev_driver_string(dev)} ${dev.name}: ${msg}`);
      k.printk(k.warnLine('kernel/dma/debug.c', fn));
      if (entry) {
        k.printk('DMA-API: Mapped at:');
        for (const frame of stackFrames(entry)) k.printk(frame);
      }
    }
    if (!this.allErrors && this.showNumErrors > 0) this.showNumErrors--;
  }

  /** dma_entry_alloc(): grows the pool by a page of entries when it is exhausted. */
  dma_entry_alloc(entry: DebugEntry): DebugEntry {
    if (this.hash.size >= this.nrTotalEntries) {
      const perPage = Math.floor(this.k.cfg.platform.pageSize / DMA_DEBUG_ENTRY_BYTES);
      this.nrTotalEntries += perPage;
      // __dma_entry_alloc_check_leak: shout each time the pool passes a multiple of its boot size.
      if (this.nrTotalEntries % PREALLOC_DMA_DEBUG_ENTRIES < perPage) {
        const pct = Math.floor(this.nrTotalEntries / PREALLOC_DMA_DEBUG_ENTRIES);
        this.k.printk(`DMA-API: dma_debug_entry pool grown to ${this.nrTotalEntries} (${pct}00%)`);
      }
    }
    return entry;
  }

  /** add_dma_entry(): hash the entry, then track its first cacheline. */
  add_dma_entry(entry: DebugEntry, attrs: number): void {
    this.hash.add(entry);
    this.k.out.ran.debug = true;
    const rc = this.active_cacheline_insert(entry);
    if (
      rc === 'eexist' &&
      !(attrs & DMA_ATTR_SKIP_CPU_SYNC) &&
      !(DMA_BOUNCE_UNALIGNED_KMALLOC && is_swiotlb_active(this.k))
    ) {
      this.err_printk(entry.dev, entry, 'add_dma_entry', "cacheline tracking EEXIST, overlapping mappings aren't supported");
    }
  }

  /** active_cacheline_insert(): TO_DEVICE mappings are not tracked (the CPU cannot corrupt them). */
  private active_cacheline_insert(entry: DebugEntry): 0 | 'eexist' {
    if (entry.direction === DMA_TO_DEVICE) return 0;
    const { rc, overflow } = this.cachelines.insertAt(entry.paddr);
    if (overflow && !this.overlapWarned) {
      // WARN_ONCE in active_cacheline_inc_overlap: not an err_printk, so not counted.
      this.overlapWarned = true;
      this.k.printk(`DMA-API: exceeded ${ACTIVE_CACHELINE_MAX_OVERLAP} overlapping mappings of cacheline ${hex016(to_cacheline_number(entry))}`);
      this.k.printk(this.k.warnLine('kernel/dma/debug.c', 'active_cacheline_inc_overlap'));
    }
    return rc;
  }

  /** dma_entry_free(): drop the cacheline reference; the entry goes back to the pool (freeEntries). */
  private dma_entry_free(entry: DebugEntry): void {
    if (entry.direction !== DMA_TO_DEVICE) this.cachelines.removeAt(entry.paddr);
    if (this.hash.size >= REUSE_ENTRIES_ABOVE) this.freeEntries.push(entry);
  }

  /**
   * A freed entry object for newEntry() to fill in, or undefined (then it makes one). Called only
   * from there, with every field set before the entry is used.
   */
  spareEntry(): DebugEntry | undefined {
    return this.freeEntries.pop();
  }

  /** check_unmap(): every mismatch is reported, then the entry is removed anyway. */
  check_unmap(ref: DebugRef): void {
    const entry = this.hash.bucket_find_exact(ref);
    if (!entry) {
      if (this.dma_mapping_error(ref.dev, ref.devAddr)) {
        this.err_printk(ref.dev, null, 'check_unmap', 'device driver tries to free an invalid DMA memory address');
      } else {
        this.err_printk(ref.dev, null, 'check_unmap', `device driver tries to free DMA memory it has not allocated [device address=${hex016(ref.devAddr)}] [size=${ref.size} bytes]`);
      }
      return;
    }
    if (
      ref.size === entry.size && ref.type === entry.type && ref.direction === entry.direction &&
      entry.mapErrType !== MAP_ERR_NOT_CHECKED && !(ref.sgCallEnts && ref.type === 'scatter-gather' && ref.sgCallEnts !== entry.sgCallEnts) &&
      !(entry.type === 'coherent' || entry.type === 'noncoherent')
    ) {
      // The common case, nothing to report (checked without formatting the address).
      this.hash.del(entry);
      this.dma_entry_free(entry);
      return;
    }
    const at = hex016(ref.devAddr);
    if (ref.size !== entry.size) {
      this.err_printk(ref.dev, entry, 'check_unmap', `device driver frees DMA memory with different size [device address=${at}] [map size=${entry.size} bytes] [unmap size=${ref.size} bytes]`);
    }
    if (ref.type !== entry.type) {
      this.err_printk(ref.dev, entry, 'check_unmap', `device driver frees DMA memory with wrong function [device address=${at}] [size=${ref.size} bytes] [mapped as ${entry.type}] [unmapped as ${ref.type}]`);
    } else if ((entry.type === 'coherent' || entry.type === 'noncoherent') && ref.paddr !== entry.paddr) {
      // The format is "0x%pa" and %pa prints its own 0x: the kernel really prints "0x0x…".
      this.err_printk(ref.dev, entry, 'check_unmap', `device driver frees DMA memory with different CPU address [device address=${at}] [size=${ref.size} bytes] [cpu alloc address=0x${hex016(entry.paddr)}] [cpu free address=0x${hex016(ref.paddr)}]`);
    }
    if (ref.sgCallEnts && ref.type === 'scatter-gather' && ref.sgCallEnts !== entry.sgCallEnts) {
      this.err_printk(ref.dev, entry, 'check_unmap', `device driver frees DMA sg list with different entry count [map count=${entry.sgCallEnts}] [unmap count=${ref.sgCallEnts}]`);
    }
    if (ref.direction !== entry.direction) {
      this.err_printk(ref.dev, entry, 'check_unmap', `device driver frees DMA memory with different direction [device address=${at}] [size=${ref.size} bytes] [mapped with ${dir2name(entry.direction)}] [unmapped with ${dir2name(ref.direction)}]`);
    }
    if (entry.mapErrType === MAP_ERR_NOT_CHECKED) {
      this.err_printk(ref.dev, entry, 'check_unmap', `device driver failed to check map error[device address=${at}] [size=${ref.size} bytes] [mapped as ${entry.type}]`);
    }
    this.hash.del(entry);
    this.dma_entry_free(entry);
  }

  /** check_sync(): the containing entry must exist, be big enough and allow this direction. */
  check_sync(ref: DebugRef, toCpu: boolean): void {
    const dev = ref.dev;
    const entry = this.hash.bucket_find_contain(ref);
    if (!entry) {
      this.err_printk(dev, null, 'check_sync', `device driver tries to sync DMA memory it has not allocated [device address=${hex016(ref.devAddr)}] [size=${ref.size} bytes]`);
      return;
    }
    // Only reachable when the reference's end wraps past 2^64 (containment is checked on u64 sums).
    if (ref.size > entry.size) {
      this.err_printk(dev, entry, 'check_sync', `device driver syncs DMA memory outside allocated range [device address=${hex016(entry.devAddr)}] [allocation size=${entry.size} bytes] [sync offset+size=${ref.size}]`);
    }
    if (entry.direction === DMA_BIDIRECTIONAL) return;
    // The detail text is formatted only when one of these reports it (check_sync runs for every sync).
    if (ref.direction !== entry.direction) {
      this.err_printk(dev, entry, 'check_sync', `device driver syncs DMA memory with different direction ${syncDetail(ref, entry)}`);
    }
    if (toCpu && entry.direction !== DMA_FROM_DEVICE && ref.direction !== DMA_TO_DEVICE) {
      this.err_printk(dev, entry, 'check_sync', `device driver syncs device read-only DMA memory for cpu ${syncDetail(ref, entry)}`);
    }
    if (!toCpu && entry.direction !== DMA_TO_DEVICE && ref.direction !== DMA_FROM_DEVICE) {
      this.err_printk(dev, entry, 'check_sync', `device driver syncs device write-only DMA memory to device ${syncDetail(ref, entry)}`);
    }
    if (ref.sgCallEnts && ref.type === 'scatter-gather' && ref.sgCallEnts !== entry.sgCallEnts) {
      this.err_printk(dev, entry, 'check_sync', `device driver syncs DMA sg list with different entry count [map count=${entry.sgCallEnts}] [sync count=${ref.sgCallEnts}]`);
    }
  }

  /** check_sg_segment() (CONFIG_DMA_API_DEBUG_SG, which dmasim models as enabled). */
  check_sg_segment(dev: Device, length: number, dma: { addr: bigint; len: number }): void {
    const maxSeg = dev.maxSegmentSize;
    const boundary = dev.segmentBoundaryMask;
    if (length > maxSeg) {
      this.err_printk(dev, null, 'check_sg_segment', `mapping sg segment longer than device claims to support [len=${length}] [max=${maxSeg}]`);
    }
    // dma_get_seg_boundary() is ULONG_MAX (never reports) or 0xffffffff for PCI devices: then
    // (start ^ end) & ~mask is 0 exactly when start and end lie in the same 4 GiB window, tested on
    // numbers when the segment is exact and not empty (an empty one's end wraps below its start)
    // without the bigint steps below, which ran for every element of every scatterlist.
    if (boundary === U64_MAX) return;
    if (boundary === 0xffffffffn && dma.len > 0) {
      const startN = exactRange(dma.addr, dma.len);
      if (startN >= 0 && Math.floor(startN / 2 ** 32) === Math.floor((startN + dma.len - 1) / 2 ** 32)) return;
    }
    const start = dma.addr;
    const end = BigInt.asUintN(64, start + BigInt(dma.len) - 1n);
    if (((start ^ end) & ~boundary & U64_MAX) !== 0n) {
      this.err_printk(dev, null, 'check_sg_segment', `mapping sg segment across boundary [start=${hex016(start)}] [end=${hex016(end)}] [boundary=${hex016(boundary)}]`);
    }
  }

  /** get_nr_mapped_entries(): sg_mapped_ents of the entry the list's first element maps to. */
  get_nr_mapped_entries(ref: DebugRef): number {
    return this.hash.bucket_find_exact(ref)?.sgMappedEnts ?? 0;
  }

  /** device_dma_allocations(): count, and the last entry met walking buckets 0..16383. */
  device_dma_allocations(dev: Device): { count: number; entry: DebugEntry | undefined } {
    // The same count and entry without walking all 16384 buckets: the table counts each device's
    // entries, and the last one met is the last of the highest bucket that holds any.
    const count = this.hash.deviceCount(dev);
    if (count === 0) return { count, entry: undefined };
    for (let idx = HASH_SIZE - 1; idx >= 0; idx--) {
      const first = this.hash.deviceFirst(dev, idx);
      if (first !== null) return { count, entry: first.dPrev! }; // the part's last entry
    }
    throw new Error(`dma-debug: ${dev.name} counts ${count} entries in no bucket`);
  }

  /** The bus notifier sees BUS_NOTIFY_UNBOUND_DRIVER after dev->driver was cleared. */
  markUnbound(dev: Device): void {
    this.unbound.add(dev);
  }

  /** debug_dma_mapping_error(): the first exact match still "not checked" becomes checked. */
  mark_checked(dev: Device, addr: bigint): void {
    for (let entry = this.hash.deviceFirst(dev, hash_fn(addr)); entry !== null; entry = entry.dNext) {
      if (entry.dev !== dev || entry.devAddr !== addr) continue;
      if (entry.mapErrType === MAP_ERR_NOT_CHECKED) {
        entry.mapErrType = MAP_ERR_CHECKED;
        break;
      }
    }
  }

  /** dma_mapping_error() as debug.c itself calls it: like a driver's call, it marks an entry. */
  dma_mapping_error(dev: Device, addr: bigint): boolean {
    if (this.enabled) this.mark_checked(dev, addr);
    return addr === DMA_MAPPING_ERROR;
  }
}

export function dir2name(dir: number): string {
  return DIR_DEBUG_NAMES[dir] ?? String(dir);
}

/** to_cacheline_number(): the cacheline index of the entry's first byte. */
export function to_cacheline_number(entry: Pick<DebugEntry, 'paddr'>): bigint {
  return entry.paddr >> L1_CACHE_SHIFT;
}

function stackFrames(site: MapSite): string[] {
  return [` ${site.hook}`, ` ${site.api}`, ` dmasim event #${site.seq} cpu ${site.cpu}`];
}

/** pfn_valid() (and virt_addr_valid() of the linear map): the page lies in a RAM region. */
export function pfn_valid(k: Kernel, phys: bigint): boolean {
  const page = BigInt(k.cfg.platform.pageSize);
  const base = phys - (phys % page);
  return k.cfg.platform.ram.some((r) => base >= r.base && base < r.base + r.size);
}

/** is_swiotlb_active(): a default pool exists. */
function is_swiotlb_active(k: Kernel): boolean {
  return k.cfg.platform.swiotlb.slots > 0;
}

/** check_sync's shared detail: the entry as mapped and the sync's direction. */
function syncDetail(ref: DebugRef, entry: DebugEntry): string {
  return `[device address=${hex016(ref.devAddr)}] [size=${entry.size} bytes] [mapped with ${dir2name(entry.direction)}] [synced with ${dir2name(ref.direction)}]`;
}
