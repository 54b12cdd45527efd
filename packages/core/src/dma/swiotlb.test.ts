// swiotlb, slot-exact: pool geometry and placement, the per-area search (swiotlb_search_pool_area)
// with its cursor and list bookkeeping, release (swiotlb_release_slots), min_align_mask offset
// preservation, the copy table, "swiotlb buffer is full" with NO_WARN and the ratelimit, 256 KiB.
import { describe, expect, test } from 'vitest';
import { testMachine } from '../testing.ts';
import type { Machine } from '../machine.ts';
import { DMA_ATTR_NO_WARN, DMA_ATTR_SKIP_CPU_SYNC, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE } from './defs.ts';
import { INVALID_PHYS_ADDR } from './swiotlb.ts';

const DEV = '0000:01:00.0';
const HIGH = 0x100000000n; // 4 GiB: above a 32-bit mask, so every map bounces

function small(slots = 512, areas = 1, dev: Record<string, unknown> = {}): Machine {
  return testMachine({ platform: { swiotlb: { slots, areas, force: false } }, devices: [{ mask: 32, ...dev }] });
}
function map(m: Machine, phys: bigint, size: number, dir = DMA_TO_DEVICE, attrs = 0, cpu = 0): bigint {
  return m.apply({ op: 'map-single', dev: DEV, cpu, phys, size, dir, attrs }).result;
}
function unmap(m: Machine, addr: bigint, size: number, dir = DMA_TO_DEVICE, attrs = 0): void {
  m.apply({ op: 'unmap-single', dev: DEV, cpu: 0, addr, size, dir, attrs });
}
function lists(m: Machine, n: number): number[] {
  return Array.from({ length: n }, (_, i) => m.k.swiotlb.slotList(i));
}

describe('pool geometry (swiotlb_init_remap / swiotlb_adjust_nareas)', () => {
  test('default pool: 32768 slots, one area per CPU, memblock_alloc_low top-down below 4 GiB', () => {
    const m = testMachine({});
    const s = m.k.swiotlb;
    expect([s.totalSlots, s.nareas, s.areaNslabs]).toEqual([32768, 4, 8192]);
    expect(s.start).toBe(0xfc000000n);
    expect(s.end).toBe(0x100000000n);
    expect(lists(m, 3)).toEqual([128, 127, 126]);
    expect(s.slotList(127)).toBe(1);
    expect(s.slotList(128)).toBe(128);
  });

  test('nslabs grows to 128 per area and a power of two; areas round up to a power of two', () => {
    expect(testMachine({ platform: { cpus: 3, swiotlb: { slots: 100, force: false } } }).k.swiotlb.totalSlots).toBe(512); // 4 areas × 128
    const m = testMachine({ platform: { cpus: 2, swiotlb: { slots: 384, force: false } } });
    expect([m.k.swiotlb.totalSlots, m.k.swiotlb.nareas]).toEqual([512, 2]);
  });

  test('platform.swiotlb.base places the pool; the page allocator keeps out of it', () => {
    const m = testMachine({ platform: { swiotlb: { slots: 128, areas: 1, force: false, base: 0x10000000n } } });
    expect(m.k.swiotlb.start).toBe(0x10000000n);
    expect(() => m.k.mem.reserve(0x10000000n, 4096n, 'x')).toThrow(/overlaps the swiotlb pool/);
  });

  test('no room below 4 GiB is a clear configuration error', () => {
    expect(() => testMachine({ platform: { ram: [{ base: 0x100000000n, size: 1n << 32n }] } })).toThrow(/no room for 32768 slots/);
  });
});

