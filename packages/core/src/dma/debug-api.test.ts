// dma-debug end to end: events through Machine.apply reach the debug_* hooks where mapping.c calls
// them, and dma-debug's state shows in the outcome (ran.debug), error_count, dump and state hash.

import { describe, expect, it } from 'vitest';
import type { Profile } from '../config.ts';
import type { Outcome } from '../events.ts';
import type { Machine } from '../machine.ts';
import { testMachine } from '../testing.ts';
import { DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE } from './defs.ts';

const DEV = '0000:01:00.0';
const BAR = 0x3f00000000n;
const MMIO = [{ name: 'peer-bar', base: BAR, size: 16n << 20n }];

function machine(profile: Profile = '6.18', dev: Record<string, unknown> = {}): Machine {
  return testMachine({ profile, devices: [{ driver: 'ixgbe', ...dev }], platform: { mmio: MMIO } });
}
const mapSingle = (m: Machine, phys: bigint, size: number, dir: number, attrs = 0): Outcome =>
  m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys, size, dir, attrs });
const unmapSingle = (m: Machine, addr: bigint, size: number, dir: number): Outcome =>
  m.apply({ op: 'unmap-single', dev: DEV, cpu: 0, addr, size, dir, attrs: 0 });
const mappingError = (m: Machine, addr: bigint): Outcome => m.apply({ op: 'mapping-error', dev: DEV, cpu: 0, addr });

