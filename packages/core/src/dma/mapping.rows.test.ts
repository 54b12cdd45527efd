// Decision table rows A, B, D and E of the spec, one test per row and profile. Each test names the
// kernel function it mirrors and asserts path, address, trace lines, kernel log lines and the
// S (swiotlb) / K (kmsan) / T (trace) / D (dma-debug entry) / cache columns.
import { describe, expect, test } from 'vitest';
import { traceLine, type Outcome } from '../events.ts';
import type { Profile } from '../config.ts';
import { testMachine } from '../testing.ts';
import type { Machine } from '../machine.ts';
import { DMA_ATTR_MMIO, DMA_ATTR_SKIP_CPU_SYNC, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_NONE, DMA_TO_DEVICE } from './defs.ts';

const DEV = '0000:01:00.0';
const GiB = 1n << 30n;
const BAR = 0x3f00000000n; // a peer BAR (MMIO region)
const HIGH = 0x180000000n; // RAM above 4 GiB
const POOL = 0xfc000000n; // default 64 MiB swiotlb pool, top-down below 4 GiB
const MMIO = [{ name: 'gpu0-bar1', base: BAR, size: 256n << 20n }];

type Cols = { S: boolean; K: boolean; T: boolean; D: boolean; cache?: boolean };

function cols(o: Outcome): Cols {
  return { S: o.ran.swiotlb, K: o.ran.kmsan, T: o.ran.trace, D: o.ran.debug, cache: o.ran.cache };
}
function expectCols(o: Outcome, c: Cols): void {
  expect(cols(o)).toEqual({ cache: false, ...c });
}
function lines(o: Outcome): string[] {
  return o.trace.map(traceLine);
}
function map(m: Machine, op: 'map-single' | 'map-page' | 'map-phys' | 'map-resource', phys: bigint, size: number, dir: number, attrs = 0, cpu = 0): Outcome {
  return m.apply({ op, dev: DEV, cpu, phys, size, dir, attrs });
}
function unmap(m: Machine, op: 'unmap-single' | 'unmap-page' | 'unmap-phys' | 'unmap-resource', addr: bigint, size: number, dir: number, attrs = 0): Outcome {
  return m.apply({ op, dev: DEV, cpu: 0, addr, size, dir, attrs });
}
/** The map event name of a profile. */
function mapEv(p: Profile): string {
  return p === '6.18' ? 'dma_map_phys' : 'dma_map_page';
}

const PROFILES: Profile[] = ['6.18', '6.17'];

