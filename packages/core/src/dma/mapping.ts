// The DMA API front door (kernel/dma/mapping.c and the include/linux/dma-mapping.h wrappers):
// validate, pick direct / dma-iommu / legacy ops, call the backend, then kmsan, the trace event and
// the dma-debug hook in the kernel's order. Scatter-gather and sync live in mapping-sg.ts, coherent
// allocation and the mask calls in mapping-alloc.ts. applyEvent() turns a machine event into a call.

import type { Event } from '../events.ts';
import { ModelInputError, type Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import { DMA_ATTR_MMIO, DMA_MAPPING_ERROR, valid_dma_direction } from './defs.ts';
import {
  debug_dma_map_page,
  debug_dma_map_phys,
  debug_dma_map_resource,
  debug_dma_map_single,
  debug_dma_unbind,
  debug_dma_unmap_page,
  debug_dma_unmap_phys,
  debug_dma_unmap_resource,
} from './debug.ts';
import { dma_direct_map_phys, dma_direct_map_resource, dma_direct_unmap_phys } from './direct.ts';
import { ops_has_map_resource, ops_map_page, ops_map_resource, ops_unmap_page, ops_unmap_resource } from './ops.ts';
import { trace_dma_map_page, trace_dma_map_phys, trace_dma_map_resource, trace_dma_unmap_page, trace_dma_unmap_phys, trace_dma_unmap_resource } from './trace.ts';
import { cpu_access, dev_access } from './access.ts';
import { dma_map_sg_attrs, dma_sync_sg_for_cpu, dma_sync_sg_for_device, dma_sync_single_for_cpu, dma_sync_single_for_device, dma_unmap_sg_attrs } from './mapping-sg.ts';
import { dma_alloc_attrs, dma_free_attrs, dma_mapping_error, dma_max_mapping_size, dma_set_mask } from './mapping-alloc.ts';
import { iommu_dma_map_phys, iommu_dma_map_resource, iommu_dma_unmap_phys, iommu_dma_unmap_resource, iommu_flush_iotlb_all } from '../iommu/dma-iommu.ts';

const MAPPING_C = 'kernel/dma/mapping.c';

/**
 * dma_map_direct(dev, ops) = dma_go_direct(dev, *dma_mask, ops): dma-iommu devices never go
 * direct, devices without ops always do. CONFIG_DMA_OPS_BYPASS and powerpc's
 * arch_dma_map_phys_direct() are not modelled (no device has dma_ops_bypass).
 */
export function dma_map_direct(_k: Kernel, dev: Device): boolean {
  return !dev.dmaIommu && !dev.hasOps;
}

/** dma_alloc_direct(): the same test with the coherent mask (identical without ops bypass). */
export function dma_alloc_direct(k: Kernel, dev: Device): boolean {
  return dma_map_direct(k, dev);
}

/** kmsan_handle_dma(): CONFIG_KMSAN's hook; recorded as having run (no shadow memory is modelled). */
export function kmsan_handle_dma(k: Kernel, _phys: bigint, _size: number, _dir: number): void {
  k.out.ran.kmsan = true;
}

export function BUG_ON_invalid_dir(k: Kernel, dir: number, fn: string): void {
  if (!valid_dma_direction(dir)) k.BUG(MAPPING_C, fn);
}

/** Records a successful streaming mapping in the live registry. */
function liveAdd(k: Kernel, dev: Device, addr: bigint, size: number, phys: bigint, dir: number, mmio: boolean): void {
  if (addr !== DMA_MAPPING_ERROR) k.live.addSingle(dev.index, dev.name, 'single', addr, size, phys, dir, k.out.path, mmio);
}

/**
 * dma_map_phys() (6.18, the core since the seed series). With profile 6.17 this is the body of
 * dma_map_page_attrs(): there is no DMA_ATTR_MMIO (bit 10 means nothing), ops always get
 * map_page, kmsan always runs, the event is dma_map_page and dma-debug records type "single".
 */
export function dma_map_phys(k: Kernel, dev: Device, phys: bigint, size: number, dir: number, attrs: number): bigint {
  const is618 = k.is618;
  const fn = is618 ? 'dma_map_phys' : 'dma_map_page_attrs';
  const mmio = is618 && (attrs & DMA_ATTR_MMIO) !== 0;
  BUG_ON_invalid_dir(k, dir, fn);
  if (dev.dmaMask === null) {
    k.warn_on_once(MAPPING_C, fn, 'no dma_mask');
    return DMA_MAPPING_ERROR;
  }
  let addr = DMA_MAPPING_ERROR;
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct';
    addr = dma_direct_map_phys(k, dev, phys, size, dir, attrs);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    addr = iommu_dma_map_phys(k, dev, phys, size, dir, attrs);
  } else if (mmio) {
    k.out.path = 'ops';
    // Seed patch (6.18, row D3): no map_resource → early return, no kmsan / trace / dma-debug.
    if (!ops_has_map_resource(dev)) return DMA_MAPPING_ERROR;
    addr = ops_map_resource(k, dev, phys, size, dir, attrs);
  } else {
    k.out.path = 'ops';
    addr = ops_map_page(k, dev, phys, size, dir, attrs);
  }
  if (!mmio) kmsan_handle_dma(k, phys, size, dir);
  if (is618) {
    trace_dma_map_phys(k, dev, phys, addr, size, dir, attrs);
    debug_dma_map_phys(k, dev, phys, size, dir, addr, attrs);
  } else {
    trace_dma_map_page(k, dev, phys, addr, size, dir, attrs);
    debug_dma_map_page(k, dev, phys, size, dir, addr, attrs);
  }
  liveAdd(k, dev, addr, size, phys, dir, mmio);
  return addr;
}

