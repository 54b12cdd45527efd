// Seeded property test: random map/unmap sequences on a direct device with a small swiotlb keep the
// pool's invariants after every step and leave it fully free once everything is unmapped.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { testMachine } from '../testing.ts';
import type { Machine } from '../machine.ts';
import { DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE } from './defs.ts';
import { INVALID_PHYS_ADDR, IO_TLB_SEGSIZE, nr_slots, swiotlb_align_offset } from './swiotlb.ts';

const DEVS = ['0000:01:00.0', '0000:02:00.0'];

type Op = { kind: 'map'; dev: number; cpu: number; page: number; off: number; size: number; dir: number } | { kind: 'unmap'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('map' as const),
      dev: fc.integer({ min: 0, max: 1 }),
      cpu: fc.integer({ min: 0, max: 1 }),
      page: fc.integer({ min: 0, max: 4095 }),
      off: fc.integer({ min: 0, max: 4095 }),
      size: fc.oneof(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 70000 })),
      dir: fc.constantFrom(DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unmap' as const), pick: fc.nat() }) },
);

interface Live { dev: number; addr: bigint; size: number; dir: number }

/** The slot range a live bounce mapping occupies, read back from the slot metadata. */
function slotsOf(m: Machine, l: Live): { first: number; n: number } {
  const s = m.k.swiotlb;
  const dev = m.k.deviceList[l.dev]!;
  const offset = swiotlb_align_offset(dev, 0, l.addr);
  let first = s.slotOf(l.addr - BigInt(offset));
  first -= s.slotPad(first);
  return { first, n: nr_slots(s.slotAllocSize(first) + offset) };
}

function fail(msg: string): never {
  throw new Error(msg);
}

/** Plain checks (no expect per slot): this runs after every step of every generated sequence. */
function checkInvariants(m: Machine, live: Live[]): void {
  const s = m.k.swiotlb;
  const owner = new Int32Array(s.totalSlots).fill(-1);
  let total = 0;
  live.forEach((l, i) => {
    const { first, n } = slotsOf(m, l);
    total += n;
    if (Math.floor(first / IO_TLB_SEGSIZE) !== Math.floor((first + n - 1) / IO_TLB_SEGSIZE)) fail(`mapping ${i} crosses a segment [slots ${first}+${n}]`);
    for (let j = first; j < first + n; j++) {
      if (owner[j] !== -1) fail(`slot ${j} is in live mappings ${owner[j]} and ${i}`);
      owner[j] = i;
      if (s.slotList(j) !== 0) fail(`used slot ${j} has list ${s.slotList(j)}`);
    }
  });
  if (s.usedSlots !== total) fail(`used ${s.usedSlots} != live total ${total}`);
  // Every free slot's list is the length of its free run up to the next used slot or segment end.
  for (let j = s.totalSlots - 1; j >= 0; j--) {
    if (owner[j]! >= 0) continue;
    const segEnd = (Math.floor(j / IO_TLB_SEGSIZE) + 1) * IO_TLB_SEGSIZE;
    const expected = j + 1 < segEnd && owner[j + 1]! < 0 ? s.slotList(j + 1) + 1 : 1;
    if (s.slotList(j) !== expected) fail(`free slot ${j} has list ${s.slotList(j)}, expected ${expected}`);
    if (s.slotOrig(j) !== INVALID_PHYS_ADDR) fail(`free slot ${j} still has an orig_addr`);
  }
}

test('random map/unmap on a small swiotlb keeps no-overlap, used == live, list runs; ends fully free (seeded)', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
      const m = testMachine({
        platform: { cpus: 2, swiotlb: { slots: 256, force: false } },
        devices: [{ mask: 32 }, { mask: 32, minAlignMask: 4095 }],
      });
      const live: Live[] = [];
      for (const op of ops) {
        if (op.kind === 'map') {
          const phys = 0x100000000n + BigInt(op.page) * 4096n + BigInt(op.off);
          const o = m.apply({ op: 'map-single', dev: DEVS[op.dev]!, cpu: op.cpu, phys, size: op.size, dir: op.dir, attrs: 0 });
          if (o.result !== DMA_MAPPING_ERROR) {
            expect(o.path).toBe('swiotlb');
            // min_align_mask 4095 keeps the low 12 bits of the original address
            if (op.dev === 1) expect(o.result & 0xfffn).toBe(phys & 0xfffn);
            live.push({ dev: op.dev, addr: o.result, size: op.size, dir: op.dir });
          } else {
            // A failed map reserves nothing and still reports the error address in its trace.
            expect(o.trace.at(-1)?.text).toContain('dma_addr=ffffffffffffffff');
          }
        } else if (live.length) {
          const [l] = live.splice(op.pick % live.length, 1);
          m.apply({ op: 'unmap-single', dev: DEVS[l!.dev]!, cpu: 0, addr: l!.addr, size: l!.size, dir: l!.dir, attrs: 0 });
        }
        checkInvariants(m, live);
      }
      for (const l of live.splice(0)) m.apply({ op: 'unmap-single', dev: DEVS[l.dev]!, cpu: 0, addr: l.addr, size: l.size, dir: l.dir, attrs: 0 });
      checkInvariants(m, []);
      const s = m.k.swiotlb;
      expect(s.usedSlots).toBe(0);
      for (let j = 0; j < s.totalSlots; j++) if (s.slotList(j) !== IO_TLB_SEGSIZE - (j % IO_TLB_SEGSIZE)) fail(`slot ${j} not back to its initial list value`);
      expect(m.leaks()).toBe(0);
    }),
    { seed: 0x5eed, numRuns: 150 },
  );
});
