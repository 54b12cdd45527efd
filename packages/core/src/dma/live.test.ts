// LiveMappings' span index is a speed structure only: every query must return exactly what a walk
// over every live mapping returns (same mappings, ordered by id). Checked under seeded random
// adds and removes of single, coherent and sg mappings, narrow, page-crossing, zero-length and
// wide (BAR-sized, past the index's granule limit) spans, shared handles and overlaps.

import { describe, expect, it } from 'vitest';
import type { SgList } from '../events.ts';
import { Hasher } from '../util/hash.ts';
import { Prng } from '../util/prng.ts';
import { LiveMappings, type LiveMapping, type Span } from './live.ts';

function overlapsAny(spans: readonly Span[], start: bigint, size: number): boolean {
  const end = start + BigInt(Math.max(size, 1));
  return spans.some((s) => s.start < end && s.start + BigInt(s.len) > start);
}

const ids = (ms: LiveMapping[]): number[] => ms.map((m) => m.id);

/**
 * LiveMappings.hashInto's definition written out on the mappings' bigint fields: the next id, the
 * count, then each mapping by id — its fields, then its bus and its CPU spans (count, then start
 * and length of each).
 */
function refHash(ms: LiveMapping[], nextId: number): string {
  const h = new Hasher(true);
  h.u32(nextId).u32(ms.length);
  for (const m of [...ms].sort((a, b) => a.id - b.id)) {
    h.u32(m.id).u32(m.dev).str(m.kind).big(m.addr).num(m.size).big(m.phys).u32(m.dir).str(m.path).bool(m.mmio).str(m.owner).u32(m.nents);
    for (const spans of [m.bus, m.cpu]) {
      h.u32(spans.length);
      for (const x of spans) h.big(x.start).num(x.len);
    }
  }
  return h.digest();
}

function hashOf(live: LiveMappings): string {
  const h = new Hasher(true);
  live.hashInto(h);
  return h.digest();
}

