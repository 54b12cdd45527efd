// dma-iommu (drivers/iommu/dma-iommu.c): IOVA-mapped streaming DMA through IOMMU domains.
// STUB: until the model part 2 (issue 6) lands, every dma: iommu call is "not yet modelled".

import type { DomainConfig } from '../config.ts';
import type { SgList } from '../events.ts';
import { ModelInputError, type Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import type { Hasher } from '../util/hash.ts';

export class IommuState {
  constructor(readonly k: Kernel, readonly domains: DomainConfig[]) {}
  hashInto(_h: Hasher): void {}
}

function notYet(): never {
  throw new ModelInputError('dma: iommu is not yet modelled (dma-iommu comes with the model part 2)');
}

export function iommu_dma_map_phys(_k: Kernel, _dev: Device, _phys: bigint, _size: number, _dir: number, _attrs: number): bigint { return notYet(); }
export function iommu_dma_unmap_phys(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number, _attrs: number): void { notYet(); }
/** ≤ 6.17 only. */
export function iommu_dma_map_resource(_k: Kernel, _dev: Device, _phys: bigint, _size: number, _dir: number, _attrs: number): bigint { return notYet(); }
export function iommu_dma_unmap_resource(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number, _attrs: number): void { notYet(); }
/** Returns the mapped count or a negative errno; fills sg.dma. */
export function iommu_dma_map_sg(_k: Kernel, _dev: Device, _sg: SgList, _dir: number, _attrs: number): number { return notYet(); }
export function iommu_dma_unmap_sg(_k: Kernel, _dev: Device, _sg: SgList, _dir: number, _attrs: number): void { notYet(); }
export function iommu_dma_sync_single_for_cpu(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number): void { notYet(); }
export function iommu_dma_sync_single_for_device(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number): void { notYet(); }
/** Returns { cpuAddr, dmaAddr } or null. */
export function iommu_dma_alloc(_k: Kernel, _dev: Device, _size: number, _attrs: number): { cpuAddr: bigint; dmaAddr: bigint } | null { return notYet(); }
export function iommu_dma_free(_k: Kernel, _dev: Device, _size: number, _cpuAddr: bigint, _dmaAddr: bigint, _attrs: number): void { notYet(); }
export function iommu_dma_max_mapping_size(_k: Kernel, _dev: Device): bigint { return notYet(); }
/** Device-side access through the IOMMU (IOTLB, then IO page table). */
export function iommu_dev_access(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _write: boolean, _data: Uint8Array | undefined): void { notYet(); }
/** flush-iotlb event / iommu_flush_iotlb_all. */
export function iommu_flush_iotlb_all(_k: Kernel, _domain: string): void { notYet(); }
