// Constants of include/linux/dma-mapping.h and include/linux/dma-direction.h.

import { U64_MAX } from '../util/hex.ts';

/** DMA_MAPPING_ERROR: all ones of a 64-bit dma_addr_t. */
export const DMA_MAPPING_ERROR = U64_MAX;
/** SIZE_MAX on a 64-bit kernel. */
export const SIZE_MAX = U64_MAX;

export const DMA_BIDIRECTIONAL = 0;
export const DMA_TO_DEVICE = 1;
export const DMA_FROM_DEVICE = 2;
export const DMA_NONE = 3;
export type DmaDir = number;

/** Names dma-debug prints for a direction. */
export const DIR_DEBUG_NAMES = ['DMA_BIDIRECTIONAL', 'DMA_TO_DEVICE', 'DMA_FROM_DEVICE', 'DMA_NONE'] as const;
/** Names the trace decoder prints for a direction (no DMA_ prefix). */
export const DIR_TRACE_NAMES = ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE', 'NONE'] as const;
/** Names used in scenario files. */
export const DIR_SCENARIO_NAMES = ['bidirectional', 'to-device', 'from-device', 'none'] as const;

export function valid_dma_direction(dir: number): boolean {
  return dir === DMA_BIDIRECTIONAL || dir === DMA_TO_DEVICE || dir === DMA_FROM_DEVICE;
}

export const DMA_ATTR_WEAK_ORDERING = 1 << 1;
export const DMA_ATTR_WRITE_COMBINE = 1 << 2;
export const DMA_ATTR_NO_KERNEL_MAPPING = 1 << 4;
export const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
export const DMA_ATTR_FORCE_CONTIGUOUS = 1 << 6;
export const DMA_ATTR_ALLOC_SINGLE_PAGES = 1 << 7;
export const DMA_ATTR_NO_WARN = 1 << 8;
export const DMA_ATTR_PRIVILEGED = 1 << 9;
/** New in 6.18 (the seed series): the physical address is MMIO / peer device memory. */
export const DMA_ATTR_MMIO = 1 << 10;

/** attrs in trace-decoder order: [bit, trace name, scenario name]. 6.18 lists names up to MMIO. */
export const ATTR_TABLE: ReadonlyArray<readonly [number, string, string]> = [
  [DMA_ATTR_WEAK_ORDERING, 'WEAK_ORDERING', 'weak-ordering'],
  [DMA_ATTR_WRITE_COMBINE, 'WRITE_COMBINE', 'write-combine'],
  [DMA_ATTR_NO_KERNEL_MAPPING, 'NO_KERNEL_MAPPING', 'no-kernel-mapping'],
  [DMA_ATTR_SKIP_CPU_SYNC, 'SKIP_CPU_SYNC', 'skip-cpu-sync'],
  [DMA_ATTR_FORCE_CONTIGUOUS, 'FORCE_CONTIGUOUS', 'force-contiguous'],
  [DMA_ATTR_ALLOC_SINGLE_PAGES, 'ALLOC_SINGLE_PAGES', 'alloc-single-pages'],
  [DMA_ATTR_NO_WARN, 'NO_WARN', 'no-warn'],
  [DMA_ATTR_PRIVILEGED, 'PRIVILEGED', 'privileged'],
  [DMA_ATTR_MMIO, 'MMIO', 'mmio'],
];

export const ENOMEM = 12;
export const EINVAL = 22;
export const EIO = 5;
export const EREMOTEIO = 121;
export const EOPNOTSUPP = 95;
