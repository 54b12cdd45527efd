// A domain's IO page table (the role of drivers/iommu/io-pgtable-arm.c and friends): IOVA granule
// pages to physical pages with protection bits. Simplification: every mapping uses granule-sized
// leaf entries (no block mappings); translations and the addresses handed out are the same.

import type { Hasher } from '../util/hash.ts';

// include/linux/iommu.h protection flags.
export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;
export const IOMMU_CACHE = 1 << 2;
export const IOMMU_NOEXEC = 1 << 3;
export const IOMMU_MMIO = 1 << 4;
export const IOMMU_PRIV = 1 << 5;

export function protString(prot: number): string {
  const names: [number, string][] = [[IOMMU_READ, 'READ'], [IOMMU_WRITE, 'WRITE'], [IOMMU_CACHE, 'CACHE'], [IOMMU_NOEXEC, 'NOEXEC'], [IOMMU_MMIO, 'MMIO'], [IOMMU_PRIV, 'PRIV']];
  return names.filter(([b]) => prot & b).map(([, n]) => n).join('|') || '0';
}

export interface Pte {
  /** Physical address of the page (granule aligned). */
  phys: bigint;
  prot: number;
  /** Model only: IOVA pfn of the dma-iommu mapping that installed the entry (-1: none). */
  owner: number;
}

export const EEXIST = 17;

export class IoPgtable {
  private readonly ptes = new Map<number, Pte>();
  readonly granule: number;
  private readonly shift: bigint;

  constructor(granule: number) {
    this.granule = granule;
    this.shift = BigInt(Math.log2(granule));
  }

  get mappedPages(): number {
    return this.ptes.size;
  }

  lookup(pfn: number): Pte | undefined {
    return this.ptes.get(pfn);
  }

  /**
   * map_pages: `count` leaf entries from iova pfn onwards. Stops at the first present entry with
   * -EEXIST (io-pgtable-arm WARNs and refuses to overwrite a valid PTE). Returns pages mapped.
   */
  map_pages(pfn: number, phys: bigint, count: number, prot: number, owner: number): { mapped: number; err: number } {
    const g = BigInt(this.granule);
    let p = phys;
    for (let i = 0; i < count; i++, p += g) {
      if (this.ptes.has(pfn + i)) return { mapped: i, err: -EEXIST };
      this.ptes.set(pfn + i, { phys: p, prot, owner });
    }
    return { mapped: count, err: 0 };
  }

  /** unmap_pages: clears entries from pfn on and stops at the first absent one. Returns pages unmapped. */
  unmap_pages(pfn: number, count: number): number {
    for (let i = 0; i < count; i++) {
      if (!this.ptes.delete(pfn + i)) return i;
    }
    return count;
  }

  /** iova_to_phys: 0 when nothing is mapped there (as the kernel's op returns). */
  iova_to_phys(iova: bigint): bigint {
    const pte = this.ptes.get(Number(iova >> this.shift));
    if (!pte) return 0n;
    return pte.phys + (iova & (BigInt(this.granule) - 1n));
  }

  hashInto(h: Hasher): void {
    const keys = [...this.ptes.keys()].sort((a, b) => a - b);
    h.u32(keys.length);
    for (const k of keys) {
      const p = this.ptes.get(k)!;
      h.num(k).big(p.phys).u32(p.prot).num(p.owner);
    }
  }
}
