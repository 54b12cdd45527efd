// drivers/iommu/iova.c placements: top-down rbtree walk, cached nodes, retry pass, rcache, depot.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IOVA_DEPOT_DELAY_NS, IOVA_MAG_SIZE, IovaDomain, fls_long, order_base_2, roundup_pow_of_two, type DelayedWorkHost } from './iova.ts';

const PFN32 = 0xfffff; // DMA_BIT_MASK(32) >> 12
const PFN48 = 2 ** 36 - 1; // DMA_BIT_MASK(48) >> 12

function domain(cpus = 4, work?: DelayedWorkHost): IovaDomain {
  const d = new IovaDomain(4096, 1, work ? { cpus, work } : { cpus });
  return d;
}

function alloc(d: IovaDomain, size: number, limit: number): number {
  const iova = d.alloc_iova(size, limit, true);
  expect(d.checkInvariants()).toBeNull();
  return iova ? iova.pfn_lo : 0;
}

describe('helpers', () => {
  it('fls_long / order_base_2 / roundup_pow_of_two', () => {
    expect([0, 1, 2, 3, 4, 2 ** 32, 2 ** 40 + 5].map(fls_long)).toEqual([0, 1, 2, 2, 3, 33, 41]);
    expect([1, 2, 3, 4, 5, 32, 33].map(order_base_2)).toEqual([0, 1, 2, 2, 3, 5, 6]);
    expect([1, 2, 3, 5, 17, 31].map(roundup_pow_of_two)).toEqual([1, 2, 4, 8, 32, 32]);
  });
});

