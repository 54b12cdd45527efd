// The IOTLB of one domain: translations the device has used, cached until invalidated. Entries are
// tagged by domain (VT-d domain id / SMMU ASID), so devices sharing a domain share them.
// Simplification: unbounded and never evicted on its own, so a stale entry lives until the next
// invalidation of its range or a full flush — the longest window real hardware allows.

import type { Hasher } from '../util/hash.ts';

export interface IotlbEntry {
  phys: bigint;
  prot: number;
}

export class Iotlb {
  private readonly entries = new Map<number, IotlbEntry>();
  /** Full flushes (flush_iotlb_all) so far. */
  flushes = 0;

  get size(): number {
    return this.entries.size;
  }

  lookup(pfn: number): IotlbEntry | undefined {
    return this.entries.get(pfn);
  }

  fill(pfn: number, e: IotlbEntry): void {
    this.entries.set(pfn, { phys: e.phys, prot: e.prot });
  }

  /** Range invalidation (the iotlb_sync of a gathered unmap). */
  invalidate(pfn: number, pages: number): void {
    if (pages > this.entries.size) {
      for (const k of [...this.entries.keys()]) if (k >= pfn && k < pfn + pages) this.entries.delete(k);
    } else {
      for (let i = 0; i < pages; i++) this.entries.delete(pfn + i);
    }
  }

  flush_all(): void {
    this.entries.clear();
    this.flushes++;
  }

  hashInto(h: Hasher): void {
    const keys = [...this.entries.keys()].sort((a, b) => a - b);
    h.u32(keys.length).u32(this.flushes);
    for (const k of keys) {
      const e = this.entries.get(k)!;
      h.num(k).big(e.phys).u32(e.prot);
    }
  }
}
