// Scatter-gather (__dma_map_sg_attrs error rules, dma_direct_map_sg rollback, unmap order) and the
// sync wrappers (dma_dev_need_sync, backend → trace → dma-debug).
import { describe, expect, test } from 'vitest';
import { testMachine } from '../testing.ts';
import { traceLine } from '../events.ts';
import { DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_TO_DEVICE } from './defs.ts';

const DEV = '0000:01:00.0';
const NODEBUG = { enabled: false, numErrors: 1, allErrors: false };

describe('dma_map_sg_attrs on dma-direct', () => {
  test('each element maps on its own; an incapable one is bounced; unmap-sg frees the slot', () => {
    const m = testMachine({ devices: [{ mask: 32 }] });
    const o = m.apply({ op: 'map-sg', dev: DEV, cpu: 0, segments: [{ phys: 0x10000n, size: 4096 }, { phys: 0x180000000n, size: 512 }], dir: DMA_BIDIRECTIONAL, attrs: 0 });
    expect(o.result).toBe(2n);
    expect(o.path).toBe('swiotlb');
    expect(o.sg!.dma).toEqual([{ addr: 0x10000n, len: 4096 }, { addr: 0xfc000000n, len: 512 }]);
    expect([o.ran.kmsan, o.ran.debug, o.ran.swiotlb]).toEqual([true, true, true]);
    expect(m.k.swiotlb.usedSlots).toBe(1);
    const u = m.apply({ op: 'unmap-sg', dev: DEV, cpu: 0, sg: o.sg!, dir: DMA_BIDIRECTIONAL, attrs: 0 });
    expect(u.trace.map(traceLine)).toEqual([`dma_unmap_sg: ${DEV} dir=BIDIRECTIONAL phys_addrs={0x10000,0x180000000} attrs=`]);
    expect(m.k.swiotlb.usedSlots).toBe(0);
    expect(m.leaks()).toBe(0);
  });

  test('a failing element returns -EIO inside: elements mapped so far are unmapped, no dma_map_sg event, count 0', () => {
    const m = testMachine({ platform: { swiotlb: { slots: 128, areas: 1, force: false } }, devices: [{ mask: 32 }] });
    const o = m.apply({
      op: 'map-sg',
      dev: DEV,
      cpu: 0,
      segments: [{ phys: 0x180000000n, size: 2048 }, { phys: 0x190000000n, size: 300000 }],
      dir: DMA_TO_DEVICE,
      attrs: 0,
    });
    expect([o.result, o.error]).toEqual([0n, true]);
    expect(o.sg!.dma).toEqual([]);
    expect(o.trace.map((t) => t.name)).toEqual(['swiotlb_bounced', 'swiotlb_bounced']); // -EIO is an expected error: untraced
    expect(o.dmesg).toEqual([`dmasim ${DEV}: swiotlb buffer is full (sz: 300000 bytes), total 128 (slots), used 1 (slots)`]);
    expect(m.k.swiotlb.usedSlots).toBe(0);
    expect(o.ran.debug).toBe(false);
    expect(m.leaks()).toBe(0);
  });

  test('no dma_mask: WARN_ON_ONCE and 0', () => {
    const m = testMachine({ devices: [{ mask: null }] });
    const o = m.apply({ op: 'map-sg', dev: DEV, cpu: 0, segments: [{ phys: 0x1000n, size: 64 }], dir: DMA_TO_DEVICE, attrs: 0 });
    expect([o.result, o.dmesg]).toEqual([0n, ['WARNING: CPU: 0 at kernel/dma/mapping.c __dma_map_sg_attrs']]);
  });

  test('ops devices map each element 1:1', () => {
    const m = testMachine({ devices: [{ dma: 'ops' }] });
    const o = m.apply({ op: 'map-sg', dev: DEV, cpu: 0, segments: [{ phys: 0x1000n, size: 64 }, { phys: 0x9000n, size: 64 }], dir: DMA_TO_DEVICE, attrs: 0 });
    expect([o.result, o.path]).toEqual([2n, 'ops']);
    expect(o.sg!.dma.map((d) => d.addr)).toEqual([0x1000n, 0x9000n]);
  });
});

describe('sync wrappers', () => {
  test('dma_dev_need_sync: a coherent, never-bounced direct device without dma-debug skips the call entirely', () => {
    const m = testMachine({ platform: { dmaDebug: NODEBUG } });
    const o = m.apply({ op: 'sync-for-device', dev: DEV, cpu: 0, addr: 0x1000n, size: 64, dir: DMA_TO_DEVICE });
    expect([o.trace, o.path]).toEqual([[], 'none']);
  });

  test('with CONFIG_DMA_API_DEBUG the call always runs (so its checks do)', () => {
    const m = testMachine({});
    const o = m.apply({ op: 'sync-for-device', dev: DEV, cpu: 0, addr: 0x1000n, size: 64, dir: DMA_TO_DEVICE });
    expect(o.trace.map(traceLine)).toEqual([`dma_sync_single_for_device: ${DEV} dir=TO_DEVICE dma_addr=1000 size=64`]);
    expect(o.path).toBe('direct');
  });

  test('a non-coherent device: cache maintenance on both sides', () => {
    const m = testMachine({ platform: { dmaDebug: NODEBUG }, devices: [{ coherent: false }] });
    expect(m.apply({ op: 'sync-for-cpu', dev: DEV, cpu: 0, addr: 0x1000n, size: 64, dir: DMA_FROM_DEVICE }).ran.cache).toBe(true);
    expect(m.apply({ op: 'sync-for-device', dev: DEV, cpu: 0, addr: 0x1000n, size: 64, dir: DMA_FROM_DEVICE }).ran.cache).toBe(true);
  });

  test('sync BUG_ON(!valid_dma_direction) crashes when the call runs', () => {
    const m = testMachine({});
    const o = m.apply({ op: 'sync-for-cpu', dev: DEV, cpu: 0, addr: 0x1000n, size: 64, dir: 3 });
    expect(o.dmesg).toEqual(['kernel BUG at kernel/dma/mapping.c:__dma_sync_single_for_cpu!']);
  });

  test('sync-sg copies each bounced element back', () => {
    const m = testMachine({ devices: [{ mask: 32 }] });
    const o = m.apply({ op: 'map-sg', dev: DEV, cpu: 0, segments: [{ phys: 0x180000000n, size: 64 }], dir: DMA_FROM_DEVICE, attrs: 0 });
    m.apply({ op: 'dev-write', dev: DEV, cpu: 0, addr: o.sg!.dma[0]!.addr, size: 4, fill: 0x9c });
    const s = m.apply({ op: 'sync-sg-for-cpu', dev: DEV, cpu: 0, sg: o.sg!, dir: DMA_FROM_DEVICE });
    expect(s.trace.map(traceLine)).toEqual([`dma_sync_sg_for_cpu: ${DEV} dir=FROM_DEVICE dma_addrs={0xfc000000} sizes={0x40}`]);
    expect([...m.k.mem.read(0x180000000n, 4)]).toEqual([0x9c, 0x9c, 0x9c, 0x9c]);
  });
});
