// Device-side and CPU-side accesses on direct and ops devices: bus → phys through dma-ranges,
// bounce slots, and the unmapped-access / direction-violation / cpu-owned-violation findings.
import { describe, expect, test } from 'vitest';
import { testMachine } from '../testing.ts';
import type { Machine } from '../machine.ts';
import type { Outcome } from '../events.ts';
import { DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_TO_DEVICE } from './defs.ts';

const DEV = '0000:01:00.0';
const P = 0x200000n;

const kinds = (o: Outcome): string[] => o.findings.map((f) => f.kind);
function mapAt(m: Machine, phys: bigint, size: number, dir: number): Outcome {
  return m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys, size, dir, attrs: 0 });
}
const devRead = (m: Machine, addr: bigint, size: number): Outcome => m.apply({ op: 'dev-read', dev: DEV, cpu: 0, addr, size });
const devWrite = (m: Machine, addr: bigint, size: number, fill: number): Outcome => m.apply({ op: 'dev-write', dev: DEV, cpu: 0, addr, size, fill });
const cpuRead = (m: Machine, phys: bigint, size: number): Outcome => m.apply({ op: 'cpu-read', cpu: 1, phys, size });

describe.each(['direct', 'ops'] as const)('device accesses (%s device)', (dma) => {
  test('inside a live mapping in its direction: bytes move, no finding, fault none', () => {
    const m = testMachine({ devices: [{ dma }] });
    m.apply({ op: 'cpu-write', cpu: 0, phys: P, size: 4, data: new Uint8Array([1, 2, 3, 4]) });
    const a = mapAt(m, P, 4096, DMA_TO_DEVICE).result;
    const r = devRead(m, a, 4);
    expect([...r.data!]).toEqual([1, 2, 3, 4]);
    expect(r.fault).toBe('none');
    expect(r.path).toBe(dma);
    expect(kinds(r)).toEqual([]);
  });

  test('a device write into a to-device mapping is a direction-violation (and still lands)', () => {
    const m = testMachine({ devices: [{ dma }] });
    const a = mapAt(m, P, 4096, DMA_TO_DEVICE).result;
    const w = devWrite(m, a + 8n, 8, 0xee);
    expect(kinds(w)).toEqual(['direction-violation']);
    expect(w.findings[0]!.message).toContain('[mapped with DMA_TO_DEVICE]');
    m.apply({ op: 'unmap-single', dev: DEV, cpu: 0, addr: a, size: 4096, dir: DMA_TO_DEVICE, attrs: 0 });
    expect([...cpuRead(m, P + 8n, 2).data!]).toEqual([0xee, 0xee]);
  });

  test('a device read of a from-device mapping is a direction-violation', () => {
    const m = testMachine({ devices: [{ dma }] });
    const a = mapAt(m, P, 4096, DMA_FROM_DEVICE).result;
    expect(kinds(devRead(m, a, 16))).toEqual(['direction-violation']);
    expect(kinds(devWrite(m, a, 16, 1))).toEqual([]);
  });

  test('outside every live mapping, partly outside, or after unmap: unmapped-access', () => {
    const m = testMachine({ devices: [{ dma }] });
    const a = mapAt(m, P, 4096, DMA_BIDIRECTIONAL).result;
    expect(kinds(devRead(m, a + 4096n, 4))).toEqual(['unmapped-access']);
    expect(kinds(devRead(m, a + 4090n, 16))).toEqual(['unmapped-access']);
    m.apply({ op: 'unmap-single', dev: DEV, cpu: 0, addr: a, size: 4096, dir: DMA_BIDIRECTIONAL, attrs: 0 });
    expect(kinds(devWrite(m, a, 4, 9))).toEqual(['unmapped-access']);
  });

  test('a mapping remembered from an earlier access covers nothing once unmapped, nor once its record serves another device (LiveMappings.coveringBus)', () => {
    const m = testMachine({ devices: [{ dma }, { dma }] });
    const a = mapAt(m, P, 4096, DMA_BIDIRECTIONAL).result;
    expect(kinds(devRead(m, a + 64n, 16))).toEqual([]); // found through the index, then remembered
    expect(kinds(devRead(m, a + 128n, 16))).toEqual([]); // the remembered mapping
    m.apply({ op: 'unmap-single', dev: DEV, cpu: 0, addr: a, size: 4096, dir: DMA_BIDIRECTIONAL, attrs: 0 });
    expect(kinds(devRead(m, a + 128n, 16))).toEqual(['unmapped-access']);
    // The freed record is refilled by the next single mapping: the other device's, at the same address.
    const b = m.apply({ op: 'map-single', dev: '0000:02:00.0', cpu: 0, phys: P, size: 4096, dir: DMA_BIDIRECTIONAL, attrs: 0 }).result;
    expect(b).toBe(a);
    expect(kinds(devRead(m, a + 128n, 16))).toEqual(['unmapped-access']);
    expect(kinds(m.apply({ op: 'dev-read', dev: '0000:02:00.0', cpu: 0, addr: a + 128n, size: 16 }))).toEqual([]);
    // Mapped again by this device, in the other direction: the remembered record must not allow a write.
    const c = mapAt(m, P + 0x10000n, 4096, DMA_TO_DEVICE).result;
    expect(kinds(devRead(m, c, 16))).toEqual([]);
    expect(kinds(devWrite(m, c, 16, 1))).toEqual(['direction-violation']);
  });

  test("another device's mapping does not cover this device", () => {
    const m = testMachine({ devices: [{ dma }, { dma }] });
    m.apply({ op: 'map-single', dev: '0000:02:00.0', cpu: 0, phys: P, size: 4096, dir: DMA_BIDIRECTIONAL, attrs: 0 });
    expect(kinds(devRead(m, P, 4))).toEqual(['unmapped-access']);
  });

  test('an access spanning two adjacent mappings is covered by both', () => {
    const m = testMachine({ devices: [{ dma }] });
    mapAt(m, P, 4096, DMA_BIDIRECTIONAL);
    mapAt(m, P + 4096n, 4096, DMA_BIDIRECTIONAL);
    expect(kinds(devRead(m, P + 4000n, 200))).toEqual([]);
  });

  test('coherent buffers take both directions and the CPU may touch them any time', () => {
    const m = testMachine({ devices: [{ dma }] });
    const c = m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 4096, attrs: 0 });
    expect(kinds(devWrite(m, c.result + 16n, 4, 0x5a))).toEqual([]);
    const r = cpuRead(m, c.phys! + 16n, 4);
    expect(kinds(r)).toEqual([]);
    expect([...r.data!]).toEqual([0x5a, 0x5a, 0x5a, 0x5a]);
  });
});