describe('alloc_iova: top-down placement (iova.c __alloc_and_insert_iova_range)', () => {
  it('first 32-bit allocation of 1 page is pfn 0xfffff, then allocations descend', () => {
    const d = domain();
    expect(alloc(d, 1, PFN32)).toBe(0xfffff);
    expect(alloc(d, 1, PFN32)).toBe(0xffffe);
    expect(alloc(d, 1, PFN32)).toBe(0xffffd);
    expect(d.cached32_node.pfn_lo).toBe(0xffffd);
    expect(d.cached_node).toEqual(d.anchor);
  });

  it('size alignment to the next power of two: 2 → 2-aligned, 3 → 4-aligned, 5 → 8-aligned', () => {
    const d = domain();
    expect(alloc(d, 1, PFN32)).toBe(0xfffff);
    expect(alloc(d, 2, PFN32)).toBe(0xffffc);
    expect(alloc(d, 3, PFN32)).toBe(0xffff8);
    expect(d.find_iova(0xffffa)).toEqual({ pfn_lo: 0xffff8, pfn_hi: 0xffffa });
    expect(alloc(d, 5, PFN32)).toBe(0xffff0);
    // without size alignment the block sits right below the previous one
    expect(d.alloc_iova(3, PFN32, false)!.pfn_lo).toBe(0xfffed);
  });

  it('a 64-bit limit uses cached_node and starts just below the limit', () => {
    const d = domain();
    expect(alloc(d, 1, PFN48)).toBe(PFN48);
    expect(alloc(d, 1, PFN32)).toBe(0xfffff);
    expect(alloc(d, 1, PFN48)).toBe(PFN48 - 1);
    expect(d.cached_node.pfn_lo).toBe(PFN48 - 1);
    expect(d.cached32_node.pfn_lo).toBe(0xfffff);
  });

  it('a freed hole at or above the cached node moves the cache up and is reused at once', () => {
    const d = domain();
    const a = alloc(d, 1, PFN32);
    const b = alloc(d, 1, PFN32);
    alloc(d, 1, PFN32);
    d.free_iova(b);
    expect(d.cached32_node.pfn_lo).toBe(a); // rb_next of the freed node
    expect(alloc(d, 1, PFN32)).toBe(b);
  });

  it('a hole above the cached node is found only by the retry pass', () => {
    const d = domain();
    expect(alloc(d, 1, 8)).toBe(8);
    expect(alloc(d, 1, 8)).toBe(7);
    d.free_iova(8); // cached32 → anchor
    expect(alloc(d, 2, 8)).toBe(4); // 2-aligned below 7: [4,5]; hole 8 is now above cached32
    expect(d.cached32_node.pfn_lo).toBe(4);
    expect(alloc(d, 1, 8)).toBe(3);
    expect(alloc(d, 1, 8)).toBe(2);
    expect(alloc(d, 1, 8)).toBe(1);
    // nothing left below the cached node: the second pass covers (cached.pfn_hi, limit]
    expect(alloc(d, 1, 8)).toBe(8);
    expect(alloc(d, 1, 8)).toBe(6);
    // now full: the failure is remembered in max32_alloc_size
    expect(alloc(d, 1, 8)).toBe(0);
    expect(d.max32_alloc_size).toBe(1);
  });

  it('max32_alloc_size fails 32-bit requests of that size fast until a 32-bit range is freed', () => {
    const d = domain();
    expect(alloc(d, 4, 7)).toBe(4); // [4,7]
    expect(alloc(d, 4, 7)).toBe(0); // space [1,3] too small: remembered
    expect(d.max32_alloc_size).toBe(4);
    // a size ≥ 4 with a 32-bit limit now fails without walking, even though space exists up there
    expect(alloc(d, 4, PFN32)).toBe(0);
    // smaller sizes still walk, from cached32_node (the [4,7] block), not from the limit
    expect(alloc(d, 2, PFN32)).toBe(2);
    // a 64-bit limit is not affected
    expect(alloc(d, 4, PFN48)).toBe(PFN48 - 3);
    d.free_iova(5);
    expect(d.max32_alloc_size).toBe(d.dma_32bit_pfn);
    // freeing [4,7] (above cached32 = [2,3]) moved cached32 to its rb_next, the 64-bit block
    expect(d.cached32_node.pfn_lo).toBe(PFN48 - 3);
    expect(alloc(d, 4, PFN32)).toBe(0xffffc);
  });

  it('free_iova of an unallocated pfn does nothing; find_iova finds the containing range', () => {
    const d = domain();
    alloc(d, 4, PFN32);
    expect(d.find_iova(0xffffd)).toEqual({ pfn_lo: 0xffffc, pfn_hi: 0xfffff });
    expect(d.find_iova(0xffffb)).toBeNull();
    d.free_iova(0x1234);
    expect(d.allocatedPfns()).toBe(4);
    d.free_iova(0xffffe); // any pfn inside the range frees all of it
    expect(d.allocatedPfns()).toBe(0);
  });

  it('a tree of hundreds of ranges (past the arrays\' first capacity) keeps every range, in order, through frees and refills', () => {
    // The tree lives in typed arrays that double when full: ranges must survive the copy and the
    // shifts of inserts and removals in the middle.
    const d = domain();
    const pfns = Array.from({ length: 300 }, () => alloc(d, 1, PFN32));
    expect(pfns).toEqual(Array.from({ length: 300 }, (_, i) => 0xfffff - i)); // top-down, one below the other
    for (let i = 1; i < 300; i += 2) d.free_iova(pfns[i]!);
    expect(d.checkInvariants()).toBeNull();
    expect(d.ranges()).toEqual(pfns.filter((_, i) => i % 2 === 0).reverse().map((p) => ({ pfn_lo: p, pfn_hi: p })));
    for (let i = 0; i < 300; i++) expect(d.find_iova(pfns[i]!)).toEqual(i % 2 === 0 ? { pfn_lo: pfns[i], pfn_hi: pfns[i] } : null);
    // The first free (0xffffe, above the cached node) moved the 32-bit cached node up to its
    // successor, 0xfffff; a 2-page, 2-aligned request fits no 1-page hole, so the walk down from
    // there places it below everything (__cached_rbnode_delete_update, then the downward walk).
    expect(alloc(d, 2, PFN32)).toBe(0xfffff - 301);
    expect(d.allocatedPfns()).toBe(150 + 2);
  });
});

