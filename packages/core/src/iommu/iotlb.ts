// The IOTLB of one domain: translations the device has used, cached until invalidated. Entries are
// tagged by domain (VT-d domain id / SMMU ASID), so devices sharing a domain share them.
// Simplification: unbounded and never evicted on its own, so a stale entry lives until the next
// invalidation of its range or a full flush — the longest window real hardware allows.

import type { Hasher } from '../util/hash.ts';
import { PfnTable } from './pfn-table.ts';

export class Iotlb {
  /** Cached translations by IOVA pfn (phys and prot; owner unused). */
  readonly entries = new PfnTable();
  /** Full flushes (flush_iotlb_all) so far. */
  flushes = 0;

  get size(): number {
    return this.entries.size;
  }

  /** Caches the page table's entry at `pfn` (present). */
  fill(pfn: number, pt: PfnTable): void {
    this.entries.copyFrom(pfn, pt);
  }

  /** Range invalidation (the iotlb_sync of a gathered unmap). */
  invalidate(pfn: number, pages: number): void {
    this.entries.deleteRange(pfn, pages);
  }

  flush_all(): void {
    this.entries.clear();
    this.flushes++;
  }

  /** The entry count and the flush count, then each entry by pfn: pfn, phys, prot (PfnTable.hashEntries). */
  hashInto(h: Hasher): void {
    h.u32(this.entries.size).u32(this.flushes);
    this.entries.hashEntries(h, false);
  }
}
