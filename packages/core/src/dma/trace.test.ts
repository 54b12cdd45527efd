// Golden tests: one per trace event format of include/trace/events/dma.h and swiotlb.h, per profile.
import { describe, expect, test } from 'vitest';
import { traceLine } from '../events.ts';
import { testMachine } from '../testing.ts';
import { DMA_ATTR_MMIO, DMA_ATTR_NO_WARN, DMA_ATTR_PRIVILEGED, DMA_ATTR_SKIP_CPU_SYNC, DMA_ATTR_WEAK_ORDERING, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_TO_DEVICE } from './defs.ts';
import { decode_dma_attrs, decode_dma_data_direction, print_array, trace_dma_map_sg_err } from './trace.ts';

const DEV = '0000:01:00.0';
const MMIO = [{ name: 'bar', base: 0x3f00000000n, size: 1n << 28n }];

function one(m: ReturnType<typeof testMachine>, ev: Parameters<ReturnType<typeof testMachine>['apply']>[0]): string[] {
  return m.apply(ev).trace.map(traceLine);
}

describe('decoders', () => {
  test('attrs: names in decoder order joined by "|", unknown bits as 0x%lx, 0 prints nothing; MMIO only from 6.18', () => {
    const k18 = testMachine({}).k;
    const k17 = testMachine({ profile: '6.17' }).k;
    expect(decode_dma_attrs(k18, 0)).toBe('');
    expect(decode_dma_attrs(k18, DMA_ATTR_PRIVILEGED | DMA_ATTR_WEAK_ORDERING | DMA_ATTR_SKIP_CPU_SYNC)).toBe('WEAK_ORDERING|SKIP_CPU_SYNC|PRIVILEGED');
    expect(decode_dma_attrs(k18, DMA_ATTR_MMIO | DMA_ATTR_NO_WARN)).toBe('NO_WARN|MMIO');
    expect(decode_dma_attrs(k17, DMA_ATTR_MMIO | DMA_ATTR_NO_WARN)).toBe('NO_WARN|0x400');
    expect(decode_dma_attrs(k18, 1 | (1 << 12))).toBe('0x1001');
  });

  test('dir: symbolic names without DMA_, unknown values in hex', () => {
    expect([0, 1, 2, 3, 9].map(decode_dma_data_direction)).toEqual(['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE', 'NONE', '0x9']);
  });

  test('__print_array: braces, 0x-prefixed hex, comma separated', () => {
    expect(print_array([0x1000n, 4096, 0n])).toBe('{0x1000,0x1000,0x0}');
    expect(print_array([])).toBe('{}');
  });
});