/** dma_unmap_phys() (6.18); with profile 6.17 the body of dma_unmap_page_attrs(). */
export function dma_unmap_phys(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  const is618 = k.is618;
  const mmio = is618 && (attrs & DMA_ATTR_MMIO) !== 0;
  BUG_ON_invalid_dir(k, dir, is618 ? 'dma_unmap_phys' : 'dma_unmap_page_attrs');
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct';
    dma_direct_unmap_phys(k, dev, addr, size, dir, attrs);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    iommu_dma_unmap_phys(k, dev, addr, size, dir, attrs);
  } else if (mmio) {
    k.out.path = 'ops';
    if (ops_has_map_resource(dev)) ops_unmap_resource(k, dev, addr, size, dir, attrs);
  } else {
    k.out.path = 'ops';
    ops_unmap_page(k, dev, addr, size, dir, attrs);
  }
  if (is618) {
    trace_dma_unmap_phys(k, dev, addr, size, dir, attrs);
    debug_dma_unmap_phys(k, dev, addr, size, dir, attrs);
  } else {
    trace_dma_unmap_page(k, dev, addr, size, dir, attrs);
    debug_dma_unmap_page(k, dev, addr, size, dir);
  }
  k.live.remove(dev.index, 'single', addr, size);
}

/**
 * dma_map_page_attrs(dev, page, offset, ...) with phys = page_to_phys(page) + offset.
 * 6.18: MMIO is refused silently (row A3); with CONFIG_DMA_API_DEBUG a ZONE_DEVICE page is a
 * WARN_ON_ONCE and an error (row A4) — pages of MMIO regions stand for p2pdma ZONE_DEVICE pages.
 */
export function dma_map_page_attrs(k: Kernel, dev: Device, phys: bigint, size: number, dir: number, attrs: number): bigint {
  if (k.is618) {
    if (attrs & DMA_ATTR_MMIO) return DMA_MAPPING_ERROR;
    if (k.dmaApiDebug && k.mem.isMmio(phys)) {
      k.warn_on_once(MAPPING_C, 'dma_map_page_attrs', 'is_zone_device_page');
      return DMA_MAPPING_ERROR;
    }
  }
  return dma_map_phys(k, dev, phys, size, dir, attrs);
}

/** dma_unmap_page_attrs(): 6.18 returns silently for MMIO (no trace, no dma-debug check). */
export function dma_unmap_page_attrs(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  if (k.is618 && attrs & DMA_ATTR_MMIO) return;
  dma_unmap_phys(k, dev, addr, size, dir, attrs);
}

/**
 * dma_map_single_attrs(): the vmalloc refusal (row A8) cannot arise — events carry linear-map
 * (physical) addresses — so it is dma-debug's map-single check, then dma_map_page_attrs.
 */
export function dma_map_single_attrs(k: Kernel, dev: Device, phys: bigint, size: number, dir: number, attrs: number): bigint {
  debug_dma_map_single(k, dev, phys, size);
  return dma_map_page_attrs(k, dev, phys, size, dir, attrs);
}

