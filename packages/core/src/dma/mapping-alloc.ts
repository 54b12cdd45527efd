// kernel/dma/mapping.c, part 3: coherent allocation and free, dma_mapping_error, dma_set_mask with
// the kernel's -EIO rules, dma_max_mapping_size and the masks it depends on.

import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import { min_not_zero } from '../platform/device.ts';
import { DMA_BIT_MASK } from '../util/hex.ts';
import { DMA_BIDIRECTIONAL, DMA_MAPPING_ERROR, EIO, ENOMEM, SIZE_MAX } from './defs.ts';
import { debug_dma_alloc_coherent, debug_dma_free_coherent, debug_dma_mapping_error } from './debug.ts';
import { dma_direct_all_ram_mapped, dma_direct_alloc, dma_direct_free, dma_direct_get_required_mask, dma_direct_max_mapping_size, dma_direct_supported } from './direct.ts';
import { dma_alloc_direct, dma_map_direct } from './mapping.ts';
import { ops_alloc, ops_free } from './ops.ts';
import { trace_dma_alloc, trace_dma_free } from './trace.ts';
import { iommu_dma_alloc, iommu_dma_free, iommu_dma_max_mapping_size } from '../iommu/dma-iommu.ts';

const MAPPING_C = 'kernel/dma/mapping.c';

/**
 * dma_alloc_attrs(): the buffer's CPU physical address and DMA address, or null. No per-device
 * coherent pool (dma_alloc_from_dev_coherent) is modelled. The dma_alloc event shows dma_addr=0
 * on failure (UNCONFIRMED: the kernel prints whatever *dma_handle held; 0 per the spec).
 */
export function dma_alloc_attrs(k: Kernel, dev: Device, size: number, attrs: number): { cpuAddr: bigint; dmaAddr: bigint } | null {
  if (dev.coherentDmaMask === 0n) k.warn_on_once(MAPPING_C, 'dma_alloc_attrs', 'no coherent_dma_mask');
  let r: { cpuAddr: bigint; dmaAddr: bigint } | null;
  if (dma_alloc_direct(k, dev)) {
    k.out.path = 'direct';
    r = dma_direct_alloc(k, dev, size, attrs);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    r = iommu_dma_alloc(k, dev, size, attrs);
  } else {
    k.out.path = 'ops';
    r = ops_alloc(k, dev, size, attrs);
  }
  trace_dma_alloc(k, dev, r ? r.cpuAddr : null, r ? r.dmaAddr : 0n, size, DMA_BIDIRECTIONAL, attrs);
  debug_dma_alloc_coherent(k, dev, size, r ? r.dmaAddr : 0n, r ? r.cpuAddr : null, attrs);
  if (r) k.live.addSingle(dev.index, dev.name, 'coherent', r.dmaAddr, size, r.cpuAddr, DMA_BIDIRECTIONAL, k.out.path, false);
  return r;
}

/** dma_free_attrs(): trace first, nothing more for a NULL cpu_addr, then dma-debug, then the backend. */
export function dma_free_attrs(k: Kernel, dev: Device, size: number, cpuAddr: bigint, dmaAddr: bigint, attrs: number): void {
  trace_dma_free(k, dev, cpuAddr === 0n ? null : cpuAddr, dmaAddr, size, DMA_BIDIRECTIONAL, attrs);
  if (cpuAddr === 0n) return;
  debug_dma_free_coherent(k, dev, size, cpuAddr, dmaAddr);
  if (dma_alloc_direct(k, dev)) {
    k.out.path = 'direct';
    dma_direct_free(k, dev, size, cpuAddr, dmaAddr, attrs);
  } else if (dev.dmaIommu) {
    k.out.path = 'iommu';
    iommu_dma_free(k, dev, size, cpuAddr, dmaAddr, attrs);
  } else {
    k.out.path = 'ops';
    ops_free(k, dev, size, cpuAddr, dmaAddr, attrs);
  }
  k.live.remove(dev.index, 'coherent', dmaAddr, size);
}

/** dma_mapping_error(): tells dma-debug the handle was checked; -ENOMEM for DMA_MAPPING_ERROR. */
export function dma_mapping_error(k: Kernel, dev: Device, addr: bigint): number {
  debug_dma_mapping_error(k, dev, addr);
  return addr === DMA_MAPPING_ERROR ? -ENOMEM : 0;
}

/** dma_supported(): dma-iommu always; ops without dma_supported always; direct per its rule. */
function dma_supported(k: Kernel, dev: Device, mask: bigint): boolean {
  if (dev.dmaIommu) return true;
  if (dev.hasOps) return true;
  return dma_direct_supported(k, dev, mask);
}

/**
 * dma_setup_need_sync(): direct and dma-iommu devices skip sync when coherent — which forgets an
 * earlier swiotlb bounce, as the kernel does; our ops have no sync callbacks, so they skip.
 */
function dma_setup_need_sync(_k: Kernel, dev: Device): void {
  dev.dmaSkipSync = dev.hasOps ? true : dev.coherent;
}

/** dma_set_mask(dev, DMA_BIT_MASK(bits)): 0, or -EIO without a dma_mask or for an unsupported mask. */
export function dma_set_mask(k: Kernel, dev: Device, bits: number): number {
  const mask = DMA_BIT_MASK(bits);
  if (dev.dmaMask === null || !dma_supported(k, dev, mask)) return -EIO;
  dev.dmaMask = mask;
  dma_setup_need_sync(k, dev);
  return 0;
}

/** dma_get_required_mask(). */
export function dma_get_required_mask(k: Kernel, dev: Device): bigint {
  if (dma_alloc_direct(k, dev)) return dma_direct_get_required_mask(k, dev);
  return DMA_BIT_MASK(32); // dma-iommu, and ops without get_required_mask
}

/** dma_addressing_limited(): the device cannot reach all RAM directly. */
export function dma_addressing_limited(k: Kernel, dev: Device): boolean {
  if (min_not_zero(dev.dma_get_mask(), dev.busDmaLimit) < dma_get_required_mask(k, dev)) return true;
  if (dev.hasOps || dev.dmaIommu) return false;
  return !dma_direct_all_ram_mapped(k, dev);
}

/** dma_max_mapping_size(). */
export function dma_max_mapping_size(k: Kernel, dev: Device): bigint {
  if (dma_map_direct(k, dev)) {
    k.out.path = 'direct';
    return dma_direct_max_mapping_size(k, dev, dma_addressing_limited(k, dev));
  }
  if (dev.dmaIommu) {
    k.out.path = 'iommu';
    return iommu_dma_max_mapping_size(k, dev);
  }
  k.out.path = 'ops';
  return SIZE_MAX; // no ops->max_mapping_size
}
