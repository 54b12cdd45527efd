// The wire format: every Event a device can issue arrives as the same concrete Event after the
// coordinator resolves handles; failed-and-checked buffers are dropped; bad records are refused.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { emptyOutcome, type Event, type Outcome } from '@dmasim/core';
import { DeviceDriver, dma, physOf, sgEntry, sgList, type Channel, type DeviceRequest, type IssueOptions } from './driver.ts';
import { Batch, checkBatch, RECORDS_PER_BATCH, type CoordinatorMessage } from './protocol.ts';
import { DeviceHandles, MalformedRecord, refHandle, type Decoded } from './resolve.ts';

/** A driver whose batches are decoded synchronously by `handles`, each decoded record handed to `on`. */
function loop(handles: DeviceHandles, on: (d: Decoded, b: Batch, i: number) => void): DeviceDriver {
  let deliver: ((m: CoordinatorMessage) => void) | undefined;
  const ch: Channel = {
    post(ab) {
      const b = new Batch(ab);
      expect(checkBatch(ab)).toBeNull();
      for (let i = 0; i < b.count; i++) on(handles.decode(b, i), b, i);
      deliver!({ t: 'ret', buf: ab });
    },
    onMessage: (cb) => (deliver = cb),
    close: () => {},
  };
  return new DeviceDriver(ch, 2);
}

const big = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const cpu = fc.integer({ min: 0, max: 255 });
const dir = fc.integer({ min: 0, max: 3 });
const attrs = fc.integer({ min: 0, max: 0x7fff });
const bytes = fc.uint8Array({ maxLength: 300 });

/** Requests with literal addresses: they must decode to exactly the Event they describe. */
const literalReq: fc.Arbitrary<DeviceRequest> = fc.oneof(
  fc.record({ op: fc.constantFrom('map-single', 'map-page', 'map-phys', 'map-resource' as const), cpu, phys: big, size: u32, dir, attrs }),
  fc.record({ op: fc.constantFrom('unmap-single', 'unmap-page', 'unmap-phys', 'unmap-resource' as const), cpu, addr: big, size: u32, dir, attrs }),
  fc.record({ op: fc.constant('map-sg' as const), cpu, segments: fc.array(fc.record({ phys: big, size: u32 }), { maxLength: 40 }), dir, attrs }),
  fc.record({ op: fc.constantFrom('sync-for-cpu', 'sync-for-device' as const), cpu, addr: big, size: u32, dir }),
  fc.record({ op: fc.constant('alloc-coherent' as const), cpu, size: u32, attrs }),
  fc.record({ op: fc.constant('mapping-error' as const), cpu, addr: big }),
  fc.record({ op: fc.constant('set-mask' as const), cpu, bits: fc.integer({ min: 0, max: 64 }) }),
  fc.record({ op: fc.constantFrom('max-mapping-size', 'unbind' as const), cpu }),
  fc.record({ op: fc.constant('dev-read' as const), cpu, addr: big, size: u32 }),
  fc.record({ op: fc.constant('dev-write' as const), cpu, addr: big, size: u32, fill: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('dev-write' as const), cpu, addr: big, size: u32, data: bytes }),
  fc.record({ op: fc.constant('cpu-read' as const), cpu, phys: big, size: u32 }),
  fc.record({ op: fc.constant('cpu-write' as const), cpu, phys: big, size: u32, data: bytes }),
  fc.record({ op: fc.constant('advance-time' as const), cpu, byNs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) }),
  fc.record({ op: fc.constant('flush-iotlb' as const), cpu, domain: fc.string({ minLength: 1, maxLength: 20 }) }),
);

function expected(r: DeviceRequest, dev: string): Event {
  const { phys, addr, ...rest } = r as DeviceRequest & { phys?: bigint; addr?: bigint };
  const cpuSide = r.op === 'cpu-read' || r.op === 'cpu-write' || r.op === 'advance-time' || r.op === 'flush-iotlb';
  return { ...(cpuSide ? {} : { dev }), ...rest, ...(phys !== undefined ? { phys } : {}), ...(addr !== undefined ? { addr } : {}) } as Event;
}