describe('swiotlb_search_pool_area and swiotlb_release_slots, hand-computed', () => {
  test('a sequence of maps and unmaps leaves the slots and list values the algorithm gives', () => {
    const m = small();
    const s = m.k.swiotlb;
    const base = s.start;
    // A: 4096 bytes ≥ PAGE_SIZE → page-aligned, 2 slots at index 0.
    const a = map(m, HIGH, 4096);
    expect(a).toBe(base);
    expect(lists(m, 3)).toEqual([0, 0, 126]);
    expect([s.slotOrig(0), s.slotOrig(1)]).toEqual([HIGH, HIGH + 2048n]);
    expect([s.slotAllocSize(0), s.slotAllocSize(1)]).toEqual([4096, 2048]);
    // B: 100 bytes → slot 2 (the area cursor is at 2).
    const b = map(m, HIGH + 0x10000n, 100);
    expect(b).toBe(base + 2n * 2048n);
    // C: 5000 bytes → 3 slots, page aligned: slot 3 is misaligned, 4 is taken; slot 3's run is renumbered to 1.
    const c = map(m, HIGH + 0x20000n, 5000);
    expect(c).toBe(base + 4n * 2048n);
    expect(lists(m, 8)).toEqual([0, 0, 0, 1, 0, 0, 0, 121]);
    expect(s.usedSlots).toBe(6);
    // Free B: merges with slot 3's run.
    unmap(m, b, 100);
    expect(lists(m, 8)).toEqual([0, 0, 2, 1, 0, 0, 0, 121]);
    // Free A: merges forward into B's freed run.
    unmap(m, a, 4096);
    expect(lists(m, 8)).toEqual([4, 3, 2, 1, 0, 0, 0, 121]);
    expect(s.slotOrig(0)).toBe(INVALID_PHYS_ADDR);
    // D: the cursor (area index 7) wins over the free slots at 0..3.
    const d = map(m, HIGH + 0x30000n, 2048);
    expect(d).toBe(base + 7n * 2048n);
    expect(s.areaIndex[0]).toBe(8);
    // Free C: its run joins the free slots before it.
    unmap(m, c, 5000);
    expect(lists(m, 8)).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
    unmap(m, d, 2048);
    expect(lists(m, 3)).toEqual([128, 127, 126]);
    expect(s.usedSlots).toBe(0);
  });

  test('a run never crosses a 128-slot segment; the back-walk stops at the segment start', () => {
    const m = small(256, 1);
    const s = m.k.swiotlb;
    const first = map(m, HIGH, 120 * 2048); // slots 0..119 (page aligned)
    expect(first).toBe(s.start);
    const second = map(m, HIGH + 0x1000000n, 10 * 2048); // 8 slots left in segment 0: goes to 128
    expect(second).toBe(s.slotAddr(128));
    expect(s.slotList(120)).toBe(8); // untouched: 128 is another segment
    expect(s.slotList(127)).toBe(1);
  });

  test('areas come from the acting CPU, with wrap-around to the next area when one is full', () => {
    const m = testMachine({ platform: { cpus: 2, swiotlb: { slots: 256, force: false } }, devices: [{ mask: 32 }] });
    const s = m.k.swiotlb;
    expect(map(m, HIGH, 2048, DMA_TO_DEVICE, 0, 1)).toBe(s.slotAddr(128)); // cpu 1 → area 1
    expect(map(m, HIGH, 100 * 2048, DMA_TO_DEVICE, 0, 0)).toBe(s.slotAddr(0));
    // area 0 has 28 slots left: a 64-slot request from cpu 0 moves on to area 1.
    expect(map(m, HIGH, 64 * 2048, DMA_TO_DEVICE, 0, 0)).toBe(s.slotAddr(130));
    expect([s.areaUsed[0], s.areaUsed[1]]).toEqual([100, 65]);
  });

  test('a second unmap of the same bounce address is a double-free finding and changes nothing', () => {
    const m = small();
    const a = map(m, HIGH, 2048);
    unmap(m, a, 2048);
    const o = m.apply({ op: 'unmap-single', dev: DEV, cpu: 0, addr: a, size: 2048, dir: DMA_TO_DEVICE, attrs: 0 });
    expect(o.findings.map((f) => f.kind)).toEqual(['double-free']);
    expect(m.k.swiotlb.usedSlots).toBe(0);
    expect(lists(m, 2)).toEqual([128, 127]);
  });
});

describe('min_align_mask: the bounce address keeps the original low bits', () => {
  test('NVMe-style min_align_mask 4095: offset 0xa10 is kept, slot chosen by bit 11, padding accounted', () => {
    const m = small(512, 1, { minAlignMask: 4095 });
    const s = m.k.swiotlb;
    const orig = HIGH + 0xa10n;
    const a = map(m, orig, 512);
    expect(a).toBe(s.start + 0xa10n); // slot 1 (bit 11 set) + 0x210
    expect(a & 0xfffn).toBe(orig & 0xfffn);
    expect(s.slotList(0)).toBe(1);
    expect(s.slotAllocSize(1)).toBe(512);
    expect(s.slotOrig(1)).toBe(orig);
    unmap(m, a, 512);
    expect(lists(m, 2)).toEqual([128, 127]);
  });

  test('every offset in a page is preserved under min_align_mask 4095', () => {
    const m = small(512, 1, { minAlignMask: 4095 });
    for (const off of [0n, 1n, 0x7ffn, 0x800n, 0x801n, 0xfffn]) {
      const a = map(m, HIGH + 0x5000n + off, 300);
      expect(a & 0xfffn).toBe(off);
      unmap(m, a, 300);
    }
    expect(m.k.swiotlb.usedSlots).toBe(0);
  });

  test('dma_max_mapping_size: 256 KiB less the rounded-up min_align_mask for an addressing-limited device', () => {
    expect(small().apply({ op: 'max-mapping-size', dev: DEV, cpu: 0 }).result).toBe(262144n);
    expect(small(512, 1, { minAlignMask: 4095 }).apply({ op: 'max-mapping-size', dev: DEV, cpu: 0 }).result).toBe(258048n);
  });
});

