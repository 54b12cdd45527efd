// kernel/dma/mapping.c, part 2: scatter-gather map/unmap with the kernel's error-code rules, and
// the sync calls (single and sg) behind the dma_dev_need_sync() wrappers.

import type { SgList } from '../events.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import { exactNum } from '../util/exact.ts';
import { EINVAL, EIO, ENOMEM, EREMOTEIO } from './defs.ts';
import {
  debug_dma_map_sg,
  debug_dma_sync_sg_for_cpu,
  debug_dma_sync_sg_for_device,
  debug_dma_sync_single_for_cpu,
  debug_dma_sync_single_for_device,
  debug_dma_unmap_sg,
} from './debug.ts';
import {
  dma_direct_map_sg,
  dma_direct_sync_sg_for_cpu,
  dma_direct_sync_sg_for_device,
  dma_direct_sync_single_for_cpu,
  dma_direct_sync_single_for_device,
  dma_direct_unmap_sg,
} from './direct.ts';
import { BUG_ON_invalid_dir, dma_map_direct, kmsan_handle_dma } from './mapping.ts';
import { ops_map_sg, ops_unmap_sg } from './ops.ts';
import {
  trace_dma_map_sg,
  trace_dma_map_sg_err,
  trace_dma_sync_sg_for_cpu,
  trace_dma_sync_sg_for_device,
  trace_dma_sync_single_for_cpu,
  trace_dma_sync_single_for_device,
  trace_dma_unmap_sg,
} from './trace.ts';
import { overlapsN, type Owner } from './live.ts';
import {
  iommu_dma_map_sg,
  iommu_dma_sync_sg_for_cpu,
  iommu_dma_sync_sg_for_device,
  iommu_dma_sync_single_for_cpu,
  iommu_dma_sync_single_for_device,
  iommu_dma_unmap_sg,
} from '../iommu/dma-iommu.ts';

const MAPPING_C = 'kernel/dma/mapping.c';

/**
 * __dma_map_sg_attrs(): the mapped count, or a negative errno. -EINVAL, -ENOMEM, -EIO and
 * -EREMOTEIO are "expected" and return untraced; anything else (0 included) is a WARN_ON_ONCE,
 * a dma_map_sg_err event and -EIO. Fills sg.dma with the mapped entries.
 */
export function __dma_map_sg_attrs(k: Kernel, dev: Device, sg: SgList, dir: number, attrs: number): number {
  BUG_ON_invalid_dir(k, dir, '__dma_map_sg_attrs');
  if (dev.dmaMask === null) {
    k.warn_on_once(MAPPING_C, '__dma_map_sg_attrs', 'no dma_mask');
    return 0;
  }
  let ents: number;
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct';
    ents = dma_direct_map_sg(k, dev, sg, dir, attrs);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    ents = iommu_dma_map_sg(k, dev, sg, dir, attrs);
  } else {
    k.out.path = 'ops';
    ents = ops_map_sg(k, dev, sg, dir, attrs);
  }
  if (ents > 0) {
    for (const s of sg.segments) kmsan_handle_dma(k, s.phys, s.size, dir); // kmsan_handle_dma_sg
    trace_dma_map_sg(k, dev, sg, ents, dir, attrs);
    debug_dma_map_sg(k, dev, sg, dir, attrs);
    k.live.addSg(dev.index, dev.name, sg, dir, k.out.path);
  } else if (ents !== -EINVAL && ents !== -ENOMEM && ents !== -EIO && ents !== -EREMOTEIO) {
    k.warn_on_once(MAPPING_C, '__dma_map_sg_attrs', 'unexpected error');
    trace_dma_map_sg_err(k, dev, sg.segments, ents, dir, attrs);
    return -EIO;
  }
  return ents;
}

/** dma_map_sg_attrs(): the count, 0 for any error. */
export function dma_map_sg_attrs(k: Kernel, dev: Device, sg: SgList, dir: number, attrs: number): number {
  const ret = __dma_map_sg_attrs(k, dev, sg, dir, attrs);
  if (ret < 0) {
    sg.dma.length = 0;
    return 0;
  }
  return ret;
}