export function dma_unmap_single_attrs(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  dma_unmap_page_attrs(k, dev, addr, size, dir, attrs);
}

/**
 * dma_map_resource(). 6.18: with CONFIG_DMA_API_DEBUG a RAM pfn is WARN_ON_ONCE + error (row A5,
 * before the May-2026 fix; dma-debug's resourceRamCheck selects the later form), then
 * dma_map_phys(attrs | MMIO). 6.17: its own routing and always the dma_map_resource event.
 */
export function dma_map_resource(k: Kernel, dev: Device, phys: bigint, size: number, dir: number, attrs: number): bigint {
  if (k.is618) {
    if (k.dmaApiDebug && k.debug.resourceRamCheck === 'wrapper' && k.mem.pfn_valid(phys)) {
      k.warn_on_once(MAPPING_C, 'dma_map_resource', 'pfn_valid');
      return DMA_MAPPING_ERROR;
    }
    return dma_map_phys(k, dev, phys, size, dir, attrs | DMA_ATTR_MMIO);
  }
  BUG_ON_invalid_dir(k, dir, 'dma_map_resource');
  if (dev.dmaMask === null) {
    k.warn_on_once(MAPPING_C, 'dma_map_resource', 'no dma_mask');
    return DMA_MAPPING_ERROR;
  }
  let addr = DMA_MAPPING_ERROR;
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct';
    addr = dma_direct_map_resource(k, dev, phys, size, dir, attrs);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    addr = iommu_dma_map_resource(k, dev, phys, size, dir, attrs);
  } else {
    k.out.path = 'ops';
    if (ops_has_map_resource(dev)) addr = ops_map_resource(k, dev, phys, size, dir, attrs);
  }
  // Row D6: traced and recorded by dma-debug even when addr is DMA_MAPPING_ERROR.
  trace_dma_map_resource(k, dev, phys, addr, size, dir, attrs);
  debug_dma_map_resource(k, dev, phys, size, dir, addr, attrs);
  liveAdd(k, dev, addr, size, phys, dir, true);
  return addr;
}

/** dma_unmap_resource(). 6.18: dma_unmap_phys(attrs | MMIO). 6.17: its own body. */
export function dma_unmap_resource(k: Kernel, dev: Device, addr: bigint, size: number, dir: number, attrs: number): void {
  if (k.is618) {
    dma_unmap_phys(k, dev, addr, size, dir, attrs | DMA_ATTR_MMIO);
    return;
  }
  BUG_ON_invalid_dir(k, dir, 'dma_unmap_resource');
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct'; // nothing to do: uncached and no swiotlb
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    iommu_dma_unmap_resource(k, dev, addr, size, dir, attrs);
  } else {
    k.out.path = 'ops';
    if (ops_has_map_resource(dev)) ops_unmap_resource(k, dev, addr, size, dir, attrs);
  }
  trace_dma_unmap_resource(k, dev, addr, size, dir, attrs);
  debug_dma_unmap_resource(k, dev, addr, size, dir);
  k.live.remove(dev.index, 'single', addr, size);
}

// ---- the event dispatcher ----

function checkSize(size: number, what = 'size'): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new ModelInputError(`${what} ${size} is not a byte count`);
}

/** The size, direction and attributes an event carries (undefined: the op has none), checked in this order. */
function checkArgs(size: number | undefined, dir: number | undefined, attrs: number | undefined): void {
  if (size !== undefined) checkSize(size);
  if (dir !== undefined && !Number.isInteger(dir)) throw new ModelInputError(`dir ${dir} is not an integer`);
  if (attrs !== undefined && (!Number.isInteger(attrs) || attrs < 0)) throw new ModelInputError(`attrs ${attrs} is not a flag word`);
}

function setAddr(k: Kernel, addr: bigint): void {
  k.out.result = addr;
  k.out.error = addr === DMA_MAPPING_ERROR;
}

/** The event of one op (applyEvent's view of its event in that op's case). */
type Ev<O extends Event['op']> = Event & { op: O };

/**
 * Applies one event to the kernel (`op` is the event's op: Machine.applyAs). 6.17 has no
 * dma_map_phys: a map-phys / unmap-phys event runs the call a 6.17 driver would make for that
 * memory — dma_map_resource for MMIO (without the bit, which 6.17 lacks), dma_map_page_attrs
 * otherwise.
 */