describe('alloc_iova_fast / free_iova_fast: per-CPU rcache (iova.c)', () => {
  it('rounds cacheable sizes up to a power of two and serves a freed pfn back on the same CPU (hit)', () => {
    const d = domain();
    const p = d.alloc_iova_fast(3, PFN32, true, 0);
    expect(p).toBe(0xffffc);
    expect(d.find_iova(p)).toEqual({ pfn_lo: 0xffffc, pfn_hi: 0xfffff });
    d.free_iova_fast(p, 3, 0); // order_base_2(3) = 2: the 4-pfn bucket
    expect(d.rcacheView(2).cpus[0]!.loaded).toEqual([p]);
    expect(d.allocatedPfns()).toBe(4); // cached pfns stay allocated in the tree
    expect(d.alloc_iova_fast(4, PFN32, true, 0)).toBe(p);
  });

  it('another CPU misses and allocates from the tree', () => {
    const d = domain();
    const p = d.alloc_iova_fast(1, PFN32, true, 0);
    d.free_iova_fast(p, 1, 0);
    expect(d.alloc_iova_fast(1, PFN32, true, 1)).toBe(0xffffe);
    expect(d.alloc_iova_fast(1, PFN32, true, 0)).toBe(p);
  });

  it('a cached pfn above the limit is a miss; the magazine is scanned from the top for one that fits', () => {
    const d = domain();
    const hi = d.alloc_iova_fast(1, PFN48, true, 0);
    const lo = d.alloc_iova_fast(1, PFN32, true, 0);
    const hi2 = d.alloc_iova_fast(1, PFN48, true, 0);
    d.free_iova_fast(hi, 1, 0);
    d.free_iova_fast(lo, 1, 0);
    d.free_iova_fast(hi2, 1, 0);
    // magazine [hi, lo, hi2]: a 32-bit request skips hi2 (top), takes lo and moves hi2 into its slot
    expect(d.alloc_iova_fast(1, PFN32, true, 0)).toBe(lo);
    expect(d.rcacheView(0).cpus[0]!.loaded).toEqual([hi, hi2]);
    // nothing ≤ the 32-bit limit left: miss, tree allocation
    expect(d.alloc_iova_fast(1, PFN32, true, 0)).toBe(0xffffe);
    // a 64-bit request takes the top entry
    expect(d.alloc_iova_fast(1, PFN48, true, 0)).toBe(hi2);
  });

  it('sizes of 33 pfns and more bypass the cache', () => {
    const d = domain();
    const p = d.alloc_iova_fast(33, PFN32, true, 0);
    expect(d.find_iova(p)).toEqual({ pfn_lo: 0xfffc0, pfn_hi: 0xfffc0 + 32 }); // 64-aligned
    d.free_iova_fast(p, 33, 0);
    expect(d.allocatedPfns()).toBe(0);
  });

  it('loaded/prev swap, then a full magazine goes to the depot; an empty CPU takes it from there', () => {
    const d = domain(2);
    const pfns: number[] = [];
    for (let i = 0; i < 2 * IOVA_MAG_SIZE + 1; i++) pfns.push(d.alloc_iova_fast(1, PFN48, true, 0));
    for (const p of pfns) d.free_iova_fast(p, 1, 0);
    const v = d.rcacheView(0);
    expect(v.depot.length).toBe(1);
    expect(v.depot[0]).toEqual(pfns.slice(IOVA_MAG_SIZE, 2 * IOVA_MAG_SIZE)); // the second magazine filled
    expect(v.cpus[0]!.prev).toEqual(pfns.slice(0, IOVA_MAG_SIZE));
    expect(v.cpus[0]!.loaded).toEqual([pfns[2 * IOVA_MAG_SIZE]]);
    // CPU 1 has nothing loaded: it takes the depot's magazine and pops its top
    expect(d.alloc_iova_fast(1, PFN48, true, 1)).toBe(pfns[2 * IOVA_MAG_SIZE - 1]);
    expect(d.rcacheView(0).depot.length).toBe(0);
  });

  it('the depot work trims one magazine per run while the depot holds more than one per CPU', () => {
    const pending = new Map<string, () => void>();
    const work: DelayedWorkHost = {
      schedule_delayed_work: (key, delayNs, fn) => {
        expect(delayNs).toBe(IOVA_DEPOT_DELAY_NS);
        if (!pending.has(key)) pending.set(key, fn);
      },
    };
    const d = domain(1, work);
    const pfns: number[] = [];
    for (let i = 0; i < 4 * IOVA_MAG_SIZE + 1; i++) pfns.push(d.alloc_iova_fast(1, PFN48, true, 0));
    for (const p of pfns) d.free_iova_fast(p, 1, 0);
    expect(d.rcacheView(0).depot.length).toBe(3);
    expect([...pending.keys()]).toEqual(['iova-depot:iova:0']);
    const run = () => {
      const fn = pending.get('iova-depot:iova:0')!;
      pending.delete('iova-depot:iova:0');
      fn();
    };
    const before = d.allocatedPfns();
    run();
    expect(d.rcacheView(0).depot.length).toBe(2);
    expect(d.allocatedPfns()).toBe(before - IOVA_MAG_SIZE);
    run();
    expect(d.rcacheView(0).depot.length).toBe(1); // = cpus: the work stops rescheduling
    run();
    expect(d.rcacheView(0).depot.length).toBe(1);
    expect(pending.size).toBe(0);
  });

  it('flush-and-retry: a failing allocation flushes every CPU cache and the depot, then retries once', () => {
    const d = domain(2);
    const pfns: number[] = [];
    for (let i = 0; i < 8; i++) pfns.push(d.alloc_iova_fast(1, 8, true, i % 2));
    expect(pfns).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    pfns.forEach((p, i) => d.free_iova_fast(p, 1, i % 2));
    expect(d.allocatedPfns()).toBe(8);
    // order 1 has nothing cached and the tree is full
    expect(d.alloc_iova_fast(2, 8, false, 0)).toBe(0);
    expect(d.alloc_iova_fast(2, 8, true, 0)).toBe(6);
    expect(d.allocatedPfns()).toBe(2);
    expect(d.rcacheView(0).cpus.every((c) => c.loaded.length === 0 && c.prev.length === 0)).toBe(true);
  });
});

