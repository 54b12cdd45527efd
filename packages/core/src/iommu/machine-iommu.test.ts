// dma-iommu through Machine.apply: the order of iommu:* and dma:* trace events (kernel/dma/mapping.c
// calls the backend first, so iommu:map precedes dma_map_phys; unmap_sg traces before the backend),
// the lazy flush window on the virtual clock, and shared domains end to end.
import { describe, expect, it } from 'vitest';
import { DMA_FROM_DEVICE, DMA_TO_DEVICE } from '../dma/defs.ts';
import { traceLine, type Event, type Outcome } from '../events.ts';
import type { Profile } from '../config.ts';
import { testMachine } from '../testing.ts';

const D1 = '0000:01:00.0';
const D2 = '0000:02:00.0';
const BAR = 0x3f00000000n;

function machine(profile: Profile = '6.18', mode: 'strict' | 'lazy' = 'strict') {
  const m = testMachine({
    profile,
    domains: [{ name: 'D0', mode }],
    devices: [
      { dma: 'iommu', domain: 'D0', driver: 'mlx5_core' },
      { dma: 'iommu', domain: 'D0', driver: 'nvme' },
    ],
    platform: { mmio: [{ name: 'gpu0-bar1', base: BAR, size: 256n << 20n }] },
  });
  const apply = (ev: Event): Outcome & { lines: string[] } => {
    const o = m.apply(ev);
    return { ...o, lines: o.trace.map(traceLine) };
  };
  return { m, apply };
}

describe('trace order relative to dma:* events', () => {
  it('6.18: iommu:map inside the backend, then dma_map_phys; unmap: iommu:unmap then dma_unmap_phys', () => {
    const { apply } = machine('6.18');
    const map = apply({ op: 'map-single', dev: D1, cpu: 0, phys: 0x12345678n, size: 100, dir: DMA_TO_DEVICE, attrs: 0 });
    expect(map.result).toBe(0xfffff678n);
    expect(map.path).toBe('iommu');
    expect(map.lines).toEqual([
      'map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000012345000 size=4096',
      'dma_map_phys: 0000:01:00.0 dir=TO_DEVICE dma_addr=fffff678 size=100 phys_addr=12345678 attrs=',
    ]);
    apply({ op: 'mapping-error', dev: D1, cpu: 0, addr: map.result });
    const unmap = apply({ op: 'unmap-single', dev: D1, cpu: 0, addr: map.result, size: 100, dir: DMA_TO_DEVICE, attrs: 0 });
    expect(unmap.lines).toEqual([
      'unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096',
      'dma_unmap_phys: 0000:01:00.0 dir=TO_DEVICE dma_addr=fffff678 size=100 attrs=',
    ]);
  });

  it('6.17: dma_map_page / dma_map_resource events after the iommu ones; 6.18 map-resource is map_phys with MMIO', () => {
    const old = machine('6.17');
    expect(old.apply({ op: 'map-page', dev: D1, cpu: 0, phys: 0x20000000n, size: 4096, dir: DMA_TO_DEVICE, attrs: 0 }).trace.map((t) => `${t.system}:${t.name}`)).toEqual(['iommu:map', 'dma:dma_map_page']);
    expect(old.apply({ op: 'map-resource', dev: D1, cpu: 0, phys: BAR, size: 4096, dir: DMA_FROM_DEVICE, attrs: 0 }).trace.map((t) => `${t.system}:${t.name}`)).toEqual(['iommu:map', 'dma:dma_map_resource']);
    const cur = machine('6.18');
    const r = cur.apply({ op: 'map-resource', dev: D1, cpu: 0, phys: BAR, size: 4096, dir: DMA_FROM_DEVICE, attrs: 0 });
    expect(r.lines[0]).toBe('map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000003f00000000 size=4096');
    expect(r.lines[1]).toMatch(/^dma_map_phys: .* attrs=MMIO$/);
    expect(cur.m.k.iommu.domain('D0').pgtable.lookup(0xfffff)!.prot & 0x10).toBe(0x10);
  });

  it('unmap-sg: dma_unmap_sg is traced before the backend unmaps', () => {
    const { apply } = machine();
    const sg = apply({ op: 'map-sg', dev: D1, cpu: 0, segments: [{ phys: 0x12360000n, size: 4096 }, { phys: 0x12380000n, size: 2048 }], dir: DMA_TO_DEVICE, attrs: 0 });
    expect(sg.trace.map((t) => t.name)).toEqual(['map', 'map', 'dma_map_sg']);
    const u = apply({ op: 'unmap-sg', dev: D1, cpu: 0, sg: sg.sg!, dir: DMA_TO_DEVICE, attrs: 0 });
    expect(u.trace.map((t) => t.name)).toEqual(['dma_unmap_sg', 'unmap']);
  });
});