describe.each(PROFILES)('Decision table A, profile %s', (p) => {
  test(`A1 dma_map_phys BUG_ON(!valid_dma_direction): DMA_NONE crashes the kernel (${p})`, () => {
    const m = testMachine({ profile: p });
    const o = map(m, 'map-single', 0x100000n, 4096, DMA_NONE);
    expect(o.error).toBe(true);
    expect(o.path).toBe('none');
    expect(o.trace).toEqual([]);
    expect(o.dmesg).toEqual([`kernel BUG at kernel/dma/mapping.c:${p === '6.18' ? 'dma_map_phys' : 'dma_map_page_attrs'}!`]);
    expectCols(o, { S: false, K: false, T: false, D: false });
    expect(m.crashed).not.toBeNull();
    const after = map(m, 'map-single', 0x100000n, 4096, DMA_TO_DEVICE);
    expect(after.error).toBe(true);
    expect(after.dmesg[0]).toMatch(/the simulated kernel has crashed/);
  });

  test(`A2 dma_map_phys WARN_ON_ONCE(!dev->dma_mask): DMA_MAPPING_ERROR, nothing traced or recorded (${p})`, () => {
    const m = testMachine({ profile: p, devices: [{ mask: null }] });
    const o = map(m, 'map-page', 0x100000n, 4096, DMA_TO_DEVICE);
    expect(o.result).toBe(DMA_MAPPING_ERROR);
    expect(o.error).toBe(true);
    expect(o.trace).toEqual([]);
    expect(o.dmesg).toEqual([`WARNING: CPU: 0 at kernel/dma/mapping.c ${p === '6.18' ? 'dma_map_phys' : 'dma_map_page_attrs'}`]);
    expectCols(o, { S: false, K: false, T: false, D: false });
    expect(map(m, 'map-page', 0x100000n, 4096, DMA_TO_DEVICE).dmesg).toEqual([]); // once
  });

  if (p === '6.18') {
    test('A3 dma_map_page_attrs refuses DMA_ATTR_MMIO silently (6.18)', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO } });
      const o = map(m, 'map-page', BAR, 4096, DMA_TO_DEVICE, DMA_ATTR_MMIO);
      expect(o.result).toBe(DMA_MAPPING_ERROR);
      expect(o.trace).toEqual([]);
      expect(o.dmesg).toEqual([]);
      expectCols(o, { S: false, K: false, T: false, D: false });
    });

    test('A4 dma_map_page_attrs on a ZONE_DEVICE (peer BAR) page with dma-debug: WARN_ON_ONCE, error (6.18)', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO } });
      const o = map(m, 'map-page', BAR, 4096, DMA_TO_DEVICE);
      expect(o.result).toBe(DMA_MAPPING_ERROR);
      expect(o.trace).toEqual([]);
      expect(o.dmesg).toEqual(['WARNING: CPU: 0 at kernel/dma/mapping.c dma_map_page_attrs']);
      expectCols(o, { S: false, K: false, T: false, D: false });
      // Without CONFIG_DMA_API_DEBUG the check is compiled out and the page maps.
      const nodebug = testMachine({ profile: p, platform: { mmio: MMIO, dmaDebug: { enabled: false, numErrors: 1, allErrors: false } } });
      expect(map(nodebug, 'map-page', BAR, 4096, DMA_TO_DEVICE).result).toBe(BAR);
    });

    test('A5 dma_map_resource on a pfn_valid (RAM) address with dma-debug: WARN_ON_ONCE, error (6.18 as merged)', () => {
      const m = testMachine({ profile: p });
      const o = map(m, 'map-resource', 0x100000n, 4096, DMA_TO_DEVICE);
      expect(o.result).toBe(DMA_MAPPING_ERROR);
      expect(o.trace).toEqual([]);
      expect(o.dmesg).toEqual(['WARNING: CPU: 0 at kernel/dma/mapping.c dma_map_resource']);
      expectCols(o, { S: false, K: false, T: false, D: false });
    });
  } else {
    test('A3 6.17 has no DMA_ATTR_MMIO: bit 10 means nothing and the page maps (trace prints attrs=0x400)', () => {
      const m = testMachine({ profile: p });
      const o = map(m, 'map-page', 0x100000n, 4096, DMA_TO_DEVICE, DMA_ATTR_MMIO);
      expect(o.result).toBe(0x100000n);
      expect(lines(o)).toEqual([`dma_map_page: ${DEV} dir=TO_DEVICE dma_addr=100000 size=4096 phys_addr=100000 attrs=0x400`]);
      expectCols(o, { S: false, K: true, T: true, D: true });
    });

    test('A4 6.17 dma_map_page_attrs has no ZONE_DEVICE check: a capable peer-BAR page maps directly', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO } });
      const o = map(m, 'map-page', BAR, 4096, DMA_TO_DEVICE);
      expect(o.result).toBe(BAR);
      expect(o.dmesg).toEqual([]);
      expectCols(o, { S: false, K: true, T: true, D: true });
    });

    test('A5 6.17 dma_map_resource has no RAM check: dma_direct_map_resource returns the address', () => {
      const m = testMachine({ profile: p });
      const o = map(m, 'map-resource', 0x100000n, 4096, DMA_TO_DEVICE);
      expect(o.result).toBe(0x100000n);
      expect(lines(o)).toEqual([`dma_map_resource: ${DEV} dir=TO_DEVICE dma_addr=100000 size=4096 phys_addr=100000 attrs=`]);
      expectCols(o, { S: false, K: false, T: true, D: true });
    });
  }
});