describe('dma-ranges and bounce buffers', () => {
  test('the bus address goes through dma-ranges to the CPU physical address', () => {
    const m = testMachine({ devices: [{ dmaRanges: [{ cpu: 0x80000000n, dma: 0n, size: 1n << 30n }] }] });
    const a = mapAt(m, 0x80001000n, 4096, DMA_FROM_DEVICE).result;
    expect(a).toBe(0x1000n);
    devWrite(m, a, 4, 0x77);
    m.apply({ op: 'unmap-single', dev: DEV, cpu: 0, addr: a, size: 4096, dir: DMA_FROM_DEVICE, attrs: 0 });
    expect([...cpuRead(m, 0x80001000n, 4).data!]).toEqual([0x77, 0x77, 0x77, 0x77]);
  });

  test('untranslated MMIO behind a non-identity dma-ranges window: the device reaches no memory (raspberrypi/linux#7136)', () => {
    const bar = 0x3f00000000n;
    const m = testMachine({ platform: { mmio: [{ name: 'bar', base: bar, size: 1n << 20n }] }, devices: [{ dmaRanges: [{ cpu: 0n, dma: 0x10000000000n, size: 1n << 33n }] }] });
    const a = m.apply({ op: 'map-resource', dev: DEV, cpu: 0, phys: bar, size: 4096, dir: DMA_TO_DEVICE, attrs: 0 }).result;
    expect(a).toBe(bar);
    const r = devRead(m, a, 4);
    expect(kinds(r)).toEqual(['unmapped-access']);
    expect(r.findings[0]!.message).toContain('outside every dma-ranges window');
    expect([...r.data!]).toEqual([0xff, 0xff, 0xff, 0xff]);
  });

  test('a bounce address lands in the bounce slot, not in the original buffer', () => {
    const m = testMachine({ devices: [{ mask: 32 }] });
    const hi = 0x180000000n;
    const a = mapAt(m, hi, 64, DMA_FROM_DEVICE).result;
    devWrite(m, a, 4, 0x42);
    expect([...m.k.mem.read(m.k.swiotlb.start, 4)]).toEqual([0x42, 0x42, 0x42, 0x42]);
    expect([...m.k.mem.read(hi, 4)]).toEqual([0, 0, 0, 0]);
  });
});

describe('CPU accesses and buffer ownership', () => {
  test('touching a buffer the device owns is a cpu-owned-violation; sync-for-cpu hands it over, sync-for-device back', () => {
    const m = testMachine({ devices: [{ coherent: false }] });
    const a = mapAt(m, P, 4096, DMA_FROM_DEVICE).result;
    const r1 = cpuRead(m, P + 100n, 4);
    expect(kinds(r1)).toEqual(['cpu-owned-violation']);
    expect(r1.findings[0]!.message).toContain(`while ${DEV} owns the buffer`);
    m.apply({ op: 'sync-for-cpu', dev: DEV, cpu: 0, addr: a, size: 4096, dir: DMA_FROM_DEVICE });
    expect(kinds(cpuRead(m, P, 4))).toEqual([]);
    m.apply({ op: 'sync-for-device', dev: DEV, cpu: 0, addr: a, size: 4096, dir: DMA_FROM_DEVICE });
    expect(kinds(m.apply({ op: 'cpu-write', cpu: 0, phys: P, size: 4, fill: 1 }))).toEqual(['cpu-owned-violation']);
    m.apply({ op: 'unmap-single', dev: DEV, cpu: 0, addr: a, size: 4096, dir: DMA_FROM_DEVICE, attrs: 0 });
    expect(kinds(cpuRead(m, P, 4))).toEqual([]);
  });

  test('ownership follows sg lists too (sync-sg-for-cpu)', () => {
    const m = testMachine({});
    const o = m.apply({ op: 'map-sg', dev: DEV, cpu: 0, segments: [{ phys: P, size: 512 }, { phys: P + 0x10000n, size: 512 }], dir: DMA_FROM_DEVICE, attrs: 0 });
    expect(kinds(cpuRead(m, P + 0x10000n, 4))).toEqual(['cpu-owned-violation']);
    m.apply({ op: 'sync-sg-for-cpu', dev: DEV, cpu: 0, sg: o.sg!, dir: DMA_FROM_DEVICE });
    expect(kinds(cpuRead(m, P + 0x10000n, 4))).toEqual([]);
  });

  test('write data must match the size', () => {
    const m = testMachine({});
    expect(() => m.apply({ op: 'cpu-write', cpu: 0, phys: P, size: 4, data: new Uint8Array(3) })).toThrow(/3 bytes but size is 4/);
  });
});