describe('6.18 formats', () => {
  test('dma_map_phys / dma_unmap_phys', () => {
    const m = testMachine({});
    expect(one(m, { op: 'map-phys', dev: DEV, cpu: 0, phys: 0x12345n, size: 100, dir: DMA_FROM_DEVICE, attrs: DMA_ATTR_SKIP_CPU_SYNC })).toEqual([
      `dma_map_phys: ${DEV} dir=FROM_DEVICE dma_addr=12345 size=100 phys_addr=12345 attrs=SKIP_CPU_SYNC`,
    ]);
    expect(one(m, { op: 'unmap-phys', dev: DEV, cpu: 0, addr: 0x12345n, size: 100, dir: DMA_FROM_DEVICE, attrs: 0 })).toEqual([`dma_unmap_phys: ${DEV} dir=FROM_DEVICE dma_addr=12345 size=100 attrs=`]);
  });

  test('dma_map_phys for a resource carries MMIO', () => {
    const m = testMachine({ platform: { mmio: MMIO } });
    expect(one(m, { op: 'map-resource', dev: DEV, cpu: 0, phys: 0x3f00000000n, size: 8, dir: DMA_BIDIRECTIONAL, attrs: 0 })).toEqual([
      `dma_map_phys: ${DEV} dir=BIDIRECTIONAL dma_addr=3f00000000 size=8 phys_addr=3f00000000 attrs=MMIO`,
    ]);
  });

  test('dma_alloc / dma_free (virt_addr as with no_hash_pointers, flags GFP_KERNEL)', () => {
    const m = testMachine({ devices: [{ coherentMask: 32 }] });
    const a = m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 4096, attrs: 0 });
    expect(a.trace.map(traceLine)).toEqual([`dma_alloc: ${DEV} dir=BIDIRECTIONAL dma_addr=fbfff000 size=4096 virt_addr=ffff8880fbfff000 flags=GFP_KERNEL attrs=`]);
    expect(one(m, { op: 'free-coherent', dev: DEV, cpu: 0, addr: a.result, cpuAddr: a.phys!, size: 4096, attrs: 0 })).toEqual([
      `dma_free: ${DEV} dir=BIDIRECTIONAL dma_addr=fbfff000 size=4096 virt_addr=ffff8880fbfff000 attrs=`,
    ]);
  });

  test('dma_alloc on failure: dma_addr=0 and a NULL virt_addr', () => {
    const m = testMachine({ devices: [{ coherentMask: 8 }] });
    const a = m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 4096, attrs: DMA_ATTR_NO_WARN });
    expect(a.error).toBe(true);
    expect(a.trace.map(traceLine)).toEqual([`dma_alloc: ${DEV} dir=BIDIRECTIONAL dma_addr=0 size=4096 virt_addr=0000000000000000 flags=GFP_KERNEL attrs=NO_WARN`]);
  });

  test('dma_map_sg / dma_unmap_sg / dma_sync_sg_for_cpu / dma_sync_sg_for_device', () => {
    const m = testMachine({});
    const o = m.apply({ op: 'map-sg', dev: DEV, cpu: 0, segments: [{ phys: 0x10000n, size: 4096 }, { phys: 0x30200n, size: 512 }], dir: DMA_TO_DEVICE, attrs: 0 });
    expect(o.result).toBe(2n);
    expect(o.trace.map(traceLine)).toEqual([`dma_map_sg: ${DEV} dir=TO_DEVICE dma_addrs={0x10000,0x30200} sizes={0x1000,0x200} phys_addrs={0x10000,0x30200} attrs=`]);
    expect(one(m, { op: 'sync-sg-for-cpu', dev: DEV, cpu: 0, sg: o.sg!, dir: DMA_TO_DEVICE })).toEqual([`dma_sync_sg_for_cpu: ${DEV} dir=TO_DEVICE dma_addrs={0x10000,0x30200} sizes={0x1000,0x200}`]);
    expect(one(m, { op: 'sync-sg-for-device', dev: DEV, cpu: 0, sg: o.sg!, dir: DMA_TO_DEVICE })).toEqual([`dma_sync_sg_for_device: ${DEV} dir=TO_DEVICE dma_addrs={0x10000,0x30200} sizes={0x1000,0x200}`]);
    expect(one(m, { op: 'unmap-sg', dev: DEV, cpu: 0, sg: o.sg!, dir: DMA_TO_DEVICE, attrs: DMA_ATTR_SKIP_CPU_SYNC })).toEqual([`dma_unmap_sg: ${DEV} dir=TO_DEVICE phys_addrs={0x10000,0x30200} attrs=SKIP_CPU_SYNC`]);
  });

  test('dma_map_sg_err: the array named dma_addrs holds the input physical addresses', () => {
    const m = testMachine({});
    m.apply({ op: 'advance-time', cpu: 0, byNs: 0 }); // a fresh outcome to trace into
    trace_dma_map_sg_err(m.k, m.k.device(DEV), [{ phys: 0x1000n, size: 8 }, { phys: 0x2000n, size: 8 }], -28, DMA_FROM_DEVICE, 0);
    expect(m.k.out.trace.map(traceLine)).toEqual([`dma_map_sg_err: ${DEV} dir=FROM_DEVICE dma_addrs={0x1000,0x2000} err=-28 attrs=`]);
  });

  test('dma_sync_single_for_cpu / dma_sync_single_for_device', () => {
    const m = testMachine({});
    expect(one(m, { op: 'sync-for-cpu', dev: DEV, cpu: 0, addr: 0xabc000n, size: 64, dir: DMA_FROM_DEVICE })).toEqual([`dma_sync_single_for_cpu: ${DEV} dir=FROM_DEVICE dma_addr=abc000 size=64`]);
    expect(one(m, { op: 'sync-for-device', dev: DEV, cpu: 0, addr: 0xabc000n, size: 64, dir: DMA_FROM_DEVICE })).toEqual([`dma_sync_single_for_device: ${DEV} dir=FROM_DEVICE dma_addr=abc000 size=64`]);
  });

  test('swiotlb_bounced: dma_mask, the original buffer\'s bus address, NORMAL / FORCE', () => {
    const m = testMachine({ devices: [{ mask: 32, dmaRanges: [{ cpu: 0n, dma: 0n, size: 1n << 33n }] }] });
    expect(one(m, { op: 'map-single', dev: DEV, cpu: 0, phys: 0x17c407000n, size: 256, dir: DMA_TO_DEVICE, attrs: 0 })[0]).toBe(
      `swiotlb_bounced: dev_name: ${DEV} dma_mask=ffffffff dev_addr=17c407000 size=256 NORMAL`,
    );
  });
});

