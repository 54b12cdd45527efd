// dma_set_mask (the -EIO rules), dma_max_mapping_size, dma_mapping_error, dma_alloc_attrs /
// dma_free_attrs on the direct and ops paths.
import { describe, expect, test } from 'vitest';
import { testMachine } from '../testing.ts';
import type { Machine } from '../machine.ts';
import { DMA_FROM_DEVICE, DMA_MAPPING_ERROR, SIZE_MAX } from './defs.ts';

const DEV = '0000:01:00.0';
const setMask = (m: Machine, bits: number) => m.apply({ op: 'set-mask', dev: DEV, cpu: 0, bits });
const maxSize = (m: Machine) => m.apply({ op: 'max-mapping-size', dev: DEV, cpu: 0 }).result;

describe('dma_set_mask', () => {
  test('dma_direct_supported: ≥ 32 bits always; smaller masks must cover ZONE_DMA (16 MiB on the x86-like platform)', () => {
    const m = testMachine({});
    expect(setMask(m, 64).result).toBe(0n);
    expect(setMask(m, 32).result).toBe(0n);
    expect(setMask(m, 24).result).toBe(0n);
    const r = setMask(m, 23);
    expect(r.result).toBe(-5n);
    expect(r.error).toBe(true);
    expect(m.k.device(DEV).dmaMask).toBe(0xffffffn); // unchanged by the failed call
  });

  test('a small-RAM machine accepts masks that cover its last page', () => {
    const m = testMachine({ platform: { ram: [{ base: 0n, size: 8n << 20n }], swiotlb: { slots: 0, force: false } } });
    expect(setMask(m, 23).result).toBe(0n); // last page at 0x7ff000 ≤ 0x7fffff
    expect(setMask(m, 22).result).toBe(-5n);
  });

  test('the check uses the bus address (dma-ranges)', () => {
    const m = testMachine({ devices: [{ dmaRanges: [{ cpu: 0n, dma: 0x40000000n, size: 8n << 30n }] }] });
    expect(setMask(m, 24).result).toBe(-5n); // 0xffffff → bus 0x40ffffff
  });

  test('no dma_mask → -EIO; ops without dma_supported and dma-iommu devices accept anything', () => {
    expect(setMask(testMachine({ devices: [{ mask: null }] }), 32).result).toBe(-5n);
    expect(setMask(testMachine({ devices: [{ dma: 'ops' }] }), 8).result).toBe(0n);
  });

  test('dma_setup_need_sync runs again: a coherent device that bounced skips sync once more', () => {
    const m = testMachine({ devices: [{ mask: 32 }] });
    m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: 0x180000000n, size: 64, dir: DMA_FROM_DEVICE, attrs: 0 });
    expect(m.k.device(DEV).dmaSkipSync).toBe(false);
    setMask(m, 32);
    expect(m.k.device(DEV).dmaSkipSync).toBe(true);
  });
});

describe('dma_max_mapping_size', () => {
  test('direct: SIZE_MAX when the device reaches all RAM and nothing forces a bounce', () => {
    expect(maxSize(testMachine({}))).toBe(SIZE_MAX);
  });
  test('direct: swiotlb_max_mapping_size when addressing-limited, forced, or dma-ranges miss RAM', () => {
    expect(maxSize(testMachine({ devices: [{ mask: 32 }] }))).toBe(262144n);
    expect(maxSize(testMachine({ devices: [{ busLimit: 0xffffffffn }] }))).toBe(262144n);
    expect(maxSize(testMachine({ platform: { swiotlb: { slots: 32768, force: true } } }))).toBe(262144n);
    expect(maxSize(testMachine({ devices: [{ dmaRanges: [{ cpu: 0n, dma: 0n, size: 1n << 32n }] }] }))).toBe(262144n);
  });
  test('no swiotlb pool: SIZE_MAX even for a limited device; ops without max_mapping_size: SIZE_MAX', () => {
    expect(maxSize(testMachine({ platform: { swiotlb: { slots: 0, force: false } }, devices: [{ mask: 32 }] }))).toBe(SIZE_MAX);
    expect(maxSize(testMachine({ devices: [{ dma: 'ops', mask: 32 }] }))).toBe(SIZE_MAX);
  });
});

