// iommu_dma_map_sg runs on numbers when a scatterlist's addresses are exact (dma-iommu-sg.ts,
// BENCHMARKS.md eleventh round); the bigint steps are the reference it must equal. Random
// scatterlists go through both, on two machines alike, and everything they leave behind is
// compared: return values, sg.dma, trace and dmesg lines, findings, and the state hash (page
// tables, IOVA trees, live ranges).
import { describe, expect, it } from 'vitest';
import type { DomainConfig } from '../config.ts';
import { DMA_TO_DEVICE } from '../dma/defs.ts';
import { emptyOutcome, traceLine, type SgList } from '../events.ts';
import type { Machine } from '../machine.ts';
import { testMachine } from '../testing.ts';
import { Prng } from '../util/prng.ts';
import { iommu_dma_map_sg, iommu_dma_unmap_sg } from './dma-iommu.ts';
import { sgOnNumbers } from './dma-iommu-sg.ts';

interface Case { domain: Partial<DomainConfig> & { name: string }; pci: boolean; forcedac: boolean; lists: SgList[] }

const GiB = 2 ** 30;

function randomCase(rng: Prng): Case {
  const granule = [4096, 16384, 65536][rng.int(3)]!;
  const lists: SgList[] = [];
  for (let l = 0; l < 6; l++) {
    const segments: SgList['segments'] = [];
    const n = 1 + rng.int(6);
    let phys = 0x1_0000_0000 + rng.int(1 << 20) * 4096;
    for (let i = 0; i < n; i++) {
      // Mostly driver-shaped (page runs, sub-page buffers); sometimes an empty one, or one of
      // several GiB, so that a PCI device's 4 GiB segment boundary pads the list.
      const pick = rng.int(10);
      // (Multi-GiB ones only at a 64 KiB granule: at 4 KiB each would be a million page-table entries.)
      const size = pick === 0 ? 0 : pick === 1 && granule === 65536 ? 3 * GiB + rng.int(GiB) : pick < 5 ? (1 + rng.int(4)) * 4096 : 1 + rng.int(20000);
      if (rng.int(3) === 0) phys += rng.int(1 << 16) * 64 + 4096; // not contiguous with the previous one
      segments.push({ phys: BigInt(phys), size });
      phys += size;
    }
    lists.push({ segments, dma: [] });
  }
  return {
    domain: { name: 'D0', granule, apertureBits: rng.int(2) === 0 ? 48 : 64, mode: rng.int(2) === 0 ? 'strict' : 'lazy' },
    pci: rng.int(4) !== 0,
    forcedac: rng.int(2) === 0,
    lists,
  };
}

function machine(c: Case): Machine {
  return testMachine({
    domains: [c.domain],
    devices: [{ dma: 'iommu', domain: 'D0', pci: c.pci, mask: 64, coherent: true }],
    platform: { iommu: { forcedac: c.forcedac } },
  });
}

/** Maps every list, unmaps every other one, maps them again: what each call returned and printed, and the final state. */
function run(c: Case, onNumbers: boolean): unknown[] {
  const m = machine(c);
  const k = m.k;
  const dev = k.deviceList[0]!;
  const seen: unknown[] = [];
  const lists = c.lists.map((l) => ({ segments: l.segments, dma: [] as SgList['dma'] }));
  const call = (fn: () => number | void): void => {
    k.out = emptyOutcome(k.clock.nowNs);
    sgOnNumbers.enabled = onNumbers;
    try {
      seen.push(fn() ?? null);
    } catch (e) {
      seen.push({ thrown: (e as Error).message }); // a model limit (ModelInputError), the same on both paths
    } finally {
      sgOnNumbers.enabled = true;
    }
    seen.push(k.out.trace.map(traceLine), k.out.dmesg, k.out.findings.map((f) => f.message));
  };
  for (const l of lists) call(() => iommu_dma_map_sg(k, dev, l, DMA_TO_DEVICE, 0));
  seen.push(lists.map((l) => l.dma));
  for (let i = 0; i < lists.length; i += 2) if (lists[i]!.dma.length > 0) call(() => iommu_dma_unmap_sg(k, dev, lists[i]!, DMA_TO_DEVICE, 0));
  for (let i = 0; i < lists.length; i += 2) call(() => iommu_dma_map_sg(k, dev, lists[i]!, DMA_TO_DEVICE, 0));
  seen.push(lists.map((l) => l.dma), m.stateHash());
  return seen;
}