describe('lazy flush window on the virtual clock', () => {
  it('map, device write, unmap, stale write (finding), advance-time past 10 ms, the same write faults', () => {
    const { apply, m } = machine('6.18', 'lazy');
    const a = apply({ op: 'map-single', dev: D1, cpu: 0, phys: 0x20000000n, size: 4096, dir: DMA_FROM_DEVICE, attrs: 0 }).result;
    apply({ op: 'mapping-error', dev: D1, cpu: 0, addr: a });
    expect(apply({ op: 'dev-write', dev: D1, cpu: 0, addr: a, size: 64, fill: 0x11 }).fault).toBe('none');
    apply({ op: 'unmap-single', dev: D1, cpu: 0, addr: a, size: 4096, dir: DMA_FROM_DEVICE, attrs: 0 });
    const stale = apply({ op: 'dev-write', dev: D1, cpu: 0, addr: a, size: 64, fill: 0x22 });
    expect(stale.fault).toBe('stale-iotlb');
    expect(stale.findings.map((f) => f.kind)).toEqual(['stale-iotlb']);
    expect(apply({ op: 'cpu-read', cpu: 0, phys: 0x20000000n, size: 1 }).data).toEqual(Uint8Array.of(0x22));
    apply({ op: 'advance-time', cpu: 0, byNs: 10_000_000 });
    const f = apply({ op: 'dev-write', dev: D1, cpu: 0, addr: a, size: 64, fill: 0x33 });
    expect(f.fault).toBe('unmapped');
    expect(f.lines).toEqual(['io_page_fault: IOMMU:mlx5_core 0000:01:00.0 iova=0x00000000fffff000 flags=0x0001']);
    expect(m.leaks()).toBe(0);
  });

  it('strict: the same write faults right after the unmap', () => {
    const { apply } = machine('6.18', 'strict');
    const a = apply({ op: 'map-single', dev: D1, cpu: 0, phys: 0x20000000n, size: 4096, dir: DMA_FROM_DEVICE, attrs: 0 }).result;
    apply({ op: 'dev-write', dev: D1, cpu: 0, addr: a, size: 64, fill: 0x11 });
    apply({ op: 'unmap-single', dev: D1, cpu: 0, addr: a, size: 4096, dir: DMA_FROM_DEVICE, attrs: 0 });
    const f = apply({ op: 'dev-write', dev: D1, cpu: 0, addr: a, size: 64, fill: 0x22 });
    expect(f.fault).toBe('unmapped');
    expect(f.findings).toEqual([]);
  });
});

describe('two devices sharing one domain, interleaved (seeded)', () => {
  it('never hands one IOVA to both; each faults on the other unmapped IOVA as the domain says', () => {
    for (const mode of ['strict', 'lazy'] as const) {
      const { apply, m } = machine('6.18', mode);
      // A fixed interleaving: D1 and D2 map and unmap on different CPUs.
      const live: { dev: string; addr: bigint; cpu: number }[] = [];
      let seed = 7;
      let maps = 0;
      let unmaps = 0;
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return seed % n;
      };
      for (let i = 0; i < 400; i++) {
        const dev = rnd(2) ? D1 : D2;
        const cpu = rnd(4);
        if (live.length < 8 && (rnd(3) > 0 || live.length === 0)) {
          const o = apply({ op: 'map-single', dev, cpu, phys: 0x40000000n + BigInt(i) * 0x3000n, size: 1 + rnd(9000), dir: DMA_FROM_DEVICE, attrs: 0 });
          expect(o.error).toBe(false);
          apply({ op: 'mapping-error', dev, cpu, addr: o.result });
          live.push({ dev, addr: o.result, cpu });
          maps++;
        } else {
          const [l] = live.splice(rnd(live.length), 1);
          const size = Number(m.k.iommu.domain('D0').live.get(Number(l!.addr >> 12n))!.ranges[0]!.end - l!.addr);
          apply({ op: 'unmap-single', dev: l!.dev, cpu, addr: l!.addr, size, dir: DMA_FROM_DEVICE, attrs: 0 });
          const other = l!.dev === D1 ? D2 : D1;
          const w = apply({ op: 'dev-write', dev: other, cpu, addr: l!.addr & ~0xfffn, size: 8, fill: 1 });
          // nobody touched it before (no IOTLB entry), so both modes fault at once
          expect(w.fault).toBe('unmapped');
          unmaps++;
        }
        expect(m.k.iommu.checkInvariants()).toBeNull();
        const pages = [...m.k.iommu.domain('D0').live.values()];
        const owners = new Map<number, string>();
        for (const p of pages) for (let j = 0; j < p.pages; j++) {
          expect(owners.has(p.iovaPfn + j)).toBe(false);
          owners.set(p.iovaPfn + j, p.dev);
        }
      }
      expect(maps).toBeGreaterThan(100);
      expect(unmaps).toBeGreaterThan(100);
    }
  });
});