describe('the copy table (swiotlb_bounce)', () => {
  function setup(): Machine {
    const m = small();
    m.apply({ op: 'cpu-write', cpu: 0, phys: HIGH, size: 64, fill: 0x11 });
    return m;
  }
  const read = (m: Machine, addr: bigint, n: number, dev = true): number[] =>
    [...(dev ? m.apply({ op: 'dev-read', dev: DEV, cpu: 0, addr, size: n }) : m.apply({ op: 'cpu-read', cpu: 0, phys: addr, size: n })).data!];

  test('TO_DEVICE: map copies original → bounce; unmap copies nothing back', () => {
    const m = setup();
    const a = map(m, HIGH, 64, DMA_TO_DEVICE);
    expect(read(m, a, 64)).toEqual(Array(64).fill(0x11));
    m.k.mem.fill(m.k.swiotlb.start, 64, 0x22); // scribble on the bounce slot behind the model's back
    unmap(m, a, 64, DMA_TO_DEVICE);
    expect(read(m, HIGH, 64, false)).toEqual(Array(64).fill(0x11));
  });

  test('FROM_DEVICE: map still copies in (a partial device write keeps the original bytes), unmap copies back', () => {
    const m = setup();
    const a = map(m, HIGH, 64, DMA_FROM_DEVICE);
    m.apply({ op: 'dev-write', dev: DEV, cpu: 0, addr: a, size: 16, fill: 0xab });
    unmap(m, a, 64, DMA_FROM_DEVICE);
    expect(read(m, HIGH, 64, false)).toEqual([...Array(16).fill(0xab), ...Array(48).fill(0x11)]);
  });

  test('BIDIRECTIONAL: sync_for_cpu copies back, sync_for_device copies out again', () => {
    const m = setup();
    const a = map(m, HIGH, 64, DMA_BIDIRECTIONAL);
    m.apply({ op: 'dev-write', dev: DEV, cpu: 0, addr: a, size: 8, fill: 0xab });
    const sc = m.apply({ op: 'sync-for-cpu', dev: DEV, cpu: 0, addr: a, size: 64, dir: DMA_BIDIRECTIONAL });
    expect(sc.path).toBe('swiotlb');
    expect(read(m, HIGH, 8, false)).toEqual(Array(8).fill(0xab));
    m.apply({ op: 'cpu-write', cpu: 0, phys: HIGH, size: 8, fill: 0xcd });
    m.apply({ op: 'sync-for-device', dev: DEV, cpu: 0, addr: a, size: 64, dir: DMA_BIDIRECTIONAL });
    expect(read(m, a, 8)).toEqual(Array(8).fill(0xcd));
    unmap(m, a, 64, DMA_BIDIRECTIONAL);
  });

  test('sync_for_device with FROM_DEVICE and sync_for_cpu with TO_DEVICE copy nothing', () => {
    const m = setup();
    const a = map(m, HIGH, 64, DMA_FROM_DEVICE);
    m.apply({ op: 'cpu-write', cpu: 0, phys: HIGH, size: 64, fill: 0x33 });
    m.apply({ op: 'sync-for-device', dev: DEV, cpu: 0, addr: a, size: 64, dir: DMA_FROM_DEVICE });
    expect(read(m, a, 4)).toEqual(Array(4).fill(0x11));
    const b = map(m, HIGH + 0x1000n, 64, DMA_TO_DEVICE);
    m.apply({ op: 'dev-write', dev: DEV, cpu: 0, addr: b, size: 4, fill: 0x44 });
    m.apply({ op: 'sync-for-cpu', dev: DEV, cpu: 0, addr: b, size: 64, dir: DMA_TO_DEVICE });
    expect(read(m, HIGH + 0x1000n, 4, false)).toEqual(Array(4).fill(0));
  });

  test('unmap with SKIP_CPU_SYNC does not copy back', () => {
    const m = setup();
    const a = map(m, HIGH, 64, DMA_FROM_DEVICE);
    m.apply({ op: 'dev-write', dev: DEV, cpu: 0, addr: a, size: 64, fill: 0xab });
    unmap(m, a, 64, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    expect(read(m, HIGH, 4, false)).toEqual(Array(4).fill(0x11));
  });

  test('a sync larger than the allocation warns "Buffer overflow detected" and is clamped', () => {
    const m = setup();
    const a = map(m, HIGH, 100, DMA_BIDIRECTIONAL);
    const o = m.apply({ op: 'sync-for-cpu', dev: DEV, cpu: 0, addr: a, size: 4096, dir: DMA_BIDIRECTIONAL });
    expect(o.dmesg).toContain(`dmasim ${DEV}: Buffer overflow detected. Allocation size: 100. Mapping size: 4096.`);
  });
});

describe('messages and limits', () => {
  test('"swiotlb buffer is full" shows the padded size and pool totals; DMA_ATTR_NO_WARN suppresses it', () => {
    const m = small(128, 1);
    expect(map(m, HIGH, 120 * 2048)).not.toBe(DMA_MAPPING_ERROR);
    const full = m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: HIGH, size: 9 * 2048, dir: DMA_TO_DEVICE, attrs: 0 });
    expect(full.dmesg).toEqual([`dmasim ${DEV}: swiotlb buffer is full (sz: 18432 bytes), total 128 (slots), used 120 (slots)`]);
    const quiet = m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: HIGH, size: 9 * 2048, dir: DMA_TO_DEVICE, attrs: DMA_ATTR_NO_WARN });
    expect(quiet.result).toBe(DMA_MAPPING_ERROR);
    expect(quiet.dmesg).toEqual([]);
  });

  test('256 KiB is the largest bounce buffer: one byte more fails even in an empty pool', () => {
    const m = small(512, 1);
    const ok = map(m, HIGH, 262144);
    expect(ok).not.toBe(DMA_MAPPING_ERROR);
    const o = m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: HIGH + 0x100000n, size: 262145, dir: DMA_TO_DEVICE, attrs: 0 });
    expect(o.result).toBe(DMA_MAPPING_ERROR);
    expect(o.dmesg).toEqual([`dmasim ${DEV}: swiotlb buffer is full (sz: 262145 bytes), total 512 (slots), used 128 (slots)`]);
  });

  test('dev_warn_ratelimited: 10 messages per 5 s of virtual time, then "callbacks suppressed"', () => {
    const m = small(128, 1);
    map(m, HIGH, 128 * 2048);
    const logged = Array.from({ length: 12 }, () => m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: HIGH, size: 2048, dir: DMA_TO_DEVICE, attrs: 0 }).dmesg.length);
    expect(logged).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    m.apply({ op: 'advance-time', cpu: 0, byNs: 5_000_000_000 });
    const o = m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: HIGH, size: 2048, dir: DMA_TO_DEVICE, attrs: 0 });
    expect(o.dmesg).toEqual(['swiotlb_tbl_map_single: 2 callbacks suppressed', `dmasim ${DEV}: swiotlb buffer is full (sz: 2048 bytes), total 128 (slots), used 128 (slots)`]);
  });

  test('no pool at all (swiotlb slots 0) under swiotlb=force: "Can not allocate SWIOTLB buffer earlier ..."', () => {
    const m = testMachine({ platform: { swiotlb: { slots: 0, force: true } } });
    const o = m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: 0x1000n, size: 64, dir: DMA_TO_DEVICE, attrs: 0 });
    expect(o.result).toBe(DMA_MAPPING_ERROR);
    expect(o.dmesg).toEqual([`dmasim ${DEV}: Can not allocate SWIOTLB buffer earlier and can't now provide you with the DMA bounce buffer`]);
  });

  test('a first bounce clears dma_skip_sync (dma_reset_need_sync), so later syncs of a coherent device run', () => {
    const m = testMachine({ platform: { swiotlb: { slots: 512, areas: 1, force: false }, dmaDebug: { enabled: false, numErrors: 1, allErrors: false } }, devices: [{ mask: 32 }] });
    const before = m.apply({ op: 'sync-for-cpu', dev: DEV, cpu: 0, addr: 0x1000n, size: 64, dir: DMA_FROM_DEVICE });
    expect(before.trace).toEqual([]); // coherent, never bounced, no dma-debug: the wrapper skips
    const a = map(m, HIGH, 64, DMA_FROM_DEVICE);
    const after = m.apply({ op: 'sync-for-cpu', dev: DEV, cpu: 0, addr: a, size: 64, dir: DMA_FROM_DEVICE });
    expect(after.trace.map((t) => t.name)).toEqual(['dma_sync_single_for_cpu']);
  });
});