/** dma_unmap_sg_attrs(): trace and dma-debug first, then the backend (unlike single unmaps). */
export function dma_unmap_sg_attrs(k: Kernel, dev: Device, sg: SgList, dir: number, attrs: number): void {
  BUG_ON_invalid_dir(k, dir, 'dma_unmap_sg_attrs');
  trace_dma_unmap_sg(k, dev, sg.segments, dir, attrs);
  debug_dma_unmap_sg(k, dev, sg, dir);
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct';
    dma_direct_unmap_sg(k, dev, sg, dir, attrs);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    iommu_dma_unmap_sg(k, dev, sg, dir, attrs);
  } else {
    k.out.path = 'ops';
    ops_unmap_sg(k, dev, sg, dir, attrs);
  }
  const m = k.live.findSg(dev.index, sg);
  if (m) k.live.remove(dev.index, 'sg', m.addr, m.size);
}

/**
 * dma_dev_need_sync(): the dma_sync_* wrappers call into mapping.c only when the device does not
 * skip sync (non-coherent, bounced at least once, or ops with sync callbacks) or dma-debug is built.
 */
function dma_dev_need_sync(k: Kernel, dev: Device): boolean {
  return !dev.dmaSkipSync || k.dmaApiDebug;
}

/** Hands streaming buffers containing addr to the CPU or back to the device (the driver protocol). */
function setOwner(k: Kernel, dev: Device, addr: bigint, size: number, owner: Owner): void {
  const ms = k.live.overlappingBus(dev.index, addr, size);
  const addrN = exactNum(addr);
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    if (m.kind === 'coherent') continue;
    // Does a bus span hold addr? On the spans' numeric copy when both are exact (no BigInt per span).
    const r = m.busR;
    if (r && addrN >= 0) {
      if (overlapsN(r, addrN, addrN + 1)) m.owner = owner;
    } else if (m.bus.some((s) => addr >= s.start && addr < s.start + BigInt(s.len))) m.owner = owner;
  }
}

export function dma_sync_single_for_cpu(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  setOwner(k, dev, addr, size, 'cpu');
  if (!dma_dev_need_sync(k, dev)) return;
  BUG_ON_invalid_dir(k, dir, '__dma_sync_single_for_cpu');
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct';
    dma_direct_sync_single_for_cpu(k, dev, addr, size, dir);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    iommu_dma_sync_single_for_cpu(k, dev, addr, size, dir);
  } else {
    k.out.path = 'ops'; // the model's ops have no sync_single_for_cpu
  }
  trace_dma_sync_single_for_cpu(k, dev, addr, size, dir);
  debug_dma_sync_single_for_cpu(k, dev, addr, size, dir);
}

export function dma_sync_single_for_device(k: Kernel, dev: Device, addr: bigint, size: number, dir: number): void {
  setOwner(k, dev, addr, size, 'device');
  if (!dma_dev_need_sync(k, dev)) return;
  BUG_ON_invalid_dir(k, dir, '__dma_sync_single_for_device');
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct';
    dma_direct_sync_single_for_device(k, dev, addr, size, dir);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    iommu_dma_sync_single_for_device(k, dev, addr, size, dir);
  } else {
    k.out.path = 'ops';
  }
  trace_dma_sync_single_for_device(k, dev, addr, size, dir);
  debug_dma_sync_single_for_device(k, dev, addr, size, dir);
}

function setSgOwner(k: Kernel, dev: Device, sg: SgList, owner: Owner): void {
  const m = k.live.findSg(dev.index, sg);
  if (m) m.owner = owner;
}

export function dma_sync_sg_for_cpu(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  setSgOwner(k, dev, sg, 'cpu');
  if (!dma_dev_need_sync(k, dev)) return;
  BUG_ON_invalid_dir(k, dir, '__dma_sync_sg_for_cpu');
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct';
    dma_direct_sync_sg_for_cpu(k, dev, sg, dir);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    iommu_dma_sync_sg_for_cpu(k, dev, sg, dir);
  } else {
    k.out.path = 'ops';
  }
  trace_dma_sync_sg_for_cpu(k, dev, sg, dir);
  debug_dma_sync_sg_for_cpu(k, dev, sg, dir);
}

export function dma_sync_sg_for_device(k: Kernel, dev: Device, sg: SgList, dir: number): void {
  setSgOwner(k, dev, sg, 'device');
  if (!dma_dev_need_sync(k, dev)) return;
  BUG_ON_invalid_dir(k, dir, '__dma_sync_sg_for_device');
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct';
    dma_direct_sync_sg_for_device(k, dev, sg, dir);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    iommu_dma_sync_sg_for_device(k, dev, sg, dir);
  } else {
    k.out.path = 'ops';
  }
  trace_dma_sync_sg_for_device(k, dev, sg, dir);
  debug_dma_sync_sg_for_device(k, dev, sg, dir);
}