describe('property: random alloc/free sequences (seeded)', () => {
  type Op = { kind: 'alloc'; size: number; wide: boolean; fast: boolean; cpu: number } | { kind: 'free'; pick: number; cpu: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('alloc' as const), size: fc.integer({ min: 1, max: 40 }), wide: fc.boolean(), fast: fc.boolean(), cpu: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant('free' as const), pick: fc.nat(), cpu: fc.integer({ min: 0, max: 2 }) }),
  );

  it('never hands out overlapping ranges, never outside [start_pfn, limit]', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 100, maxLength: 400 }), (ops) => {
        // A 64 MiB granule makes the 32-bit space 64 pfns: holes, retry passes, failures and
        // rcache flush-and-retry all happen (about a quarter of the allocations fail).
        const d = new IovaDomain(1 << 26, 1, { cpus: 3 });
        const LIM32 = 0x3f;
        const LIMW = 0xff;
        const live: { pfn: number; size: number; fast: boolean }[] = [];
        for (const o of ops) {
          if (o.kind === 'alloc') {
            const limit = o.wide ? LIMW : LIM32;
            let pfn: number;
            if (o.fast) pfn = d.alloc_iova_fast(o.size, limit, true, o.cpu);
            else pfn = d.alloc_iova(o.size, limit, true)?.pfn_lo ?? 0;
            if (!pfn) continue;
            const hi = pfn + o.size - 1;
            if (pfn < d.start_pfn || hi > limit) return false;
            for (const l of live) if (pfn <= l.pfn + l.size - 1 && l.pfn <= hi) return false;
            live.push({ pfn, size: o.size, fast: o.fast });
          } else if (live.length > 0) {
            const [l] = live.splice(o.pick % live.length, 1);
            if (l!.fast) d.free_iova_fast(l!.pfn, l!.size, o.cpu);
            else d.free_iova(l!.pfn);
          }
          if (d.checkInvariants() !== null) return false;
          // every cached pfn is the start of a range that is still allocated in the tree
          for (let order = 0; order < 6; order++) {
            const v = d.rcacheView(order);
            const cached = [...v.depot.flat(), ...v.cpus.flatMap((c) => [...c.loaded, ...c.prev])];
            if (cached.some((p) => d.find_iova(p)?.pfn_lo !== p)) return false;
          }
        }
        return true;
      }),
      { seed: 0x10fa, numRuns: 300 },
    );
  });
});