describe('dma_mapping_error', () => {
  test('-ENOMEM (as -12n) for DMA_MAPPING_ERROR, else 0', () => {
    const m = testMachine({});
    const e = m.apply({ op: 'mapping-error', dev: DEV, cpu: 0, addr: DMA_MAPPING_ERROR });
    expect([e.result, e.error]).toEqual([-12n, true]);
    const ok = m.apply({ op: 'mapping-error', dev: DEV, cpu: 0, addr: 0x1000n });
    expect([ok.result, ok.error]).toEqual([0n, false]);
  });
});

describe('dma_alloc_attrs / dma_free_attrs', () => {
  test('direct: zeroed pages from the top of RAM below the coherent mask, clear of the swiotlb pool', () => {
    const m = testMachine({ devices: [{}, { coherentMask: 32 }] });
    const a = m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 12288, attrs: 0 });
    expect(a.result).toBe(0x1fffFc000n); // get_order(12 KiB) = 2: a 16 KiB block
    expect(a.phys).toBe(a.result);
    expect(a.path).toBe('direct');
    const b = m.apply({ op: 'alloc-coherent', dev: '0000:02:00.0', cpu: 0, size: 4096, attrs: 0 });
    expect(b.result).toBe(0xfbfff000n);
    expect(m.leaks()).toBe(2);
    m.apply({ op: 'free-coherent', dev: DEV, cpu: 0, addr: a.result, cpuAddr: a.phys!, size: 12288, attrs: 0 });
    expect(m.leaks()).toBe(1);
    expect(m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 16384, attrs: 0 }).result).toBe(0x1fffFc000n);
  });

  test('the buffer is zeroed even over old contents, and its DMA address goes through dma-ranges', () => {
    const m = testMachine({ devices: [{ dmaRanges: [{ cpu: 0n, dma: 0x1000000000n, size: 8n << 30n }] }] });
    m.k.mem.fill(0x1fffff000n, 4096, 0xaa);
    const a = m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 4096, attrs: 0 });
    expect(a.phys).toBe(0x1fffff000n);
    expect(a.result).toBe(0x11fffff000n);
    expect([...m.k.mem.read(a.phys!, 4)]).toEqual([0, 0, 0, 0]);
  });

  test('a non-coherent device gets arch_dma_prep_coherent (cache column)', () => {
    const m = testMachine({ devices: [{ coherent: false }] });
    expect(m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 4096, attrs: 0 }).ran.cache).toBe(true);
  });

  test('failure: NULL, a traced dma_alloc, nothing recorded; a zero coherent mask also WARNs once', () => {
    const m = testMachine({ devices: [{ coherentMask: 0 }] });
    const a = m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 4096, attrs: 0 });
    expect([a.error, a.result, a.phys]).toEqual([true, 0n, undefined]);
    expect(a.dmesg).toEqual(['WARNING: CPU: 0 at kernel/dma/mapping.c dma_alloc_attrs']);
    expect(a.ran.debug).toBe(false);
    expect(m.leaks()).toBe(0);
  });

  test('freeing pages that are not an allocation is a double-free finding; a NULL cpu_addr only traces', () => {
    const m = testMachine({});
    const a = m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 4096, attrs: 0 });
    m.apply({ op: 'free-coherent', dev: DEV, cpu: 0, addr: a.result, cpuAddr: a.phys!, size: 4096, attrs: 0 });
    const again = m.apply({ op: 'free-coherent', dev: DEV, cpu: 0, addr: a.result, cpuAddr: a.phys!, size: 4096, attrs: 0 });
    expect(again.findings.map((f) => f.kind)).toEqual(['double-free']);
    const nul = m.apply({ op: 'free-coherent', dev: DEV, cpu: 0, addr: 0n, cpuAddr: 0n, size: 4096, attrs: 0 });
    expect(nul.trace.map((t) => t.name)).toEqual(['dma_free']);
    expect(nul.findings).toEqual([]);
  });

  test('ops: the 1:1 ops allocate too', () => {
    const m = testMachine({ devices: [{ dma: 'ops', coherentMask: 32 }] });
    const a = m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 4096, attrs: 0 });
    expect([a.path, a.result]).toEqual(['ops', 0xfbfff000n]);
  });
});