describe('LiveMappings (dmasim bookkeeping, not a kernel structure)', () => {
  // Spans and queries are compared on numbers while they are exact (below 2^53) and on bigints
  // beyond: a window across 2^53 mixes both kinds of mapping in one query.
  it.each([
    ['above 4 GiB', 0x1_0000_0000n],
    ['across 2^53', 2n ** 53n - 0x8000n],
    ['near the top of the 64-bit space', 0xffff_ffff_f000_0000n],
  ])('overlappingBus / overlappingCpu equal a full walk, in id order, under random adds and removes (%s)', (_where, base) => {
    const rng = new Prng(0x5eedn);
    const live = new LiveMappings();
    // A small address window, so mappings overlap and share granules and handles.
    const addr = (): bigint => base + BigInt(rng.int(64) * 512 + rng.int(2) * 7);
    const size = (): number => [0, 1, 64, 1500, 4096, 9000, 70 * 4096, 300 * 4096][rng.int(8)]!;
    const held: { dev: number; kind: 'single' | 'coherent' | 'sg'; addr: bigint; size: number; sg?: SgList; m: LiveMapping }[] = [];
    let checks = 0;
    let covered = 0;
    let added = 0;
    for (let step = 0; step < 3000; step++) {
      const r = rng.int(10);
      if (r < 4 || held.length === 0) {
        const dev = rng.int(3);
        if (rng.int(4) === 0) {
          const n = 1 + rng.int(4);
          const sg: SgList = { segments: [], dma: [] };
          for (let i = 0; i < n; i++) {
            const len = size();
            sg.segments.push({ phys: addr(), size: len });
            sg.dma.push({ addr: addr(), len });
          }
          const m = live.addSg(dev, `d${dev}`, sg, 2, 'direct')!;
          held.push({ dev, kind: 'sg', addr: m.addr, size: m.size, sg, m });
        } else {
          const kind = rng.int(5) === 0 ? ('coherent' as const) : ('single' as const);
          const a = addr();
          const s = size();
          const m = live.addSingle(dev, `d${dev}`, kind, a, s, addr(), rng.int(3), 'direct', false);
          if (rng.int(3) === 0) m.owner = 'cpu';
          held.push({ dev, kind, addr: a, size: s, m });
        }
        added++;
      } else if (r < 7) {
        const i = rng.int(held.length);
        const h = held[i]!;
        const gone = live.remove(h.dev, h.kind, h.addr, h.size);
        expect(gone).not.toBeNull();
        // The one removed may be another mapping of the same handle, kind and size.
        held.splice(held.findIndex((x) => x.m === gone), 1);
      } else {
        const all = live.all();
        for (let q = 0; q < 4; q++) {
          const dev = rng.int(3);
          const a = addr();
          const s = size();
          const bus = all.filter((m) => m.dev === dev && overlapsAny(m.bus, a, s));
          const cpu = all.filter((m) => overlapsAny(m.cpu, a, s));
          expect(ids(live.overlappingBus(dev, a, s))).toEqual(ids(bus));
          expect(ids(live.overlappingCpu(a, s))).toEqual(ids(cpu));
          // coveringBus (the device-access shortcut) only ever names a live mapping of the device
          // with one bus span holding the whole range; noteBus may remember any of them.
          if (a + BigInt(s) < 2n ** 53n && s > 0) {
            const c = live.coveringBus(dev, Number(a), Number(a) + s);
            if (c !== null) {
              expect(ids(bus)).toContain(c.id);
              expect(c.bus.some((x) => x.start <= a && a + BigInt(s) <= x.start + BigInt(x.len))).toBe(true);
              covered++;
            }
            if (bus.length > 0) live.noteBus(dev, bus[rng.int(bus.length)]!);
          }
          checks++;
        }
        // The state hash folds the mappings as their bigint fields define it (LiveMappings.hashInto
        // walks its id-ordered list and folds exact addresses as numbers).
        expect(hashOf(live)).toBe(refHash(held.map((x) => x.m), added + 1));
      }
      expect(live.count).toBe(held.length);
    }
    expect(checks).toBeGreaterThan(1000);
    if (base < 2n ** 53n - 0x8000n) expect(covered).toBeGreaterThan(50);
  });

  it('a removed single mapping\'s record is refilled by the next one: fields, indexes and hash are the new mapping\'s', () => {
    const fields = (m: LiveMapping) => ({ ...m, id: 0, seen: 0, busNode: 0, cpuNode: 0, bus: m.bus, cpu: m.cpu, older: null, newer: null });
    const live = new LiveMappings();
    const old = live.addSingle(1, 'd1', 'single', 0x5000n, 300, 0x9000n, 2, 'direct', false);
    old.owner = 'cpu';
    const keep = live.addSingle(1, 'd1', 'single', 0x20000n, 64, 0x30000n, 1, 'direct', false);
    expect(live.remove(1, 'single', 0x5000n, 300)).toBe(old);
    const m = live.addSingle(0, 'd0', 'coherent', 0x7_0000n, 4096, 0x8_0000n, 0, 'swiotlb', true);
    expect(m).toBe(old); // the same object, refilled
    const fresh = new LiveMappings();
    fresh.addSingle(1, 'd1', 'single', 0x20000n, 64, 0x30000n, 1, 'direct', false);
    const want = fresh.addSingle(0, 'd0', 'coherent', 0x7_0000n, 4096, 0x8_0000n, 0, 'swiotlb', true);
    expect(fields(m)).toEqual(fields(want));
    expect(m.id).toBe(3);
    expect(ids(live.overlappingBus(0, 0x7_0800n, 8))).toEqual([3]);
    expect(ids(live.overlappingBus(1, 0x5000n, 8))).toEqual([]); // the old span is gone from the index
    expect(ids(live.overlappingCpu(0x8_0fffn, 1))).toEqual([3]);
    expect(ids(live.overlappingCpu(0x9000n, 300))).toEqual([]);
    expect(live.all()).toEqual([keep, m]);
    // A bigint-only mapping (not exact) does not take the record: it is made as before.
    live.remove(0, 'coherent', 0x7_0000n, 4096);
    const big = live.addSingle(0, 'd0', 'single', 1n << 60n, 16, 0x1000n, 1, 'direct', false);
    expect(big).not.toBe(old);
    expect(big.busR).toBeNull();
  });

  it('remove prefers the mapping of that kind with the same size, else the first of the kind', () => {
    const live = new LiveMappings();
    const a = live.addSingle(0, 'd0', 'single', 0x1000n, 64, 0x9000n, 1, 'direct', false);
    const b = live.addSingle(0, 'd0', 'single', 0x1000n, 128, 0xa000n, 1, 'direct', false);
    const c = live.addSingle(0, 'd0', 'coherent', 0x1000n, 64, 0xb000n, 0, 'direct', false);
    expect(live.remove(0, 'single', 0x1000n, 128)?.id).toBe(b.id);
    expect(live.remove(0, 'single', 0x1000n, 4096)?.id).toBe(a.id);
    expect(live.remove(0, 'single', 0x1000n, 64)).toBeNull();
    expect(live.remove(0, 'coherent', 0x1000n, 64)?.id).toBe(c.id);
    expect(live.count).toBe(0);
  });

  it('the span indexes reuse the nodes of removed mappings: the pool stops growing under map/unmap churn', () => {
    const live = new LiveMappings();
    const round = (): void => {
      const held: LiveMapping[] = [];
      for (let i = 0; i < 100; i++) {
        const sg: SgList = { segments: [], dma: [] };
        for (let j = 0; j < 4; j++) {
          sg.segments.push({ phys: 0x1_0000_0000n + BigInt(i * 0x10000 + j * 0x5000), size: 0x3000 });
          sg.dma.push({ addr: 0x2_0000_0000n + BigInt(i * 0x10000 + j * 0x5000), len: 0x3000 });
        }
        held.push(i % 2 ? live.addSg(i % 3, 'd', sg, 2, 'direct')! : live.addSingle(i % 3, 'd', 'single', 0x3_0000_0000n + BigInt(i * 0x8000), 0x6000, 0x4_0000_0000n + BigInt(i * 0x8000), 1, 'direct', false));
      }
      for (const m of held) expect(live.remove(m.dev, m.kind, m.addr, m.size)).toBe(m);
    };
    round();
    const pool = live.indexPoolSize();
    expect(pool).toBeGreaterThan(0);
    for (let r = 0; r < 10; r++) round();
    expect(live.indexPoolSize()).toBe(pool);
    expect(live.count).toBe(0);
  });
});
