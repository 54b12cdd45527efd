// The dma-iommu flush queue (queue_iova / fq_ring_free_locked / fq_flush_timeout) on a fake host.
import { describe, expect, it } from 'vitest';
import { FlushQueue, IOVA_DEFAULT_FQ_SIZE, IOVA_DEFAULT_FQ_TIMEOUT_NS } from './flush-queue.ts';
import { IovaDomain } from './iova.ts';
import { IoPgtable, IOMMU_READ, IOMMU_WRITE } from './io-pgtable.ts';

function setup(size = IOVA_DEFAULT_FQ_SIZE, cpus = 2) {
  const iovad = new IovaDomain(4096, 1, { cpus });
  const timers: { key: string; delayNs: number; fn: () => void }[] = [];
  let flushes = 0;
  const fq = new FlushQueue({ size, timeoutNs: IOVA_DEFAULT_FQ_TIMEOUT_NS }, cpus, {
    name: 'D0',
    iovad,
    flush_iotlb_all: () => flushes++,
    mod_timer: (key, delayNs, fn) => timers.push({ key, delayNs, fn }),
  });
  return { iovad, fq, timers, flushes: () => flushes };
}

describe('flush queue (dma-iommu.c queue_iova)', () => {
  it('queued IOVAs stay allocated until the timer flushes the IOTLB, then go to the timer CPU rcache', () => {
    const { iovad, fq, timers, flushes } = setup();
    const a = iovad.alloc_iova_fast(1, 0xfffff, true, 0);
    const b = iovad.alloc_iova_fast(1, 0xfffff, true, 1);
    fq.queue_iova(a, 1, 0);
    fq.queue_iova(b, 1, 1);
    expect(timers.map((t) => [t.key, t.delayNs])).toEqual([['fq:D0', IOVA_DEFAULT_FQ_TIMEOUT_NS]]); // one timer per domain
    expect(fq.pending()).toBe(2);
    expect(flushes()).toBe(0);
    expect(iovad.alloc_iova_fast(1, 0xfffff, true, 0)).toBe(0xffffd); // neither a nor b is reusable
    timers[0]!.fn();
    expect(flushes()).toBe(1);
    expect(fq.pending()).toBe(0);
    expect(fq.fq_timer_on).toBe(false);
    // both released on CPU 0 (which armed the timer), a first
    expect(iovad.rcacheView(0).cpus[0]!.loaded).toEqual([a, b]);
  });

  it('a full ring (size − 1 entries) forces a flush before the next entry is queued', () => {
    const { iovad, fq, flushes } = setup(8, 1);
    const pfns = Array.from({ length: 8 }, () => iovad.alloc_iova_fast(1, 0xfffff, true, 0));
    for (let i = 0; i < 7; i++) fq.queue_iova(pfns[i]!, 1, 0);
    expect(fq.pending()).toBe(7);
    expect(flushes()).toBe(0);
    fq.queue_iova(pfns[7]!, 1, 0);
    expect(flushes()).toBe(1);
    expect(fq.pending()).toBe(1);
    expect(iovad.rcacheView(0).cpus[0]!.loaded).toEqual(pfns.slice(0, 7));
  });

  it('entries queued after a flush started are kept; entries another CPU flush covered go on the next queue', () => {
    const { iovad, fq, timers, flushes } = setup(4, 2);
    const p = Array.from({ length: 6 }, () => iovad.alloc_iova_fast(1, 0xfffff, true, 0));
    fq.queue_iova(p[0]!, 1, 1); // CPU 1
    for (let i = 1; i < 4; i++) fq.queue_iova(p[i]!, 1, 0); // CPU 0 ring: 3 entries = full
    fq.queue_iova(p[4]!, 1, 0); // flush (CPU 0 ring freed), then queued with the new start count
    expect(flushes()).toBe(1);
    expect(fq.view()[1]!.map((e) => e.iova_pfn)).toEqual([p[0]]); // CPU 1 ring untouched so far
    expect(fq.view()[0]!.map((e) => [e.iova_pfn, e.counter])).toEqual([[p[4], 1]]);
    fq.queue_iova(p[5]!, 1, 1); // CPU 1 queues again: its old entry predates the finished flush
    expect(fq.view()[1]!.map((e) => [e.iova_pfn, e.counter])).toEqual([[p[5], 1]]);
    expect(iovad.rcacheView(0).cpus[1]!.loaded).toEqual([p[0]]);
    expect(timers.length).toBe(1);
  });

  it('IoPgtable: map refuses present entries (-EEXIST); unmap stops at the first hole', () => {
    const pt = new IoPgtable(4096);
    expect(pt.map_pages(10, 0x100000n, 3, IOMMU_READ, 10)).toBe(3);
    expect(pt.iova_to_phys(0xb123n)).toBe(0x101123n);
    expect(pt.map_pages(8, 0x200000n, 4, IOMMU_WRITE, 8)).toBe(2); // stopped at pfn 10: iommu_map_nosync returns -EEXIST
    expect(pt.unmap_pages(8, 8)).toBe(5);
    expect(pt.mappedPages).toBe(0);
    expect(pt.iova_to_phys(0xa000n)).toBe(0n);
  });
});
