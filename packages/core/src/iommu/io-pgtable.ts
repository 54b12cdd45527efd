// A domain's IO page table (the role of drivers/iommu/io-pgtable-arm.c and friends): IOVA granule
// pages to physical pages with protection bits. Simplification: every mapping uses granule-sized
// leaf entries (no block mappings); translations and the addresses handed out are the same.

import type { Hasher } from '../util/hash.ts';
import { exactNum, exactRange, type U64 } from '../util/exact.ts';
import { PfnTable } from './pfn-table.ts';

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
  /** The leaf entries (owner: the IOVA pfn of the installing mapping). */
  readonly ptes = new PfnTable();
  readonly granule: number;
  private readonly shift: bigint;

  constructor(granule: number) {
    this.granule = granule;
    this.shift = BigInt(Math.log2(granule));
  }

  get mappedPages(): number {
    return this.ptes.size;
  }

  /** The entry at `pfn` as an object (a copy; hot paths read `ptes` field by field). */
  lookup(pfn: number): Pte | undefined {
    const phys = this.ptes.phys(pfn);
    return phys === undefined ? undefined : { phys, prot: this.ptes.prot(pfn), owner: this.ptes.owner(pfn) };
  }

  /**
   * map_pages: `count` leaf entries from iova pfn onwards. Stops at the first present entry
   * (io-pgtable-arm WARNs and refuses to overwrite a valid PTE: the caller returns -EEXIST).
   * Returns the pages mapped (`count` unless it stopped).
   */
  map_pages(pfn: number, phys: U64, count: number, prot: number, owner: number): number {
    const g = this.granule;
    // When the last page's address is exact as a number, every page's is: stepped on numbers.
    const base = exactRange(phys, count * g);
    for (let i = 0; i < count; i++) {
      if (this.ptes.has(pfn + i)) return i;
      if (base >= 0) this.ptes.set(pfn + i, 0n, base + i * g, prot, owner);
      else {
        const p = BigInt(phys) + BigInt(i * g);
        this.ptes.set(pfn + i, p, exactNum(p), prot, owner);
      }
    }
    return count;
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
    const phys = this.ptes.phys(Number(iova >> this.shift));
    if (phys === undefined) return 0n;
    return phys + (iova & (BigInt(this.granule) - 1n));
  }

  /** The entry count, then each entry by pfn: pfn, phys, prot, owner (PfnTable.hashEntries). */
  hashInto(h: Hasher): void {
    h.u32(this.ptes.size);
    this.ptes.hashEntries(h, true);
  }
}