describe.each(PROFILES)('Decision table B (dma-direct), profile %s', (p) => {
  const ranges = { dmaRanges: [{ cpu: 0x80000000n, dma: 0n, size: GiB }] };

  test(`B1 dma_direct_map_phys: capable RAM maps to phys_to_dma(phys) through dma-ranges, cache op on a non-coherent device (${p})`, () => {
    const m = testMachine({ profile: p, devices: [{ ...ranges, coherent: false }] });
    const o = map(m, 'map-single', 0x80001000n, 4096, DMA_TO_DEVICE);
    expect(o.result).toBe(0x1000n);
    expect(o.path).toBe('direct');
    expect(lines(o)).toEqual([`${mapEv(p)}: ${DEV} dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=80001000 attrs=`]);
    expect(o.dmesg).toEqual([]);
    expectCols(o, { S: false, K: true, T: true, D: true, cache: true });
    const skip = map(m, 'map-single', 0x80003000n, 4096, DMA_TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    expect(skip.ran.cache).toBe(false);
  });

  test(`B2 dma_direct_map_phys → swiotlb_map when not capable: bounce slot address, swiotlb_bounced first (${p})`, () => {
    const m = testMachine({ profile: p, devices: [{ mask: 32, coherent: false }] });
    const o = map(m, 'map-single', HIGH, 4096, DMA_FROM_DEVICE);
    expect(o.result).toBe(POOL);
    expect(o.path).toBe('swiotlb');
    expect(lines(o)).toEqual([
      `swiotlb_bounced: dev_name: ${DEV} dma_mask=ffffffff dev_addr=180000000 size=4096 NORMAL`,
      `${mapEv(p)}: ${DEV} dir=FROM_DEVICE dma_addr=fc000000 size=4096 phys_addr=180000000 attrs=`,
    ]);
    expectCols(o, { S: true, K: true, T: true, D: true, cache: true });
    // bus_dma_limit alone also makes the buffer incapable.
    const lim = testMachine({ profile: p, devices: [{ busLimit: 0xffffffffn }] });
    expect(map(lim, 'map-single', HIGH, 4096, DMA_TO_DEVICE).path).toBe('swiotlb');
  });

  test(`B2 swiotlb_tbl_map_single failure: "swiotlb buffer is full", traced at DMA_MAPPING_ERROR, no dma-debug entry (${p})`, () => {
    const m = testMachine({ profile: p, platform: { swiotlb: { slots: 128, areas: 1, force: false } }, devices: [{ mask: 32 }] });
    expect(map(m, 'map-single', HIGH, 128 * 2048, DMA_TO_DEVICE).error).toBe(false);
    const o = map(m, 'map-single', HIGH + 0x100000n, 4096, DMA_TO_DEVICE);
    expect(o.result).toBe(DMA_MAPPING_ERROR);
    expect(o.dmesg).toEqual([`dmasim ${DEV}: swiotlb buffer is full (sz: 4096 bytes), total 128 (slots), used 128 (slots)`]);
    expect(lines(o)[1]).toBe(`${mapEv(p)}: ${DEV} dir=TO_DEVICE dma_addr=ffffffffffffffff size=4096 phys_addr=180100000 attrs=`);
    expectCols(o, { S: true, K: true, T: true, D: false });
  });

  test(`B2 swiotlb_map: a bounce slot the device cannot reach is released with "swiotlb addr ... overflow" (${p})`, () => {
    const m = testMachine({ profile: p, platform: { swiotlb: { slots: 128, areas: 1, force: false, base: 0x100000000n } }, devices: [{ mask: 32 }] });
    const o = map(m, 'map-single', HIGH, 4096, DMA_TO_DEVICE);
    expect(o.result).toBe(DMA_MAPPING_ERROR);
    expect(o.dmesg).toEqual([`dmasim ${DEV}: swiotlb addr 0x0000000100000000+4096 overflow (mask ffffffff, bus limit 0).`, 'WARNING: CPU: 0 at kernel/dma/swiotlb.c swiotlb_map']);
    expect(m.k.swiotlb.usedSlots).toBe(0);
    expectCols(o, { S: true, K: true, T: true, D: false });
  });

  test(`B3 dma_direct_map_phys overflow WARN when swiotlb is inactive (${p})`, () => {
    const m = testMachine({ profile: p, platform: { swiotlb: { slots: 0, force: false } }, devices: [{ mask: 32, coherent: false }] });
    const o = map(m, 'map-single', HIGH, 4096, DMA_TO_DEVICE);
    expect(o.result).toBe(DMA_MAPPING_ERROR);
    expect(o.path).toBe('direct');
    expect(o.dmesg).toEqual([
      `dmasim ${DEV}: DMA addr 0x0000000180000000+4096 overflow (mask ffffffff, bus limit 0).`,
      `WARNING: CPU: 0 at kernel/dma/direct.h ${p === '6.18' ? 'dma_direct_map_phys' : 'dma_direct_map_page'}`,
    ]);
    expect(lines(o)).toEqual([`${mapEv(p)}: ${DEV} dir=TO_DEVICE dma_addr=ffffffffffffffff size=4096 phys_addr=180000000 attrs=`]);
    expectCols(o, { S: false, K: true, T: true, D: false });
    expect(map(m, 'map-single', HIGH + 0x10000n, 4096, DMA_TO_DEVICE).dmesg).toEqual([]); // dev_WARN_ONCE: once per call site
  });

  test(`B4 swiotlb=force bounces even capable RAM (swiotlb_bounced says FORCE) (${p})`, () => {
    const m = testMachine({ profile: p, platform: { swiotlb: { slots: 32768, force: true } } });
    const o = map(m, 'map-single', 0x100000n, 100, DMA_TO_DEVICE);
    expect(o.result).toBe(POOL);
    expect(lines(o)[0]).toBe(`swiotlb_bounced: dev_name: ${DEV} dma_mask=ffffffffffffffff dev_addr=100000 size=100 FORCE`);
    expectCols(o, { S: true, K: true, T: true, D: true });
  });

  if (p === '6.18') {
    test('B5 dma_direct_map_phys: capable MMIO is not translated through dma-ranges, never synced (6.18)', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO }, devices: [{ ...ranges, coherent: false }] });
      const o = map(m, 'map-resource', BAR, 4096, DMA_BIDIRECTIONAL);
      expect(o.result).toBe(BAR);
      expect(lines(o)).toEqual([`dma_map_phys: ${DEV} dir=BIDIRECTIONAL dma_addr=3f00000000 size=4096 phys_addr=3f00000000 attrs=MMIO`]);
      expectCols(o, { S: false, K: false, T: true, D: true, cache: false });
    });

    test('B6 dma_direct_map_phys: incapable MMIO gets the overflow WARN, no swiotlb (6.18)', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO }, devices: [{ mask: 32 }] });
      const o = map(m, 'map-phys', BAR, 4096, DMA_TO_DEVICE, DMA_ATTR_MMIO);
      expect(o.result).toBe(DMA_MAPPING_ERROR);
      expect(o.dmesg).toEqual([`dmasim ${DEV}: DMA addr 0x0000003f00000000+4096 overflow (mask ffffffff, bus limit 0).`, 'WARNING: CPU: 0 at kernel/dma/direct.h dma_direct_map_phys']);
      expectCols(o, { S: false, K: false, T: true, D: false });
    });

    test('B7 dma_direct_map_phys: MMIO under swiotlb=force goes to the overflow WARN (6.18; the printed address is UNCONFIRMED, model prints phys)', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO, swiotlb: { slots: 32768, force: true } } });
      const o = map(m, 'map-resource', BAR, 4096, DMA_TO_DEVICE);
      expect(o.result).toBe(DMA_MAPPING_ERROR);
      expect(o.dmesg[0]).toBe(`dmasim ${DEV}: DMA addr 0x0000003f00000000+4096 overflow (mask ffffffffffffffff, bus limit 0).`);
      expect(lines(o)).toEqual([`dma_map_phys: ${DEV} dir=TO_DEVICE dma_addr=ffffffffffffffff size=4096 phys_addr=3f00000000 attrs=MMIO`]);
      expectCols(o, { S: false, K: false, T: true, D: false });
    });
  } else {
    test('B5 6.17 dma_direct_map_resource: the physical address untranslated, dma_map_resource event', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO }, devices: [{ ...ranges, coherent: false }] });
      const o = map(m, 'map-resource', BAR, 4096, DMA_BIDIRECTIONAL);
      expect(o.result).toBe(BAR);
      expect(lines(o)).toEqual([`dma_map_resource: ${DEV} dir=BIDIRECTIONAL dma_addr=3f00000000 size=4096 phys_addr=3f00000000 attrs=`]);
      expectCols(o, { S: false, K: false, T: true, D: true, cache: false });
    });

    test('B6 6.17 dma_direct_map_resource: dev_err_once + WARN_ON_ONCE, traced, and dma-debug records the error address', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO }, devices: [{ mask: 32 }] });
      const o = map(m, 'map-resource', BAR, 4096, DMA_TO_DEVICE);
      expect(o.result).toBe(DMA_MAPPING_ERROR);
      expect(o.dmesg).toEqual([`dmasim ${DEV}: DMA addr 0x0000003f00000000+4096 overflow (mask ffffffff, bus limit 0).`, 'WARNING: CPU: 0 at kernel/dma/direct.c dma_direct_map_resource']);
      expect(lines(o)).toEqual([`dma_map_resource: ${DEV} dir=TO_DEVICE dma_addr=ffffffffffffffff size=4096 phys_addr=3f00000000 attrs=`]);
      expectCols(o, { S: false, K: false, T: true, D: true });
    });

    test('B7 6.17 dma_direct_map_resource ignores swiotlb=force: MMIO maps untranslated', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO, swiotlb: { slots: 32768, force: true } } });
      const o = map(m, 'map-resource', BAR, 4096, DMA_TO_DEVICE);
      expect(o.result).toBe(BAR);
      expectCols(o, { S: false, K: false, T: true, D: true });
    });
  }
});

