import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Event } from '../events.ts';
import { BatchEncoder, decodeBatch } from './codec.ts';
import type { OutcomeDigest } from './digest.ts';
import { schemaOf } from './schema.ts';
import { arbRecord, syntheticMapUnmap } from './test-helpers.ts';

function roundTrip(recs: { event: Event; digest: OutcomeDigest }[], firstSeq = 1) {
  const enc = new BatchEncoder();
  for (const r of recs) enc.add(r.event, r.digest);
  const payload = enc.finish();
  return { payload, batch: decodeBatch(payload, firstSeq, recs.length) };
}

/**
 * The order in which a decoded event of a known op has its keys: the schema's (log/schema.ts),
 * whatever order the written event had them in. decode.ts builds the hot ops as object literals
 * and the others field by field, and both must give this order.
 */
function schemaKeys(ev: Event): string[] {
  const sc = schemaOf(ev.op);
  if (!sc) return Object.keys(ev);
  const order = ['op', 'dev', 'cpu', ...sc.big, ...sc.num, 'fill', 'dir', 'attrs', 'bits', 'domain', ...sc.complex];
  return order.filter((k) => k in ev);
}

function expectSame(recs: { event: Event; digest: OutcomeDigest }[], firstSeq = 1): number {
  const { payload, batch } = roundTrip(recs, firstSeq);
  expect(batch.records).toHaveLength(recs.length);
  recs.forEach((r, i) => {
    const got = batch.records[i]!;
    expect(got.seq).toBe(firstSeq + i);
    expect(got.event).toStrictEqual(r.event);
    // Keys in the schema's order, or for an event logged whole (msgpack: exotic values) in its own.
    expect([schemaKeys(got.event).join(), Object.keys(r.event).join()]).toContain(Object.keys(got.event).join());
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

  it('keeps addresses, results and scatterlists exact on both sides of where the encoder leaves doubles for bigints (2^50, 2^52, 2^53, 2^63, 2^64)', () => {
    // The encoder computes predictor differences in doubles while values are below 2^52 and in
    // bigints beyond (codec.ts deltaN, sglist.ts deltaFromEnd): every crossing must decode exactly.
    const edges = [0n, 4096n, 1n << 32n, (1n << 50n) - 1n, 1n << 50n, (1n << 52n) - 4096n, (1n << 52n) - 1n, 1n << 52n, (1n << 52n) + 1n,
      (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 4096n, (1n << 64n) - 1n, -1n, -(1n << 52n), -(1n << 63n)];
    const sizes = [0, 1, 4096, 2 ** 51 - 1, -(2 ** 51) + 1];
    const recs: { event: Event; digest: OutcomeDigest }[] = [];
    const paths = ['direct', 'iommu', 'swiotlb'] as const;
    let k = 0;
    for (const a of edges) {
      for (const b of edges) {
        const size = sizes[k % sizes.length]!;
        const path = paths[k % paths.length]!;
        const dev = `d${k % 3}`;
        const digest = (result: bigint, error = false): OutcomeDigest => ({ result, error, path, hi: k++ >>> 0, lo: 0 });
        recs.push({ event: { op: 'map-single', dev, cpu: 0, phys: a, size, dir: 1, attrs: 0 }, digest: digest(b) });
        recs.push({ event: { op: 'unmap-single', dev, cpu: 1, addr: b, size, dir: 1, attrs: 0 }, digest: digest(0n) });
        recs.push({ event: { op: 'sync-for-cpu', dev, cpu: 0, addr: a, size: 64, dir: 2 }, digest: digest(a - b) });
        recs.push({ event: { op: 'free-coherent', dev, cpu: 0, addr: b, cpuAddr: a, size, attrs: 0 }, digest: digest(b ^ a, true) });
        recs.push({ event: { op: 'cpu-read', cpu: 0, phys: b, size: 8 }, digest: digest(b + 1n) });
        const segments = [{ phys: a, size: 4096 }, { phys: b, size: size < 0 ? 1 : size }, { phys: a + 4096n, size: 512 }];
        const dma = [{ addr: b, len: 4096 }, { addr: a, len: 4608 }];
        recs.push({ event: { op: 'map-sg', dev, cpu: 0, segments, dir: 1, attrs: 0 }, digest: digest(2n) });
        recs.push({ event: { op: 'unmap-sg', dev, cpu: 0, sg: { segments: segments.map((x) => ({ ...x })), dma }, dir: 1, attrs: 0 }, digest: digest(0n) });
        recs.push({ event: { op: 'sync-sg-for-device', dev, cpu: 1, sg: { segments: [{ phys: b, size: 1 }], dma: [{ addr: a, len: 1 }] }, dir: 1 }, digest: digest(0n) });
      }
    }
    // Out-of-range values never reach the encoder as results: every in-range one does, in one batch and in small ones.
    const inRange = recs.filter((r) => r.digest.result >= -(1n << 63n) && r.digest.result < 1n << 64n);
    expectSame(inRange);
    for (let i = 0; i < inRange.length; i += 37) expectSame(inRange.slice(i, i + 37));
  });
});

describe('the encoder\'s shape lookup (by hash, checked word by word)', () => {
  const digest = (result: bigint): OutcomeDigest => ({ result, error: false, path: 'direct', hi: 7, lo: 0, thrown: undefined });
  const map = (attrs: number, cpu: number, phys: bigint): Event => ({ op: 'map-single', dev: 'nic0', cpu, phys, size: 1500, dir: 1, attrs });
  /** Every shape hashes alike: each hit must be checked, and a mismatch found by the scan. */
  class Colliding extends BatchEncoder {
    protected override hashShape(): number {
      return 5;
    }
  }
  const recs: { event: Event; digest: OutcomeDigest }[] = [];
  for (let round = 0; round < 3; round++) {
    for (let attrs = 0; attrs < 60; attrs++) recs.push({ event: map(attrs, attrs % 4, 0x10_0000n + BigInt(attrs) * 4096n), digest: digest(0x10_0000n + BigInt(attrs) * 4096n) });
  }
  for (const attrs of [3, 9, 3, 3, 9, 9, 3]) recs.push({ event: map(attrs, 0, 0x2000n), digest: digest(0x2000n) });

  it('a scope with far more shapes than the old 24-shape scan, each used again, round-trips', () => {
    expectSame(recs);
  });

  it('shapes that share a hash stay apart, and the batch is the same bytes as with distinct hashes', () => {
    const plain = new BatchEncoder();
    const colliding = new Colliding();
    for (const r of recs) {
      plain.add(r.event, r.digest);
      colliding.add(r.event, r.digest);
    }
    const bytes = colliding.finish();
    expect(Buffer.from(bytes).equals(Buffer.from(plain.finish()))).toBe(true);
    const batch = decodeBatch(bytes, 1, recs.length);
    expect(batch.records.map((r) => r.event)).toStrictEqual(recs.map((r) => r.event));
  });
});