describe('6.17 formats', () => {
  test('dma_map_page / dma_unmap_page', () => {
    const m = testMachine({ profile: '6.17' });
    expect(one(m, { op: 'map-page', dev: DEV, cpu: 0, phys: 0x80b6717en, size: 66, dir: DMA_TO_DEVICE, attrs: 0 })).toEqual([`dma_map_page: ${DEV} dir=TO_DEVICE dma_addr=80b6717e size=66 phys_addr=80b6717e attrs=`]);
    expect(one(m, { op: 'unmap-page', dev: DEV, cpu: 0, addr: 0x80b6717en, size: 66, dir: DMA_TO_DEVICE, attrs: DMA_ATTR_WEAK_ORDERING })).toEqual([`dma_unmap_page: ${DEV} dir=TO_DEVICE dma_addr=80b6717e size=66 attrs=WEAK_ORDERING`]);
  });

  test('dma_map_resource / dma_unmap_resource', () => {
    const m = testMachine({ profile: '6.17', platform: { mmio: MMIO } });
    expect(one(m, { op: 'map-resource', dev: DEV, cpu: 0, phys: 0x3f00001000n, size: 4096, dir: DMA_FROM_DEVICE, attrs: 0 })).toEqual([
      `dma_map_resource: ${DEV} dir=FROM_DEVICE dma_addr=3f00001000 size=4096 phys_addr=3f00001000 attrs=`,
    ]);
    expect(one(m, { op: 'unmap-resource', dev: DEV, cpu: 0, addr: 0x3f00001000n, size: 4096, dir: DMA_FROM_DEVICE, attrs: 0 })).toEqual([`dma_unmap_resource: ${DEV} dir=FROM_DEVICE dma_addr=3f00001000 size=4096 attrs=`]);
  });

  test('sg, sync, alloc and swiotlb events have the same format as in 6.18', () => {
    const m = testMachine({ profile: '6.17', devices: [{ mask: 32 }] });
    const o = m.apply({ op: 'map-sg', dev: DEV, cpu: 0, segments: [{ phys: 0x200000000n, size: 100 }], dir: DMA_FROM_DEVICE, attrs: 0 });
    expect(o.trace.map(traceLine)).toEqual([
      `swiotlb_bounced: dev_name: ${DEV} dma_mask=ffffffff dev_addr=200000000 size=100 NORMAL`,
      `dma_map_sg: ${DEV} dir=FROM_DEVICE dma_addrs={0xfc000000} sizes={0x64} phys_addrs={0x200000000} attrs=`,
    ]);
  });
});
