// Machine.apply: determinism of the state hash, the crashed state after a kernel BUG, bad input,
// leaks() and summary().
import { describe, expect, test } from 'vitest';
import { testMachine } from './testing.ts';
import { fileURLToPath } from 'node:url';
import type { Event, Outcome } from './events.ts';
import { LogReader } from './log/reader.ts';
import { Machine } from './machine.ts';
import { ModelInputError } from './kernel.ts';
import { DMA_FROM_DEVICE, DMA_TO_DEVICE } from './dma/defs.ts';

const DEV = '0000:01:00.0';

function script(): Event[] {
  return [
    { op: 'cpu-write', cpu: 0, phys: 0x180000000n, size: 32, fill: 0x5a },
    { op: 'map-single', dev: DEV, cpu: 1, phys: 0x180000000n, size: 32, dir: DMA_FROM_DEVICE, attrs: 0 },
    { op: 'map-single', dev: DEV, cpu: 0, phys: 0x1000n, size: 4096, dir: DMA_TO_DEVICE, attrs: 0 },
    { op: 'alloc-coherent', dev: DEV, cpu: 2, size: 8192, attrs: 0 },
    { op: 'advance-time', cpu: 0, byNs: 1_000_000 },
  ];
}

describe('Machine', () => {
  test('two machines that applied the same events have the same state hash; a different event changes it', () => {
    const a = testMachine({ devices: [{ mask: 32 }] });
    const b = testMachine({ devices: [{ mask: 32 }] });
    const outs = script().map((e) => a.apply(e));
    script().forEach((e, i) => expect(b.apply(e)).toEqual(outs[i]));
    expect(a.stateHash()).toBe(b.stateHash());
    b.apply({ op: 'dev-write', dev: DEV, cpu: 0, addr: 0x1000n, size: 1, fill: 1 });
    expect(a.stateHash()).not.toBe(b.stateHash());
  });

  test('memory contents, swiotlb slots and live mappings all feed the hash', () => {
    const base = testMachine({ devices: [{ mask: 32 }] });
    const h0 = base.stateHash();
    const bytes = testMachine({ devices: [{ mask: 32 }] });
    bytes.k.mem.fill(0x1000n, 1, 7);
    expect(bytes.stateHash()).not.toBe(h0);
    const zero = testMachine({ devices: [{ mask: 32 }] });
    zero.k.mem.fill(0x1000n, 4096, 0); // zero bytes equal bytes never written
    expect(zero.stateHash()).toBe(h0);
  });

  test('after a kernel BUG every event returns an error outcome and changes nothing', () => {
    const m = testMachine({});
    m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: 0x1000n, size: 64, dir: DMA_TO_DEVICE, attrs: 0 });
    const bug = m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: 0x1000n, size: 64, dir: 5, attrs: 0 });
    expect([bug.error, bug.path]).toEqual([true, 'none']);
    expect(m.crashed).toBe('kernel BUG at kernel/dma/mapping.c:dma_map_phys!');
    const h = m.stateHash();
    const later = m.apply({ op: 'unmap-single', dev: DEV, cpu: 0, addr: 0x1000n, size: 64, dir: DMA_TO_DEVICE, attrs: 0 });
    expect(later.error).toBe(true);
    expect(later.dmesg).toEqual(['dmasim: the simulated kernel has crashed (kernel BUG at kernel/dma/mapping.c:dma_map_phys!); unmap-single was not run']);
    expect(m.leaks()).toBe(1);
    expect(m.eventCount).toBe(3);
    expect(m.stateHash()).not.toBe(h); // only the event count moved
  });

  test('bad input is thrown: unknown device, missing CPU, bad size, bad set-mask bits', () => {
    const m = testMachine({});
    expect(() => m.apply({ op: 'map-single', dev: 'nope', cpu: 0, phys: 0n, size: 1, dir: 1, attrs: 0 })).toThrow(ModelInputError);
    expect(() => m.apply({ op: 'cpu-read', cpu: 4, phys: 0n, size: 1 })).toThrow(/cpu 4 does not exist/);
    expect(() => m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: 0n, size: -1, dir: 1, attrs: 0 })).toThrow(/not a byte count/);
    expect(() => m.apply({ op: 'set-mask', dev: DEV, cpu: 0, bits: 65 })).toThrow(/outside 0..64/);
  });

  test('each event takes one virtual microsecond; advance-time adds to it', () => {
    const m = testMachine({});
    expect(m.apply({ op: 'cpu-read', cpu: 0, phys: 0n, size: 1 }).timeNs).toBe(1000);
    m.apply({ op: 'advance-time', cpu: 0, byNs: 10_000 });
    expect(m.apply({ op: 'cpu-read', cpu: 0, phys: 0n, size: 1 }).timeNs).toBe(13_000);
  });

  test('leaks() and summary() count what the model holds, per device', () => {
    const m = testMachine({ devices: [{ mask: 32 }, {}] });
    script().forEach((e) => m.apply(e));
    m.apply({ op: 'map-single', dev: '0000:02:00.0', cpu: 0, phys: 0x2000n, size: 64, dir: DMA_TO_DEVICE, attrs: 0 });
    expect(m.leaks()).toBe(4);
    const s = m.summary();
    expect(s.devices).toEqual([
      { name: DEV, liveMappings: 3 },
      { name: '0000:02:00.0', liveMappings: 1 },
    ]);
    expect(s.swiotlb).toEqual({ total: 32768, used: 1 });
    expect(s.events).toBe(6);
    expect(s.debugEntries).toBe(4);
    expect(s.iova).toEqual([]);
  });

  test('unbind keeps the mappings (they are leaks) and runs the dma-debug leak report', () => {
    const m = testMachine({});
    m.apply({ op: 'map-single', dev: DEV, cpu: 0, phys: 0x1000n, size: 64, dir: DMA_TO_DEVICE, attrs: 0 });
    const o = m.apply({ op: 'unbind', dev: DEV, cpu: 0 });
    expect(o.dmesg.join('\n')).toContain('device driver has pending DMA allocations while released from device [count=1]');
    expect(m.leaks()).toBe(1);
  });
});

