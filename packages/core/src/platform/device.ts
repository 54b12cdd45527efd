// struct device, as far as the DMA layer looks at it: masks, bus limit, dma_range_map,
// coherency, min_align_mask, how it reaches memory (direct / dma-iommu / legacy ops).

import type { DeviceConfig, DmaRange } from '../config.ts';
import { DMA_BIT_MASK } from '../util/hex.ts';
import type { Hasher } from '../util/hash.ts';

export class Device {
  readonly name: string;
  readonly driver: string;
  readonly index: number;
  readonly cfg: DeviceConfig;
  /** *dev->dma_mask; null when the device has no dma_mask pointer. */
  dmaMask: bigint | null;
  coherentDmaMask: bigint;
  /** 0 = no limit. */
  busDmaLimit: bigint;
  /** dev->dma_range_map; empty = identity. */
  readonly dmaRangeMap: readonly DmaRange[];
  readonly coherent: boolean;
  /** dev->dma_iommu: uses dma-iommu. */
  readonly dmaIommu: boolean;
  /** Legacy dma_map_ops present (dma: ops). */
  readonly hasOps: boolean;
  readonly untrusted: boolean;
  readonly pci: boolean;
  readonly minAlignMask: number;
  readonly maxSegmentSize = 65536;
  /** dma_get_seg_boundary(): PCI devices get 0xffffffff at enumeration; others ULONG_MAX. */
  readonly segmentBoundaryMask: bigint;
  /** dev->dma_skip_sync (dma_setup_need_sync); cleared by swiotlb when it bounces. */
  dmaSkipSync: boolean;
  /** pci_32bit_workaround of dma-iommu: try a 32-bit IOVA first (cleared for good on failure). */
  pci32bitWorkaround: boolean;
  /** Name of the IOMMU domain for dma: iommu devices. */
  readonly domain: string | undefined;
  /** One-time warnings already given (dev_WARN_ONCE / dev_warn_once call sites). */
  readonly warnedOnce = new Set<string>();

  constructor(cfg: DeviceConfig, index: number, forcedac: boolean) {
    this.cfg = cfg;
    this.name = cfg.name;
    this.driver = cfg.driver;
    this.index = index;
    this.dmaMask = cfg.mask === null ? null : DMA_BIT_MASK(cfg.mask);
    this.coherentDmaMask = DMA_BIT_MASK(cfg.coherentMask);
    this.busDmaLimit = cfg.busLimit;
    this.dmaRangeMap = cfg.dmaRanges;
    this.coherent = cfg.coherent;
    this.dmaIommu = cfg.dma === 'iommu';
    this.hasOps = cfg.dma === 'ops';
    this.untrusted = cfg.untrusted;
    this.pci = cfg.pci;
    this.segmentBoundaryMask = cfg.pci ? 0xffffffffn : (1n << 64n) - 1n;
    this.minAlignMask = cfg.minAlignMask;
    this.domain = cfg.domain;
    this.pci32bitWorkaround = cfg.pci && !forcedac;
    // dma_setup_need_sync: direct and dma-iommu skip sync on coherent devices; our legacy ops
    // have no sync callbacks, so they always skip (the debug build still runs the checks).
    this.dmaSkipSync = this.hasOps ? true : this.coherent;
  }

  /** dma_get_mask(): *dma_mask if set, else DMA_BIT_MASK(32). */
  dma_get_mask(): bigint {
    return this.dmaMask ?? DMA_BIT_MASK(32);
  }

  hashInto(h: Hasher): void {
    h.str(this.name).big(this.dmaMask ?? -1n).big(this.coherentDmaMask).big(this.busDmaLimit);
    h.bool(this.dmaSkipSync).bool(this.pci32bitWorkaround);
    h.u32(this.warnedOnce.size);
    for (const w of [...this.warnedOnce].sort()) h.str(w);
  }
}

/** min_not_zero(a, b) for masks and limits. */
export function min_not_zero(a: bigint, b: bigint): bigint {
  if (a === 0n) return b;
  if (b === 0n) return a;
  return a < b ? a : b;
}
