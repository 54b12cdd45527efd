// include/linux/dma-direct.h: CPU ↔ bus address translation through dev->dma_range_map, and
// dma_capable(). No memory encryption is modelled, so __sme_set() is the identity.

import type { Device } from '../platform/device.ts';
import { min_not_zero } from '../platform/device.ts';
import { U64_MAX } from '../util/hex.ts';
import { DMA_MAPPING_ERROR } from './defs.ts';

/** translate_phys_to_dma(): the first dma-ranges entry holding paddr, else DMA_MAPPING_ERROR. */
export function translate_phys_to_dma(dev: Device, paddr: bigint): bigint {
  for (const m of dev.dmaRangeMap) {
    if (paddr >= m.cpu && paddr - m.cpu < m.size) return BigInt.asUintN(64, paddr - m.cpu + m.dma);
  }
  return DMA_MAPPING_ERROR;
}

/** translate_dma_to_phys(): the reverse walk; no match gives (phys_addr_t)-1. */
export function translate_dma_to_phys(dev: Device, dma: bigint): bigint {
  for (const m of dev.dmaRangeMap) {
    if (dma >= m.dma && dma - m.dma < m.size) return BigInt.asUintN(64, dma - m.dma + m.cpu);
  }
  return U64_MAX;
}

export function phys_to_dma_unencrypted(dev: Device, paddr: bigint): bigint {
  return dev.dmaRangeMap.length ? translate_phys_to_dma(dev, paddr) : paddr;
}

/** phys_to_dma(): the unencrypted address with the SME bit set (none here). */
export function phys_to_dma(dev: Device, paddr: bigint): bigint {
  return phys_to_dma_unencrypted(dev, paddr);
}

/** phys_to_dma_direct() (direct.c): force_dma_unencrypted() is never true in the model. */
export function phys_to_dma_direct(dev: Device, paddr: bigint): bigint {
  return phys_to_dma(dev, paddr);
}

export function dma_to_phys(dev: Device, dma: bigint): bigint {
  return dev.dmaRangeMap.length ? translate_dma_to_phys(dev, dma) : dma;
}

/**
 * dma_capable(dev, addr, size, is_ram): the last byte, computed in 64-bit dma_addr_t arithmetic
 * (so it can wrap), must be ≤ min_not_zero(*dma_mask, bus_dma_limit). dma_addr_t is 64 bits wide,
 * so the is_ram low-memory clause never applies. Callers guarantee dev.dmaMask is set.
 */
export function dma_capable(dev: Device, addr: bigint, size: number, _is_ram: boolean): boolean {
  if (addr === DMA_MAPPING_ERROR) return false;
  const end = BigInt.asUintN(64, addr + BigInt(size) - 1n);
  return end <= min_not_zero(dev.dmaMask ?? 0n, dev.busDmaLimit);
}