describe('iommu_dma_map_sg on numbers equals it on bigints', () => {
  it('on 150 random scatterlist cases (granules, 48- and 64-bit apertures, PCI boundaries, empty and multi-GiB segments)', () => {
    const rng = new Prng(0x5eed5);
    let high = 0;
    let padded = 0;
    for (let i = 0; i < 150; i++) {
      const c = randomCase(rng);
      const a = run(c, true);
      expect(a, `case ${i}`).toEqual(run(c, false));
      // What the cases reached: IOVAs above 2^53 (the number path hands over to bigints) and lists padded at a 4 GiB boundary.
      const dma = a[c.lists.length * 4] as SgList['dma'][];
      if (dma.some((d) => d.some((x) => x.addr >= 1n << 53n))) high++;
      if (dma.some((d) => d.length > 1 && d.some((x, j) => j > 0 && x.addr % (4n * BigInt(GiB)) === 0n))) padded++;
    }
    expect(high).toBeGreaterThan(10);
    expect(padded).toBeGreaterThan(0); // and the crafted cases below

  }, 60_000);

  it('crafted lists (4 GiB segment boundary of a PCI device, short segments): the same on both paths', () => {
    const seg = (phys: number, size: number) => ({ phys: BigInt(phys), size });
    const lists: SgList[] = [
      { segments: [seg(0x1_0000_0000, 3.5 * GiB), seg(0x3_0000_0000, GiB)], dma: [] },
      { segments: [seg(0x1_0000_0123, Math.floor(3.9 * GiB)), seg(0x3_0000_0040, 0x30000), seg(0x3_0003_0040, 0x1000)], dma: [] },
      // The segment after the 4 GiB boundary starts a new DMA segment although it could merge.
      // (the first three fill exactly 4 GiB of IOVA, and the allocation is aligned to 8 GiB).
      { segments: [seg(0x1_0000_0000, 4 * GiB - 0x8000), seg(0x3_0000_0000, 0x4000), seg(0x3_0001_0000, 0x4000), seg(0x3_0002_0000, 0x1000)], dma: [] },
      // A segment shorter than its granule-aligned slot ends its DMA segment: the next one does not merge.
      { segments: [seg(0x6_0000_0000, 0x800), seg(0x6_0001_0000, 0x1000), seg(0x6_0002_0000, 0x1000)], dma: [] },
      // Not a whole number of bytes: BigInt() throws on the bigint path, and the number path hands it there.
      { segments: [seg(0x5_0000_0000, 3.9 * GiB)], dma: [] },
      { segments: [seg(0x1_0000_0000, 0x10000), seg(0x2_0000_0000, 4 * GiB - 0x10000), seg(0x4_0000_0000, 0x20000)], dma: [] },
    ];
    for (const granule of [4096, 65536]) {
      const c: Case = { domain: { name: 'D0', granule }, pci: true, forcedac: false, lists };
      expect(run(c, true)).toEqual(run(c, false));
    }
    const c: Case = { domain: { name: 'D0', granule: 4096 }, pci: true, forcedac: false, lists: [lists[0]!] };
    const m = machine(c);
    const sg = { segments: lists[0]!.segments, dma: [] as SgList['dma'] };
    m.k.out = emptyOutcome(0);
    expect(iommu_dma_map_sg(m.k, m.k.deviceList[0]!, sg, DMA_TO_DEVICE, 0)).toBe(2);
    expect(sg.dma[1]!.addr - sg.dma[0]!.addr).toBe(4n * BigInt(GiB)); // 0.5 GiB of padding after the first segment
  }, 60_000);
});