describe('wire format', () => {
  it('literal requests decode to the Event they describe (fast-check, fixed seed)', () => {
    fc.assert(fc.property(fc.array(literalReq, { minLength: 1, maxLength: 600 }), (reqs) => {
      const got: Event[] = [];
      const drv = loop(new DeviceHandles('0000:01:00.0'), (d) => {
        if (d.kind === 'event') got.push(d.ev);
      });
      for (const r of reqs) expect(drv.issue(r)).toBeUndefined();
      void drv.flush();
      expect(got).toEqual(reqs.map((r) => expected(r, '0000:01:00.0')));
    }), { seed: 0x5eed, numRuns: 60 });
  });

  it('handles resolve to what the bound call returned, with offsets, sg entries and coherent phys', () => {
    const h = new DeviceHandles('dev0');
    const seen: Event[] = [];
    const outcomes: Outcome[] = [];
    const apply = (ev: Event): Outcome => {
      const o = emptyOutcome(0);
      if (ev.op === 'map-single') o.result = 0xfff00000n;
      if (ev.op === 'alloc-coherent') {
        o.result = 0xe0000000n;
        o.phys = 0x2_0000_0000n;
      }
      if (ev.op === 'map-sg') o.sg = { segments: ev.segments, dma: [{ addr: 0xa000n, len: 8192 }] };
      return o;
    };
    const drv = loop(h, (d, b, i) => {
      if (d.kind !== 'event') return;
      seen.push(d.ev);
      const o = apply(d.ev);
      outcomes.push(o);
      if (d.bind !== 0xffffffff) h.bind(d.bind, d.ev, o, d.checked);
      else if (d.ev.op === 'mapping-error') h.markChecked(d.ev, o, refHandle(b, i));
    });
    const issue = (r: DeviceRequest, o?: IssueOptions): void => void drv.issue(r, o);
    issue({ op: 'map-single', cpu: 1, phys: 0x1000n, size: 4096, dir: 2, attrs: 0 }, { bind: 3 });
    issue({ op: 'dev-write', cpu: 1, addr: dma(3, 64n), size: 100, fill: 0xab });
    issue({ op: 'unmap-single', cpu: 1, addr: dma(3), size: 4096, dir: 2, attrs: 0 });
    issue({ op: 'alloc-coherent', cpu: 0, size: 8192, attrs: 0 }, { bind: 4, checked: true });
    issue({ op: 'cpu-read', cpu: 0, phys: physOf(4, 16n), size: 8 });
    issue({ op: 'free-coherent', cpu: 0, addr: dma(4), size: 8192, attrs: 0 });
    issue({ op: 'map-sg', cpu: 2, segments: [{ phys: 0x5000n, size: 4096 }, { phys: 0x6000n, size: 4096 }], dir: 1, attrs: 0 }, { bind: 5, checked: true });
    issue({ op: 'dev-read', cpu: 2, addr: sgEntry(5, 0), size: 0 }, { sizeFromEntry: true, skipIfMissing: true });
    issue({ op: 'dev-read', cpu: 2, addr: sgEntry(5, 1), size: 0 }, { sizeFromEntry: true, skipIfMissing: true });
    issue({ op: 'unmap-sg', cpu: 2, sg: sgList(5, 1), dir: 1, attrs: 0 });
    void drv.flush();
    expect(seen.map((e) => e.op)).toEqual(['map-single', 'dev-write', 'unmap-single', 'alloc-coherent', 'cpu-read', 'free-coherent', 'map-sg', 'dev-read', 'unmap-sg']);
    expect(seen[1]).toEqual({ op: 'dev-write', dev: 'dev0', cpu: 1, addr: 0xfff00040n, size: 100, fill: 0xab });
    expect(seen[2]).toMatchObject({ addr: 0xfff00000n });
    expect(seen[4]).toEqual({ op: 'cpu-read', cpu: 0, phys: 0x2_0000_0010n, size: 8 });
    expect(seen[5]).toEqual({ op: 'free-coherent', dev: 'dev0', cpu: 0, addr: 0xe0000000n, size: 8192, attrs: 0, cpuAddr: 0x2_0000_0000n });
    // The merged entry is read whole; the missing second entry is dropped.
    expect(seen[7]).toMatchObject({ addr: 0xa000n, size: 8192 });
    // A driver passing a different nents than it mapped: the list as it would see it.
    expect(seen[8]).toMatchObject({ sg: { segments: [{ phys: 0x5000n, size: 4096 }], dma: [{ addr: 0xa000n, len: 8192 }] } });
  });

  it('a failed map the driver checked drops later uses of that buffer; an unchecked one uses the error address', () => {
    const h = new DeviceHandles('dev0');
    const seen: Decoded[] = [];
    const drv = loop(h, (d, b, i) => {
      seen.push(d);
      if (d.kind !== 'event') return;
      const o = emptyOutcome(0);
      if (d.ev.op === 'map-single') {
        o.result = (1n << 64n) - 1n;
        o.error = true;
      }
      if (d.ev.op === 'mapping-error') o.result = -12n;
      if (d.bind !== 0xffffffff) h.bind(d.bind, d.ev, o, d.checked);
      else if (d.ev.op === 'mapping-error') h.markChecked(d.ev, o, refHandle(b, i));
    });
    void drv.issue({ op: 'map-single', cpu: 0, phys: 0x1000n, size: 64, dir: 1, attrs: 0 }, { bind: 0 });
    void drv.issue({ op: 'dev-read', cpu: 0, addr: dma(0), size: 64 });
    void drv.issue({ op: 'mapping-error', cpu: 0, addr: dma(0) });
    void drv.issue({ op: 'dev-read', cpu: 0, addr: dma(0), size: 64 });
    void drv.issue({ op: 'unmap-single', cpu: 0, addr: dma(0), size: 64, dir: 1, attrs: 0 });
    void drv.flush();
    expect(seen.map((d) => d.kind)).toEqual(['event', 'event', 'event', 'skip', 'skip']);
    expect(seen[1]).toMatchObject({ ev: { addr: (1n << 64n) - 1n } });
  });

  it('refuses records that name unbound handles or unknown opcodes, and batches that are not batches', () => {
    const h = new DeviceHandles('dev0');
    const b = Batch.alloc();
    b.u8[16] = 5; // unmap-single
    b.u8[17] = 1; // REF_DMA
    b.u32[(16 + 4) >>> 2] = 9;
    b.u32[1] = 1;
    expect(() => h.decode(b, 0)).toThrow(new MalformedRecord('unmap-single refers to buffer handle 9, which no earlier call bound'));
    b.u8[16] = 77;
    expect(() => h.decode(b, 0)).toThrow(/unknown opcode 77/);
    expect(checkBatch('hello')).toMatch(/expected a batch ArrayBuffer, got string/);
    expect(checkBatch(new ArrayBuffer(24))).toMatch(/too short/);
    const bad = Batch.alloc();
    bad.u32[1] = RECORDS_PER_BATCH + 1;
    expect(checkBatch(bad.ab)).toMatch(/claims 257 records/);
  });
});