export function applyEvent(k: Kernel, event: Event, op: Event['op']): void {
  // Each case reads the event as its op's shape, and checks its own arguments (checkArgs): loads of
  // ev.op, ev.size, ev.dir and ev.attrs before the switch saw every event shape, a megamorphic
  // lookup each (BENCHMARKS.md, nineteenth round). The accesses first: they are ~55 % of the
  // bench's direct-only events, and the switch tests its cases in order (dev-write was the 22nd
  // test: ~1.5 % of a direct-only replay was this line).
  switch (op) {
    case 'dev-write': {
      const ev = event as Ev<'dev-write'>;
      checkSize(ev.size);
      return dev_access(k, k.device(ev.dev), ev.addr, ev.size, true, ev.data, ev.fill);
    }
    case 'cpu-read': {
      const ev = event as Ev<'cpu-read'>;
      checkSize(ev.size);
      return cpu_access(k, ev.phys, ev.size, false, undefined, undefined);
    }
    case 'dev-read': {
      const ev = event as Ev<'dev-read'>;
      checkSize(ev.size);
      return dev_access(k, k.device(ev.dev), ev.addr, ev.size, false, undefined, undefined);
    }
    case 'cpu-write': {
      const ev = event as Ev<'cpu-write'>;
      checkSize(ev.size);
      return cpu_access(k, ev.phys, ev.size, true, ev.data, ev.fill);
    }
    case 'map-single': {
      const ev = event as Ev<'map-single'>;
      checkArgs(ev.size, ev.dir, ev.attrs);
      return setAddr(k, dma_map_single_attrs(k, k.device(ev.dev), ev.phys, ev.size, ev.dir, ev.attrs));
    }
    case 'map-page': {
      const ev = event as Ev<'map-page'>;
      checkArgs(ev.size, ev.dir, ev.attrs);
      return setAddr(k, dma_map_page_attrs(k, k.device(ev.dev), ev.phys, ev.size, ev.dir, ev.attrs));
    }
    case 'map-phys': {
      const ev = event as Ev<'map-phys'>;
      checkArgs(ev.size, ev.dir, ev.attrs);
      const dev = k.device(ev.dev);
      if (k.is618) return setAddr(k, dma_map_phys(k, dev, ev.phys, ev.size, ev.dir, ev.attrs));
      if (ev.attrs & DMA_ATTR_MMIO) return setAddr(k, dma_map_resource(k, dev, ev.phys, ev.size, ev.dir, ev.attrs & ~DMA_ATTR_MMIO));
      return setAddr(k, dma_map_page_attrs(k, dev, ev.phys, ev.size, ev.dir, ev.attrs));
    }
    case 'map-resource': {
      const ev = event as Ev<'map-resource'>;
      checkArgs(ev.size, ev.dir, ev.attrs);
      return setAddr(k, dma_map_resource(k, k.device(ev.dev), ev.phys, ev.size, ev.dir, ev.attrs));
    }
    case 'unmap-single': {
      const ev = event as Ev<'unmap-single'>;
      checkArgs(ev.size, ev.dir, ev.attrs);
      return dma_unmap_single_attrs(k, k.device(ev.dev), ev.addr, ev.size, ev.dir, ev.attrs);
    }
    case 'unmap-page': {
      const ev = event as Ev<'unmap-page'>;
      checkArgs(ev.size, ev.dir, ev.attrs);
      return dma_unmap_page_attrs(k, k.device(ev.dev), ev.addr, ev.size, ev.dir, ev.attrs);
    }
    case 'unmap-phys': {
      const ev = event as Ev<'unmap-phys'>;
      checkArgs(ev.size, ev.dir, ev.attrs);
      const dev = k.device(ev.dev);
      if (k.is618) return dma_unmap_phys(k, dev, ev.addr, ev.size, ev.dir, ev.attrs);
      if (ev.attrs & DMA_ATTR_MMIO) return dma_unmap_resource(k, dev, ev.addr, ev.size, ev.dir, ev.attrs & ~DMA_ATTR_MMIO);
      return dma_unmap_page_attrs(k, dev, ev.addr, ev.size, ev.dir, ev.attrs);
    }
    case 'unmap-resource': {
      const ev = event as Ev<'unmap-resource'>;
      checkArgs(ev.size, ev.dir, ev.attrs);
      return dma_unmap_resource(k, k.device(ev.dev), ev.addr, ev.size, ev.dir, ev.attrs);
    }
    case 'map-sg': {
      const ev = event as Ev<'map-sg'>;
      checkArgs(undefined, ev.dir, ev.attrs);
      for (const s of ev.segments) checkSize(s.size, 'segment size');
      const sg = { segments: ev.segments.map((s) => ({ phys: s.phys, size: s.size })), dma: [] };
      const n = dma_map_sg_attrs(k, k.device(ev.dev), sg, ev.dir, ev.attrs);
      k.out.result = BigInt(n);
      k.out.error = n === 0;
      k.out.sg = sg;
      return;
    }
    case 'unmap-sg': {
      const ev = event as Ev<'unmap-sg'>;
      checkArgs(undefined, ev.dir, ev.attrs);
      return dma_unmap_sg_attrs(k, k.device(ev.dev), ev.sg, ev.dir, ev.attrs);
    }
    case 'sync-for-cpu': {
      const ev = event as Ev<'sync-for-cpu'>;
      checkArgs(ev.size, ev.dir, undefined);
      return dma_sync_single_for_cpu(k, k.device(ev.dev), ev.addr, ev.size, ev.dir);
    }
    case 'sync-for-device': {
      const ev = event as Ev<'sync-for-device'>;
      checkArgs(ev.size, ev.dir, undefined);
      return dma_sync_single_for_device(k, k.device(ev.dev), ev.addr, ev.size, ev.dir);
    }
    case 'sync-sg-for-cpu': {
      const ev = event as Ev<'sync-sg-for-cpu'>;
      checkArgs(undefined, ev.dir, undefined);
      return dma_sync_sg_for_cpu(k, k.device(ev.dev), ev.sg, ev.dir);
    }
    case 'sync-sg-for-device': {
      const ev = event as Ev<'sync-sg-for-device'>;
      checkArgs(undefined, ev.dir, undefined);
      return dma_sync_sg_for_device(k, k.device(ev.dev), ev.sg, ev.dir);
    }
    case 'alloc-coherent': {
      const ev = event as Ev<'alloc-coherent'>;
      checkArgs(ev.size, undefined, ev.attrs);
      const r = dma_alloc_attrs(k, k.device(ev.dev), ev.size, ev.attrs);
      k.out.result = r ? r.dmaAddr : 0n;
      k.out.error = r === null;
      if (r) k.out.phys = r.cpuAddr;
      return;
    }
    case 'free-coherent': {
      const ev = event as Ev<'free-coherent'>;
      checkArgs(ev.size, undefined, ev.attrs);
      return dma_free_attrs(k, k.device(ev.dev), ev.size, ev.cpuAddr, ev.addr, ev.attrs);
    }
    case 'mapping-error': {
      const ev = event as Ev<'mapping-error'>;
      // The result is dma_mapping_error()'s int: 0 or -ENOMEM, as a (negative) bigint.
      const r = dma_mapping_error(k, k.device(ev.dev), ev.addr);
      k.out.result = BigInt(r);
      k.out.error = r !== 0;
      return;
    }
    case 'set-mask': {
      const ev = event as Ev<'set-mask'>;
      if (!Number.isInteger(ev.bits) || ev.bits < 0 || ev.bits > 64) throw new ModelInputError(`set-mask bits ${ev.bits} is outside 0..64`);
      const r = dma_set_mask(k, k.device(ev.dev), ev.bits);
      k.out.result = BigInt(r);
      k.out.error = r !== 0;
      return;
    }
    case 'max-mapping-size': {
      const ev = event as Ev<'max-mapping-size'>;
      k.out.result = dma_max_mapping_size(k, k.device(ev.dev));
      return;
    }
    case 'unbind': {
      const ev = event as Ev<'unbind'>;
      return debug_dma_unbind(k, k.device(ev.dev));
    }
    case 'advance-time': {
      const ev = event as Ev<'advance-time'>;
      if (!Number.isSafeInteger(ev.byNs) || ev.byNs < 0) throw new ModelInputError(`advance-time by ${ev.byNs} ns is not a duration`);
      k.clock.advanceBy(ev.byNs);
      return;
    }
    case 'flush-iotlb': {
      const ev = event as Ev<'flush-iotlb'>;
      k.out.path = 'iommu';
      return iommu_flush_iotlb_all(k, ev.domain);
    }
    default: {
      const never: never = op;
      throw new ModelInputError(`unknown op ${String(never)}`);
    }
  }
}