describe('Machine.checkInvariants', () => {
  test('holds on a fresh machine and after maps and unmaps that bounce', () => {
    const m = testMachine({ devices: [{ mask: 32 }] });
    expect(m.checkInvariants()).toEqual([]);
    const dev = m.k.deviceList[0]!.name;
    const o = m.apply({ op: 'map-single', dev, cpu: 0, phys: 0x1_2000_0000n, size: 5000, dir: 1, attrs: 0 });
    expect(o.path).toBe('swiotlb');
    expect(m.k.swiotlb.usedSlots).toBe(3);
    expect(m.checkInvariants()).toEqual([]);
    m.apply({ op: 'unmap-single', dev, cpu: 0, addr: o.result, size: 5000, dir: 1, attrs: 0 });
    expect(m.checkInvariants()).toEqual([]);
  });

  test('reports a corrupted slot list (the check can fail)', () => {
    const m = testMachine({ devices: [{ mask: 32 }] });
    const dev = m.k.deviceList[0]!.name;
    m.apply({ op: 'map-single', dev, cpu: 0, phys: 0x1_2000_0000n, size: 4096, dir: 1, attrs: 0 });
    // Corrupt the pool's bookkeeping behind the model's back.
    m.k.swiotlb.list[0] = 7;
    const bad = m.checkInvariants();
    expect(bad.some((b) => b.includes('free slot has a wrong list') || b.includes('used count differs'))).toBe(true);
  });
});

describe('recycleOutcomes', () => {
  // Replay and a stress run without onEvent reuse one outcome object; what each event returns must
  // be exactly what a fresh outcome would hold (nothing left over from the event before).
  test('every outcome equals the one a machine without recycling returns', () => {
    const file = fileURLToPath(new URL('./log/fixtures/v2-mixed.dlog', import.meta.url));
    const reader = LogReader.open(file);
    try {
      const fresh = new Machine(reader.header.config);
      const reused = new Machine(reader.header.config);
      reused.recycleOutcomes = true;
      const show = (o: unknown): string => JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v));
      let n = 0;
      let last: Outcome | undefined;
      // Trace records are reused too (dma/trace.ts TracePool): a handful of objects serve every
      // traced event, and each shows its new event's fields and text (the cached text is dropped).
      const records = new Set<unknown>();
      let traced = 0;
      for (const b of reader.batches()) {
        for (const rec of b.records) {
          const a = show(fresh.apply(rec.event));
          const o = reused.apply(rec.event);
          if (last) expect(o).toBe(last);
          last = o;
          expect(show(o)).toBe(a);
          if (o.trace.length > 0) traced++;
          for (const t of o.trace) records.add(t);
          n++;
        }
      }
      expect(n).toBeGreaterThan(1000);
      expect(traced).toBeGreaterThan(1000);
      expect(records.size).toBeLessThan(100);
      expect(reused.stateHash()).toBe(fresh.stateHash());
      // The fixture makes traces and data but no findings or dmesg lines: events that do, each
      // followed by one that does not.
      const a = testMachine({});
      const b = testMachine({});
      b.recycleOutcomes = true;
      const evs: Event[] = [
        { op: 'map-single', dev: DEV, cpu: 0, phys: 0x180000000n, size: 32, dir: DMA_FROM_DEVICE, attrs: 0 },
        { op: 'cpu-read', cpu: 0, phys: 0x180000000n, size: 32 },
        { op: 'cpu-read', cpu: 0, phys: 0x1000n, size: 4 },
        { op: 'unmap-single', dev: DEV, cpu: 0, addr: 0x7000n, size: 64, dir: DMA_TO_DEVICE, attrs: 0 },
        { op: 'cpu-read', cpu: 0, phys: 0x1000n, size: 4 },
      ];
      const kinds: number[] = [];
      for (const ev of evs) {
        const want = show(a.apply(ev));
        const got = b.apply(ev);
        kinds.push(got.findings.length + got.dmesg.length);
        expect(show(got)).toBe(want);
      }
      expect(kinds[1]).toBeGreaterThan(0);
      expect(kinds[3]).toBeGreaterThan(0);
    } finally {
      reader.close();
    }
  });
});