describe.each(PROFILES)('Decision table D (legacy dma_map_ops), profile %s', (p) => {
  test(`D1 ops->map_page for RAM: the model's 1:1 ops (${p})`, () => {
    const m = testMachine({ profile: p, devices: [{ dma: 'ops' }] });
    const o = map(m, 'map-phys', 0x100000n, 4096, DMA_TO_DEVICE);
    expect(o.result).toBe(0x100000n);
    expect(o.path).toBe('ops');
    expect(lines(o)).toEqual([`${mapEv(p)}: ${DEV} dir=TO_DEVICE dma_addr=100000 size=4096 phys_addr=100000 attrs=`]);
    expectCols(o, { S: false, K: true, T: true, D: true });
  });

  test(`D2 ops->map_resource when present (${p})`, () => {
    const m = testMachine({ profile: p, platform: { mmio: MMIO }, devices: [{ dma: 'ops', ops: { mapResource: true } }] });
    const o = map(m, 'map-resource', BAR, 4096, DMA_TO_DEVICE);
    expect(o.result).toBe(BAR);
    expect(o.path).toBe('ops');
    expect(lines(o)).toEqual([`${p === '6.18' ? 'dma_map_phys' : 'dma_map_resource'}: ${DEV} dir=TO_DEVICE dma_addr=3f00000000 size=4096 phys_addr=3f00000000 attrs=${p === '6.18' ? 'MMIO' : ''}`]);
    expectCols(o, { S: false, K: false, T: true, D: true });
  });

  if (p === '6.18') {
    test('D3 seed patch: MMIO on ops without map_resource returns DMA_MAPPING_ERROR early — no kmsan, no trace, no dma-debug (6.18)', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO }, devices: [{ dma: 'ops' }] });
      for (const o of [map(m, 'map-resource', BAR, 4096, DMA_TO_DEVICE), map(m, 'map-phys', BAR, 4096, DMA_TO_DEVICE, DMA_ATTR_MMIO)]) {
        expect(o.result).toBe(DMA_MAPPING_ERROR);
        expect(o.trace).toEqual([]);
        expect(o.dmesg).toEqual([]);
        expectCols(o, { S: false, K: false, T: false, D: false });
      }
      expect(m.k.debug.entryCount).toBe(0);
    });
  } else {
    test('D6 6.17 dma_map_resource on ops without map_resource: error by fall-through, traced, dma-debug records a resource entry at DMA_MAPPING_ERROR', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO }, devices: [{ dma: 'ops' }] });
      const o = map(m, 'map-resource', BAR, 4096, DMA_TO_DEVICE);
      expect(o.result).toBe(DMA_MAPPING_ERROR);
      expect(lines(o)).toEqual([`dma_map_resource: ${DEV} dir=TO_DEVICE dma_addr=ffffffffffffffff size=4096 phys_addr=3f00000000 attrs=`]);
      expectCols(o, { S: false, K: false, T: true, D: true });
      expect(m.k.debug.entryCount).toBe(1);
      expect(m.leaks()).toBe(0); // the backend holds nothing
    });
  }
});

