import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Event } from '../events.ts';
import { BatchEncoder, decodeBatch } from './codec.ts';
import type { OutcomeDigest } from './digest.ts';
import { arbRecord, syntheticMapUnmap } from './test-helpers.ts';

function roundTrip(recs: { event: Event; digest: OutcomeDigest }[], firstSeq = 1) {
  const enc = new BatchEncoder();
  for (const r of recs) enc.add(r.event, r.digest);
  const payload = enc.finish();
  return { payload, batch: decodeBatch(payload, firstSeq, recs.length) };
}

function expectSame(recs: { event: Event; digest: OutcomeDigest }[], firstSeq = 1): number {
  const { payload, batch } = roundTrip(recs, firstSeq);
  expect(batch.records).toHaveLength(recs.length);
  recs.forEach((r, i) => {
    const got = batch.records[i]!;
    expect(got.seq).toBe(firstSeq + i);
    expect(got.event).toStrictEqual(r.event);
    expect(got.result).toBe(r.digest.result);
    expect(got.error).toBe(r.digest.error);
    expect(got.path).toBe(r.digest.path);
    expect(got.thrown).toBe(r.digest.thrown);
    expect(got.tag).toBe(r.digest.hi);
  });
  return payload.length;
}

describe('batch codec', () => {
  it('round-trips every event variant exactly (bigints, Uint8Array, optional fields)', () => {
    fc.assert(
      fc.property(fc.array(arbRecord, { maxLength: 40 }), fc.nat(1 << 30), (recs, s) => {
        expectSame(recs, s + 1);
      }),
      { seed: 42, numRuns: 400 },
    );
  });

  it('round-trips map/unmap workloads on every path, with unmaps referring back to their map', () => {
    for (const path of ['direct', 'swiotlb', 'iommu'] as const) {
      expectSame(syntheticMapUnmap(3, 3000, { path, devices: 16 }));
    }
  });

  it('keeps exotic values exact by storing the whole event in msgpack', () => {
    const weird = [
      { op: 'map-page', dev: 'd', cpu: 0, phys: 5, size: 4096, dir: 0, attrs: 0 }, // phys as a number
      { op: 'map-page', dev: 'd', cpu: 0, phys: 1n, size: 1.5, dir: 0, attrs: 0 }, // fractional size
      { op: 'cpu-write', cpu: 1, phys: 0n, size: 2, data: new Uint8Array([1, 2]) },
      { op: 'future-op', cpu: 0, x: [1n, 'y'] },
    ] as unknown as Event[];
    expectSame(weird.map((event) => ({ event, digest: { result: (1n << 64n) - 1n, error: true, path: 'none', hi: 0x01234567, lo: 0x89abcdef } })));
  });

  it('records state hashes and the outcome chain', () => {
    const enc = new BatchEncoder();
    const recs = syntheticMapUnmap(1, 10);
    recs.forEach((r, i) => {
      enc.add(r.event, r.digest);
      if (i === 4 || i === 9) enc.addState(`state${i}`);
    });
    const b = decodeBatch(enc.finish(), 100, 10);
    expect(b.states).toEqual([{ seq: 104, hash: 'state4' }, { seq: 109, hash: 'state9' }]);
    expect(b.chain).toMatch(/^[0-9a-f]{16}$/);
  });

  it('packs a direct map/unmap mix in well under 16 bytes per event', () => {
    const n = 4096;
    for (const path of ['direct', 'swiotlb', 'iommu'] as const) {
      const bytes = expectSame(syntheticMapUnmap(9, n, { path, devices: 8 }));
      expect(bytes / n).toBeLessThan(path === 'direct' ? 12 : 14);
    }
  });
});
