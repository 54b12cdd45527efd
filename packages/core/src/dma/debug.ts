// dma-debug (kernel/dma/debug.c): the DMA API checker watching every call.
// STUB: the hooks are called where the kernel calls debug_*; their checks come with issue 5.

import type { PlatformConfig } from '../config.ts';
import type { SgList } from '../events.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import type { Hasher } from '../util/hash.ts';

export class DmaDebug {
  errorCount = 0;
  constructor(readonly k: Kernel, readonly cfg: PlatformConfig['dmaDebug']) {}
  /** Live entries (for `debug-entries` expectations and the state summary). */
  get entryCount(): number {
    return 0;
  }
  hashInto(_h: Hasher): void {}
}

/** 6.18: every dma_map_phys mapping (RAM or MMIO) is recorded as type "phy". */
export function debug_dma_map_phys(_k: Kernel, _dev: Device, _phys: bigint, _size: number, _dir: number, _addr: bigint, _attrs: number): void {}
export function debug_dma_unmap_phys(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number, _attrs: number): void {}
/** 6.17: dma_map_page_attrs records type "single". */
export function debug_dma_map_page(_k: Kernel, _dev: Device, _phys: bigint, _size: number, _dir: number, _addr: bigint, _attrs: number): void {}
export function debug_dma_unmap_page(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number): void {}
/** 6.17: dma_map_resource records type "resource" (even at DMA_MAPPING_ERROR: row D6). */
export function debug_dma_map_resource(_k: Kernel, _dev: Device, _phys: bigint, _size: number, _dir: number, _addr: bigint, _attrs: number): void {}
export function debug_dma_unmap_resource(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number): void {}
/** dma_map_single's check on the virtual address. */
export function debug_dma_map_single(_k: Kernel, _dev: Device, _phys: bigint, _size: number): void {}
export function debug_dma_mapping_error(_k: Kernel, _dev: Device, _addr: bigint): void {}
export function debug_dma_map_sg(_k: Kernel, _dev: Device, _sg: SgList, _dir: number, _attrs: number): void {}
export function debug_dma_unmap_sg(_k: Kernel, _dev: Device, _sg: SgList, _dir: number): void {}
export function debug_dma_sync_single_for_cpu(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number): void {}
export function debug_dma_sync_single_for_device(_k: Kernel, _dev: Device, _addr: bigint, _size: number, _dir: number): void {}
export function debug_dma_sync_sg_for_cpu(_k: Kernel, _dev: Device, _sg: SgList, _dir: number): void {}
export function debug_dma_sync_sg_for_device(_k: Kernel, _dev: Device, _sg: SgList, _dir: number): void {}
export function debug_dma_alloc_coherent(_k: Kernel, _dev: Device, _size: number, _dmaAddr: bigint, _cpuAddr: bigint, _attrs: number): void {}
export function debug_dma_free_coherent(_k: Kernel, _dev: Device, _size: number, _cpuAddr: bigint, _dmaAddr: bigint): void {}
/** Bus notifier BUS_NOTIFY_UNBOUND_DRIVER: the leak report. */
export function debug_dma_unbind(_k: Kernel, _dev: Device): void {}