describe.each(PROFILES)('Decision table E (unmap), profile %s', (p) => {
  const unmapEv = p === '6.18' ? 'dma_unmap_phys' : 'dma_unmap_page';

  test(`E direct RAM: dma_direct_unmap_phys syncs for the CPU, copies the bounce back, frees the slots (${p})`, () => {
    const m = testMachine({ profile: p, devices: [{ mask: 32, coherent: false }] });
    m.apply({ op: 'cpu-write', cpu: 0, phys: HIGH, size: 16, fill: 0x11 });
    const a = map(m, 'map-single', HIGH, 16, DMA_FROM_DEVICE).result;
    m.apply({ op: 'dev-write', dev: DEV, cpu: 0, addr: a, size: 8, fill: 0xab });
    const o = unmap(m, 'unmap-single', a, 16, DMA_FROM_DEVICE);
    expect(o.path).toBe('swiotlb');
    expect(lines(o)).toEqual([`${unmapEv}: ${DEV} dir=FROM_DEVICE dma_addr=fc000000 size=16 attrs=`]);
    expectCols(o, { S: true, K: false, T: true, D: false, cache: true });
    expect(m.k.swiotlb.usedSlots).toBe(0);
    const back = m.apply({ op: 'cpu-read', cpu: 0, phys: HIGH, size: 16 }).data!;
    expect([...back]).toEqual([...Array(8).fill(0xab), ...Array(8).fill(0x11)]);
    expect(m.leaks()).toBe(0);
  });

  test(`E direct RAM with SKIP_CPU_SYNC: no cache op and no copy-back, slots still freed (${p})`, () => {
    const m = testMachine({ profile: p, devices: [{ mask: 32, coherent: false }] });
    const a = map(m, 'map-single', HIGH, 16, DMA_FROM_DEVICE).result;
    m.apply({ op: 'dev-write', dev: DEV, cpu: 0, addr: a, size: 16, fill: 0xab });
    const o = unmap(m, 'unmap-single', a, 16, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    expect(o.ran.cache).toBe(false);
    expect(m.k.swiotlb.usedSlots).toBe(0);
    expect([...m.apply({ op: 'cpu-read', cpu: 0, phys: HIGH, size: 16 }).data!]).toEqual(Array(16).fill(0));
  });

  test(`E direct MMIO: nothing to undo, the common tail still traces (${p})`, () => {
    const m = testMachine({ profile: p, platform: { mmio: MMIO }, devices: [{ coherent: false }] });
    const a = map(m, 'map-resource', BAR, 4096, DMA_TO_DEVICE).result;
    const o = unmap(m, 'unmap-resource', a, 4096, DMA_TO_DEVICE);
    expect(lines(o)).toEqual([p === '6.18' ? `dma_unmap_phys: ${DEV} dir=TO_DEVICE dma_addr=3f00000000 size=4096 attrs=MMIO` : `dma_unmap_resource: ${DEV} dir=TO_DEVICE dma_addr=3f00000000 size=4096 attrs=`]);
    expectCols(o, { S: false, K: false, T: true, D: false, cache: false });
    expect(m.leaks()).toBe(0);
    expect(m.k.debug.entryCount).toBe(0);
  });

  test(`E ops: unmap_page for RAM; for MMIO unmap_resource only if present, trace either way (${p})`, () => {
    const m = testMachine({ profile: p, platform: { mmio: MMIO }, devices: [{ dma: 'ops' }] });
    const a = map(m, 'map-page', 0x100000n, 4096, DMA_TO_DEVICE).result;
    const o = unmap(m, 'unmap-page', a, 4096, DMA_TO_DEVICE);
    expect(o.path).toBe('ops');
    expect(lines(o)).toEqual([`${unmapEv}: ${DEV} dir=TO_DEVICE dma_addr=100000 size=4096 attrs=`]);
    const r = unmap(m, 'unmap-resource', BAR, 4096, DMA_TO_DEVICE);
    expect(r.trace.length).toBe(1);
    expect(m.leaks()).toBe(0);
  });

  if (p === '6.18') {
    test('E dma_unmap_page_attrs with DMA_ATTR_MMIO returns silently: no trace, no dma-debug check, the mapping stays (6.18)', () => {
      const m = testMachine({ profile: p, platform: { mmio: MMIO } });
      const a = map(m, 'map-resource', BAR, 4096, DMA_TO_DEVICE).result;
      const o = unmap(m, 'unmap-page', a, 4096, DMA_TO_DEVICE, DMA_ATTR_MMIO);
      expect(o.trace).toEqual([]);
      expect(o.dmesg).toEqual([]);
      expect(m.leaks()).toBe(1);
      expect(m.k.debug.entryCount).toBe(1);
    });
  } else {
    test('E 6.17 dma_unmap_page_attrs: bit 10 means nothing, the unmap runs and traces attrs=0x400', () => {
      const m = testMachine({ profile: p });
      const a = map(m, 'map-page', 0x100000n, 4096, DMA_TO_DEVICE).result;
      const o = unmap(m, 'unmap-page', a, 4096, DMA_TO_DEVICE, DMA_ATTR_MMIO);
      expect(lines(o)).toEqual([`dma_unmap_page: ${DEV} dir=TO_DEVICE dma_addr=100000 size=4096 attrs=0x400`]);
      expect(m.leaks()).toBe(0);
    });
  }

  test(`E unmap BUG_ON(!valid_dma_direction) (${p})`, () => {
    const m = testMachine({ profile: p });
    const o = unmap(m, 'unmap-phys', 0x100000n, 4096, 7);
    expect(o.error).toBe(true);
    expect(o.dmesg[0]).toMatch(/^kernel BUG at kernel\/dma\/mapping\.c:dma_unmap_(phys|page_attrs)!$/);
  });
});

describe('profile differences at one glance (map-phys of MMIO)', () => {
  test('6.18 dma_map_phys(MMIO) vs 6.17 (the call a 6.17 driver makes: dma_map_resource)', () => {
    const m18 = testMachine({ profile: '6.18', platform: { mmio: MMIO } });
    const m17 = testMachine({ profile: '6.17', platform: { mmio: MMIO } });
    expect(lines(map(m18, 'map-phys', BAR, 64, DMA_TO_DEVICE, DMA_ATTR_MMIO))).toEqual([`dma_map_phys: ${DEV} dir=TO_DEVICE dma_addr=3f00000000 size=64 phys_addr=3f00000000 attrs=MMIO`]);
    expect(lines(map(m17, 'map-phys', BAR, 64, DMA_TO_DEVICE, DMA_ATTR_MMIO))).toEqual([`dma_map_resource: ${DEV} dir=TO_DEVICE dma_addr=3f00000000 size=64 phys_addr=3f00000000 attrs=`]);
  });
});