describe('dma-debug through Machine.apply', () => {
  it('dma_map_single → debug_dma_map_phys records an entry (column D), dma_mapping_error checks it, unmap is clean', () => {
    const m = machine();
    const o = mapSingle(m, 0x100000n, 4096, DMA_FROM_DEVICE);
    expect(o.ran.debug).toBe(true);
    expect(m.k.debug.dump()).toEqual([
      'ixgbe 0000:01:00.0 phy idx 128 P=0x0000000000100000 D=100000 L=1000 cln=0x0000000000004000 DMA_FROM_DEVICE dma map error not checked',
    ]);
    expect(mappingError(m, o.result).result).toBe(0n);
    expect(unmapSingle(m, o.result, 4096, DMA_FROM_DEVICE).dmesg).toEqual([]);
    expect(m.k.debug.errorCount).toBe(0);
    expect(m.k.debug.entryCount).toBe(0);
  });

  it('the event sequence number of the map names the entry under "Mapped at:" (6.17 frames name dma_map_page_attrs)', () => {
    const m = machine('6.17');
    mapSingle(m, 0x200000n, 512, DMA_TO_DEVICE);
    m.apply({ op: 'advance-time', cpu: 0, byNs: 1000 });
    const o = unmapSingle(m, 0x200000n, 512, DMA_TO_DEVICE);
    expect(o.dmesg.slice(0, 1)).toEqual(['DMA-API: ixgbe 0000:01:00.0: device driver failed to check map error[device address=0x0000000000200000] [size=512 bytes] [mapped as single]']);
    expect(o.dmesg.slice(-4)).toEqual(['DMA-API: Mapped at:', ' debug_dma_map_page', ' dma_map_page_attrs', ' dmasim event #1 cpu 0']);
  });

  it('row D6 vs D3: MMIO on legacy ops without map_resource records a bogus entry in 6.17 only', () => {
    const old = machine('6.17', { dma: 'ops', ops: { mapResource: false } });
    const o17 = old.apply({ op: 'map-resource', dev: DEV, cpu: 0, phys: BAR, size: 4096, dir: DMA_BIDIRECTIONAL, attrs: 0 });
    expect(o17.result).toBe(DMA_MAPPING_ERROR);
    expect(o17.ran.debug).toBe(true);
    expect(old.k.debug.dump()[0]).toMatch(/ resource idx 16383 P=0x0000003f00000000 D=ffffffffffffffff L=1000 /);

    const cur = machine('6.18', { dma: 'ops', ops: { mapResource: false } });
    const o18 = cur.apply({ op: 'map-resource', dev: DEV, cpu: 0, phys: BAR, size: 4096, dir: DMA_BIDIRECTIONAL, attrs: 0 });
    expect(o18.result).toBe(DMA_MAPPING_ERROR);
    expect(o18.ran.debug).toBe(false);
    expect(cur.k.debug.entryCount).toBe(0);
  });

  it('6.18 dma_map_resource on RAM: the wrapper refuses it (row A5) and dma-debug records nothing', () => {
    const m = machine();
    const o = m.apply({ op: 'map-resource', dev: DEV, cpu: 0, phys: 0x100000n, size: 4096, dir: DMA_BIDIRECTIONAL, attrs: 0 });
    expect(o.result).toBe(DMA_MAPPING_ERROR);
    expect(o.ran.debug).toBe(false);
    expect(m.k.debug.errorCount).toBe(0);
  });

  it('6.18 with the May-2026 fix selected: the mapping proceeds and dma-debug reports the RAM address', () => {
    const m = machine();
    m.k.debug.resourceRamCheck = 'debug';
    const o = m.apply({ op: 'map-resource', dev: DEV, cpu: 0, phys: 0x100000n, size: 4096, dir: DMA_BIDIRECTIONAL, attrs: 0 });
    expect(o.result).not.toBe(DMA_MAPPING_ERROR);
    expect(o.dmesg).toContain('DMA-API: ixgbe 0000:01:00.0: dma_map_resource called for RAM address 0x0000000000100000');
    expect(m.k.debug.errorCount).toBe(1);
    expect(m.k.debug.entryCount).toBe(1);
  });

  it('syncs reach dma-debug on a coherent device (dma_dev_need_sync is true with CONFIG_DMA_API_DEBUG)', () => {
    const m = machine();
    const o = mapSingle(m, 0x300000n, 2048, DMA_FROM_DEVICE);
    mappingError(m, o.result);
    unmapSingle(m, o.result, 2048, DMA_FROM_DEVICE);
    const s = m.apply({ op: 'sync-for-cpu', dev: DEV, cpu: 1, addr: o.result, size: 64, dir: DMA_FROM_DEVICE });
    expect(s.dmesg[0]).toBe('DMA-API: ixgbe 0000:01:00.0: device driver tries to sync DMA memory it has not allocated [device address=0x0000000000300000] [size=64 bytes]');
    expect(s.dmesg[1]).toBe('WARNING: CPU: 1 at kernel/dma/debug.c check_sync');
  });

  it('map-sg / unmap-sg with the list the map returned is clean; coherent alloc/free is clean', () => {
    const m = machine();
    const sg = m.apply({
      op: 'map-sg',
      dev: DEV,
      cpu: 0,
      segments: [
        { phys: 0x400000n, size: 4096 },
        { phys: 0x402000n, size: 4096 },
      ],
      dir: DMA_TO_DEVICE,
      attrs: 0,
    });
    expect(sg.ran.debug).toBe(true);
    expect(m.k.debug.entryCount).toBe(2);
    const ring = m.apply({ op: 'alloc-coherent', dev: DEV, cpu: 0, size: 8192, attrs: 0 });
    expect(ring.ran.debug).toBe(true);
    m.apply({ op: 'unmap-sg', dev: DEV, cpu: 0, sg: sg.sg!, dir: DMA_TO_DEVICE, attrs: 0 });
    m.apply({ op: 'free-coherent', dev: DEV, cpu: 0, addr: ring.result, size: 8192, attrs: 0, cpuAddr: ring.phys! });
    expect(m.k.debug.errorCount).toBe(0);
    expect(m.k.debug.entryCount).toBe(0);
  });

  it('unbind reports the leak; the state hash covers dma-debug (checking the handle alone changes it)', () => {
    const a = machine();
    const b = machine();
    for (const m of [a, b]) mapSingle(m, 0x500000n, 4096, DMA_TO_DEVICE);
    expect(a.stateHash()).toBe(b.stateHash());
    mappingError(a, 0x500000n);
    mappingError(b, 0x600000n); // no entry there: only dma-debug's "checked" state differs
    expect(a.stateHash()).not.toBe(b.stateHash());
    const u = a.apply({ op: 'unbind', dev: DEV, cpu: 0 });
    expect(u.dmesg[0]).toBe('DMA-API: pci 0000:01:00.0: device driver has pending DMA allocations while released from device [count=1]');
    expect(a.summary().debugEntries).toBe(1);
    expect(a.summary().debugErrors).toBe(1);
  });
});
