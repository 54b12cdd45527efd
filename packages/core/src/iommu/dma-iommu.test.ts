// drivers/iommu/dma-iommu.c through direct calls: Decision table rows C1–C6 per profile, IOVA
// allocation policy (32-bit first, forcedac, limits), strict vs lazy invalidation, device access.
import { describe, expect, it } from 'vitest';
import type { DeviceConfig, DomainConfig, Profile } from '../config.ts';
import {
  DMA_ATTR_MMIO,
  DMA_ATTR_PRIVILEGED,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  SIZE_MAX,
} from '../dma/defs.ts';
import { emptyOutcome, traceLine, type Outcome, type SgList } from '../events.ts';
import { testMachine } from '../testing.ts';
import {
  iommu_dev_access,
  iommu_dma_alloc,
  iommu_dma_free,
  iommu_dma_map_phys,
  iommu_dma_map_resource,
  iommu_dma_map_sg,
  iommu_dma_max_mapping_size,
  iommu_dma_unmap_phys,
  iommu_dma_unmap_resource,
  iommu_dma_unmap_sg,
  iommu_flush_iotlb_all,
} from './dma-iommu.ts';
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from './io-pgtable.ts';
import { IommuLive, IommuMapping } from './iommu.ts';
import { Hasher } from '../util/hash.ts';

const BAR = 0x3f00000000n;

function setup(o: { profile?: Profile; devices?: Partial<DeviceConfig>[]; domains?: (Partial<DomainConfig> & { name: string })[]; forcedac?: boolean; swiotlbSlots?: number } = {}) {
  const m = testMachine({
    profile: o.profile ?? '6.18',
    domains: o.domains ?? [{ name: 'D0' }],
    devices: (o.devices ?? [{}]).map((d) => ({ dma: 'iommu' as const, domain: 'D0', ...d })),
    platform: {
      mmio: [{ name: 'peer-bar', base: BAR, size: 256n << 20n }],
      iommu: { forcedac: o.forcedac ?? false },
      swiotlb: { slots: o.swiotlbSlots ?? 32768, force: false },
    },
  });
  const k = m.k;
  const call = <T>(fn: () => T, cpu = 0): { r: T; out: Outcome; trace: string[] } => {
    k.out = emptyOutcome(k.clock.nowNs);
    k.cpu = cpu;
    const r = fn();
    return { r, out: k.out, trace: k.out.trace.map(traceLine) };
  };
  const dev = (i = 0) => k.deviceList[i]!;
  const dom = (name = 'D0') => k.iommu.domain(name);
  const write = (d: number, addr: bigint, size: number, byte: number, cpu = 0) => call(() => iommu_dev_access(k, dev(d), addr, size, true, new Uint8Array(size).fill(byte)), cpu);
  const read = (d: number, addr: bigint, size: number) => call(() => iommu_dev_access(k, dev(d), addr, size, false, undefined));
  return { m, k, call, dev, dom, write, read };
}

const mapLine = (iova: bigint, paddr: bigint, size: bigint) =>
  `map: IOMMU: iova=0x${iova.toString(16).padStart(16, '0')} - 0x${(iova + size).toString(16).padStart(16, '0')} paddr=0x${paddr.toString(16).padStart(16, '0')} size=${size}`;
const unmapLine = (iova: bigint, size: bigint, unmapped: bigint) =>
  `unmap: IOMMU: iova=0x${iova.toString(16).padStart(16, '0')} - 0x${(iova + size).toString(16).padStart(16, '0')} size=${size} unmapped_size=${unmapped}`;

for (const profile of ['6.17', '6.18'] as const) {
  describe(`Decision table C, profile ${profile} (iommu_dma_map_${profile === '6.18' ? 'phys' : 'page'})`, () => {
    it('C1: RAM, trusted: IOVA 32-bit first, offset kept, prot = dir bits + CACHE, no swiotlb', () => {
      const { call, dev, dom, k } = setup({ profile });
      const { r, out, trace } = call(() => iommu_dma_map_phys(k, dev(), 0x12345678n, 100, DMA_TO_DEVICE, DMA_ATTR_PRIVILEGED));
      expect(r).toBe(0xfffff678n);
      expect(trace).toEqual([mapLine(0xfffff000n, 0x12345000n, 4096n)]);
      expect(out.path).toBe('iommu');
      expect(out.ran.swiotlb).toBe(false);
      expect(out.ran.cache).toBe(false); // coherent device
      expect(dom().pgtable.lookup(0xfffff)!.prot).toBe(IOMMU_READ | IOMMU_CACHE | IOMMU_PRIV);
      // a buffer crossing a page boundary takes two granules, 2-aligned below the first one
      expect(call(() => iommu_dma_map_phys(k, dev(), 0x12345f00n, 0x200, DMA_FROM_DEVICE, 0)).r).toBe(0xffffcf00n);
      expect(dom().pgtable.lookup(0xffffc)!.prot).toBe(IOMMU_WRITE | IOMMU_CACHE);
    });

    it('C1: a non-coherent device gets cache maintenance unless SKIP_CPU_SYNC, and no IOMMU_CACHE', () => {
      const { call, dev, dom, k } = setup({ profile, devices: [{ coherent: false }] });
      const a = call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 4096, DMA_BIDIRECTIONAL, 0));
      expect(a.out.ran.cache).toBe(true);
      expect(dom().pgtable.lookup(0xfffff)!.prot).toBe(IOMMU_READ | IOMMU_WRITE);
      expect(call(() => iommu_dma_map_phys(k, dev(), 0x20001000n, 4096, DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC)).out.ran.cache).toBe(false);
      const u = call(() => iommu_dma_unmap_phys(k, dev(), a.r, 4096, DMA_BIDIRECTIONAL, 0));
      expect(u.out.ran.cache).toBe(true);
      expect(u.trace).toEqual([unmapLine(0xfffff000n, 4096n, 4096n)]);
    });

    it('C2: untrusted device, unaligned buffer: granule-aligned bounce slot, padding zeroed, then the IOVA map of the slot', () => {
      const { call, dev, dom, k } = setup({ profile, devices: [{ untrusted: true }] });
      const pattern = Uint8Array.from({ length: 100 }, (_, i) => i + 1);
      k.mem.write(0x12345678n, pattern);
      // Learn where the first slot is and dirty the pool around it, so the zeroing is visible.
      const first = call(() => iommu_dma_map_phys(k, dev(), 0x12345678n, 100, DMA_TO_DEVICE, 0)).r;
      const tlb0 = dom().pgtable.iova_to_phys(first);
      call(() => iommu_dma_unmap_phys(k, dev(), first, 100, DMA_TO_DEVICE, 0));
      k.mem.fill(tlb0, 65536, 0xee);

      const { r, out, trace } = call(() => iommu_dma_map_phys(k, dev(), 0x12345678n, 100, DMA_TO_DEVICE, 0));
      const tlb = dom().pgtable.iova_to_phys(r);
      expect(tlb > tlb0 && tlb < tlb0 + 65536n).toBe(true);
      expect(tlb % 4096n).toBe(0n); // alloc_align_mask = granule − 1
      expect(r).toBe(0xfffff000n); // the rcache gave the same IOVA back; the offset is the slot's (0)
      expect(trace).toEqual([
        'swiotlb_bounced: dev_name: 0000:01:00.0 dma_mask=ffffffffffffffff dev_addr=12345678 size=100 NORMAL',
        mapLine(0xfffff000n, tlb, 4096n),
      ]);
      expect(out.path).toBe('iommu-swiotlb');
      expect(out.ran.swiotlb).toBe(true);
      expect(k.mem.read(tlb, 100)).toEqual(pattern);
      expect(k.mem.read(tlb + 100n, 4096 - 100).every((b) => b === 0)).toBe(true);
      expect(dom().pgtable.lookup(0xfffff)!.prot).toBe(IOMMU_READ | IOMMU_CACHE);
    });

    it('C2: from-device bounce: the device writes the slot, unmap copies back and frees the slot', () => {
      const { call, dev, k, write } = setup({ profile, devices: [{ untrusted: true }] });
      const a = call(() => iommu_dma_map_phys(k, dev(), 0x12345678n, 100, DMA_FROM_DEVICE, 0)).r;
      expect(k.swiotlb.usedSlots).toBe(2);
      expect(write(0, a, 100, 0x5a).out.fault).toBe('none');
      expect(k.mem.read(0x12345678n, 1)[0]).toBe(0);
      const u = call(() => iommu_dma_unmap_phys(k, dev(), a, 100, DMA_FROM_DEVICE, 0));
      expect(u.out.path).toBe('iommu-swiotlb');
      expect(u.trace).toEqual([unmapLine(0xfffff000n, 4096n, 4096n)]);
      expect(k.mem.read(0x12345678n, 100)).toEqual(new Uint8Array(100).fill(0x5a));
      expect(k.swiotlb.usedSlots).toBe(0);
      expect(call(() => iommu_dma_max_mapping_size(k, dev())).r).toBe(262144n);
    });

    it('C6: the IOVA allocation fails after a bounce: the bounce is undone', () => {
      const { call, dev, k } = setup({ profile, devices: [{ untrusted: true, mask: 13 }] });
      expect(call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(0x1000n);
      const b = call(() => iommu_dma_map_phys(k, dev(), 0x12345678n, 100, DMA_TO_DEVICE, 0));
      expect(b.r).toBe(DMA_MAPPING_ERROR);
      expect(b.trace).toEqual(['swiotlb_bounced: dev_name: 0000:01:00.0 dma_mask=1fff dev_addr=12345678 size=100 NORMAL']);
      expect(k.swiotlb.usedSlots).toBe(0);
    });

    it('C3: untrusted device, unaligned buffer, no swiotlb pool: one-time "bounce buffers are inactive", ERROR', () => {
      const { call, dev, k } = setup({ profile, devices: [{ untrusted: true }, { untrusted: true }], swiotlbSlots: 0 });
      const a = call(() => iommu_dma_map_phys(k, dev(0), 0x12345678n, 100, DMA_TO_DEVICE, 0));
      expect(a.r).toBe(DMA_MAPPING_ERROR);
      expect(a.out.dmesg).toEqual(['dmasim 0000:01:00.0: DMA bounce buffers are inactive, unable to map unaligned transaction.']);
      expect(a.trace).toEqual([]);
      expect(a.out.ran.swiotlb).toBe(false);
      // dev_warn_once is once per call site, whichever device comes next
      expect(call(() => iommu_dma_map_phys(k, dev(1), 0x12345678n, 100, DMA_TO_DEVICE, 0)).out.dmesg).toEqual([]);
      // a granule-aligned buffer needs no bounce even for an untrusted device (C1)
      expect(call(() => iommu_dma_map_phys(k, dev(0), 0x12345000n, 8192, DMA_TO_DEVICE, 0)).r).toBe(0xffffe000n);
    });

    it('C6: IOVA space exhausted after the rcache flush and retry: ERROR, nothing mapped', () => {
      // A 13-bit mask leaves one granule (pfn 1) below the limit.
      const { call, dev, dom, k } = setup({ profile, devices: [{ mask: 13 }] });
      const a = call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0));
      expect(a.r).toBe(0x1000n);
      const b = call(() => iommu_dma_map_phys(k, dev(), 0x20001000n, 4096, DMA_TO_DEVICE, 0));
      expect(b.r).toBe(DMA_MAPPING_ERROR);
      expect(b.trace).toEqual([]);
      expect(dom().iovad.max32_alloc_size).toBe(1);
      expect(k.iommu.liveMappings()).toBe(1);
      call(() => iommu_dma_unmap_phys(k, dev(), a.r, 4096, DMA_TO_DEVICE, 0));
      // the freed pfn sits in CPU 0's rcache: CPU 1 can only get it after the flush-and-retry
      expect(call(() => iommu_dma_map_phys(k, dev(), 0x20001000n, 4096, DMA_TO_DEVICE, 0), 1).r).toBe(0x1000n);
    });
  });
}

describe('MMIO through the IOMMU (rows C4, C5)', () => {
  it('C4 (6.18): map_phys with DMA_ATTR_MMIO: prot = dir bits + IOMMU_MMIO, no IOMMU_CACHE, no cache maintenance', () => {
    const { call, dev, dom, k } = setup({ devices: [{ coherent: false }] });
    const { r, out, trace } = call(() => iommu_dma_map_phys(k, dev(), BAR + 0x10n, 0x1000, DMA_BIDIRECTIONAL, DMA_ATTR_MMIO));
    expect(r).toBe(0xffffe010n);
    expect(trace).toEqual([mapLine(0xffffe000n, BAR, 8192n)]);
    expect(out.ran.cache).toBe(false);
    expect(dom().pgtable.lookup(0xffffe)!.prot).toBe(IOMMU_READ | IOMMU_WRITE | IOMMU_MMIO);
    // unmap with MMIO: only the IOVA goes (no iova_to_phys, no sync)
    const u = call(() => iommu_dma_unmap_phys(k, dev(), r, 0x1000, DMA_BIDIRECTIONAL, DMA_ATTR_MMIO));
    expect(u.out.ran.cache).toBe(false);
    expect(u.trace).toEqual([unmapLine(0xffffe000n, 8192n, 8192n)]);
  });

  it('C4 on a coherent device: MMIO still drops IOMMU_CACHE', () => {
    const { call, dev, dom, k } = setup();
    call(() => iommu_dma_map_phys(k, dev(), BAR, 0x1000, DMA_TO_DEVICE, DMA_ATTR_MMIO));
    expect(dom().pgtable.lookup(0xfffff)!.prot).toBe(IOMMU_READ | IOMMU_MMIO);
  });

  it('C5 (6.18): untrusted device, unaligned MMIO: ERROR silently (MMIO can never bounce)', () => {
    const { call, dev, k } = setup({ devices: [{ untrusted: true }] });
    const { r, out } = call(() => iommu_dma_map_phys(k, dev(), BAR + 0x10n, 0x100, DMA_TO_DEVICE, DMA_ATTR_MMIO));
    expect(r).toBe(DMA_MAPPING_ERROR);
    expect(out.dmesg).toEqual([]);
    expect(out.trace).toEqual([]);
    expect(out.ran.swiotlb).toBe(false);
  });

  it('C4/C5 (6.17): iommu_dma_map_resource maps with IOMMU_MMIO and never bounces, so C5 maps; map_page ignores the MMIO bit', () => {
    const { call, dev, dom, k } = setup({ profile: '6.17', devices: [{ untrusted: true, coherent: true }] });
    const { r, trace } = call(() => iommu_dma_map_resource(k, dev(), BAR + 0x10n, 0x100, DMA_TO_DEVICE, 0));
    expect(r).toBe(0xfffff010n);
    expect(trace).toEqual([mapLine(0xfffff000n, BAR, 4096n)]);
    expect(dom().pgtable.lookup(0xfffff)!.prot).toBe(IOMMU_READ | IOMMU_MMIO);
    expect(call(() => iommu_dma_unmap_resource(k, dev(), r, 0x100, DMA_TO_DEVICE, 0)).trace).toEqual([unmapLine(0xfffff000n, 4096n, 4096n)]);
    // 6.17 has no DMA_ATTR_MMIO: the bit is ignored and the mapping is cacheable RAM-style
    const { dev: d2, call: c2, dom: dom2, k: k2 } = setup({ profile: '6.17' });
    c2(() => iommu_dma_map_phys(k2, d2(), BAR, 0x1000, DMA_TO_DEVICE, DMA_ATTR_MMIO));
    expect(dom2().pgtable.lookup(0xfffff)!.prot).toBe(IOMMU_READ | IOMMU_CACHE);
  });
});

describe('iommu_dma_alloc_iova: 32-bit first, forcedac, limits', () => {
  it('a failed 32-bit attempt switches the device to its full width for good, with one notice', () => {
    const { call, dev, k } = setup({ domains: [{ name: 'D0', granule: 65536 }], devices: [{}, {}] });
    // 4 GiB cannot fit below 4 GiB: the 32-bit attempt fails fast (size ≥ max32_alloc_size)
    const a = call(() => iommu_dma_map_phys(k, dev(0), 0x100000000n, 2 ** 32, DMA_TO_DEVICE, 0));
    expect(a.out.dmesg).toEqual(['dmasim 0000:01:00.0: Using 48-bit DMA addresses']);
    expect(a.r).toBe(0xffff00000000n);
    expect(a.trace).toEqual([mapLine(0xffff00000000n, 0x100000000n, 1n << 32n)]);
    expect(dev(0).pci32bitWorkaround).toBe(false);
    const b = call(() => iommu_dma_map_phys(k, dev(0), 0x20000000n, 4096, DMA_TO_DEVICE, 0));
    expect(b.r).toBe(0xfffeffff0000n);
    expect(b.out.dmesg).toEqual([]);
    // the other device in the domain still tries 32 bits first
    expect(call(() => iommu_dma_map_phys(k, dev(1), 0x20010000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(0xffff0000n);
  });

  it('forcedac, non-PCI devices and ≤ 32-bit limits go straight to the limit', () => {
    const f = setup({ forcedac: true });
    expect(f.call(() => iommu_dma_map_phys(f.k, f.dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(0xfffffffff000n);
    const np = setup({ devices: [{ pci: false }] });
    expect(np.call(() => iommu_dma_map_phys(np.k, np.dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(0xfffffffff000n);
    const m32 = setup({ devices: [{ mask: 32 }] });
    expect(m32.call(() => iommu_dma_map_phys(m32.k, m32.dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(0xfffff000n);
  });

  it('the limit is min_not_zero(mask, bus limit), clamped to the aperture', () => {
    const bl = setup({ forcedac: true, devices: [{ busLimit: 0xffffffffffn }] });
    expect(bl.call(() => iommu_dma_map_phys(bl.k, bl.dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(0xfffffff000n);
    const ap = setup({ forcedac: true, domains: [{ name: 'D0', apertureBits: 39 }] });
    expect(ap.call(() => iommu_dma_map_phys(ap.k, ap.dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(0x7ffffff000n);
    const m36 = setup({ forcedac: true, devices: [{ mask: 36 }] });
    expect(m36.call(() => iommu_dma_map_phys(m36.k, m36.dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(0xffffff000n);
  });

  it('a min_align_mask wider than the granule: dev_WARN_ONCE "Unsupported alignment constraint", ERROR', () => {
    const { call, dev, k } = setup({ devices: [{ minAlignMask: 0x1fff }] });
    const a = call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0));
    expect(a.r).toBe(DMA_MAPPING_ERROR);
    expect(a.out.dmesg[0]).toBe('dmasim 0000:01:00.0: Unsupported alignment constraint');
    expect(a.out.dmesg[1]).toMatch(/^WARNING: .*drivers\/iommu\/dma-iommu.c __iommu_dma_map/);
    expect(call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0)).out.dmesg).toEqual([]);
  });

  it('the rcache hands a freed IOVA back on the same CPU; another CPU gets a fresh one', () => {
    const { call, dev, k } = setup();
    const a = call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0)).r;
    call(() => iommu_dma_unmap_phys(k, dev(), a, 4096, DMA_TO_DEVICE, 0));
    expect(call(() => iommu_dma_map_phys(k, dev(), 0x20001000n, 4096, DMA_TO_DEVICE, 0), 1).r).toBe(0xffffe000n);
    expect(call(() => iommu_dma_map_phys(k, dev(), 0x20002000n, 4096, DMA_TO_DEVICE, 0), 0).r).toBe(a);
  });
});

describe('strict vs lazy invalidation and device access', () => {
  function staleRun(mode: 'strict' | 'lazy') {
    const s = setup({ domains: [{ name: 'D0', mode }] });
    const { call, dev, k, write } = s;
    const iova = call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 4096, DMA_FROM_DEVICE, 0)).r;
    const w1 = write(0, iova, 64, 0x11);
    expect(w1.out.fault).toBe('none');
    expect(k.mem.read(0x20000000n, 4)).toEqual(new Uint8Array(4).fill(0x11));
    const u = call(() => iommu_dma_unmap_phys(k, dev(), iova, 4096, DMA_FROM_DEVICE, 0));
    expect(u.trace).toEqual([unmapLine(0xfffff000n, 4096n, 4096n)]);
    return { ...s, iova };
  }

  it('strict: unmap invalidates the IOTLB, the same device write faults at once (io_page_fault flags 0x1)', () => {
    const { iova, write, k } = staleRun('strict');
    const w = write(0, iova, 64, 0x22);
    expect(w.out.fault).toBe('unmapped');
    expect(w.out.error).toBe(true);
    expect(w.trace).toEqual(['io_page_fault: IOMMU:dmasim 0000:01:00.0 iova=0x00000000fffff000 flags=0x0001']);
    expect(w.out.findings).toEqual([]);
    expect(k.mem.read(0x20000000n, 1)[0]).toBe(0x11);
  });

  it('lazy: the stale IOTLB entry still reaches the old page until the flush-queue timeout, then the write faults', () => {
    const { iova, write, call, k, dom } = staleRun('lazy');
    expect(dom().fq!.pending()).toBe(1);
    const w = write(0, iova, 64, 0x22);
    expect(w.out.fault).toBe('stale-iotlb');
    expect(w.out.error).toBe(false);
    expect(w.out.findings.map((f) => f.kind)).toEqual(['stale-iotlb']);
    expect(w.trace).toEqual([]);
    expect(k.mem.read(0x20000000n, 1)[0]).toBe(0x22); // the bytes moved, as the hardware would
    // the IOVA is not reusable yet: a new map gets another one
    expect(call(() => iommu_dma_map_phys(k, k.deviceList[0]!, 0x20001000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(0xffffe000n);
    call(() => k.clock.advanceBy(10_000_000));
    expect(dom().fq!.pending()).toBe(0);
    const w2 = write(0, iova, 64, 0x33);
    expect(w2.out.fault).toBe('unmapped');
    expect(w2.trace).toEqual(['io_page_fault: IOMMU:dmasim 0000:01:00.0 iova=0x00000000fffff000 flags=0x0001']);
    expect(k.mem.read(0x20000000n, 1)[0]).toBe(0x22);
    // after the flush the IOVA went to the rcache of the CPU that armed the timer
    expect(call(() => iommu_dma_map_phys(k, k.deviceList[0]!, 0x20002000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(iova);
  });

  it('64 KiB granule: device accesses translate by the domain granule, the offset inside it kept (iommu_dma_map_phys, iova_offset)', () => {
    const { call, dev, k, write, read } = setup({ domains: [{ name: 'D0', granule: 65536 }] });
    // 0x20012345 lies 0x2345 into its 64 KiB granule: the IOVA keeps that offset.
    const phys = 0x2001_2345n;
    const iova = call(() => iommu_dma_map_phys(k, dev(), phys, 0x10000, DMA_BIDIRECTIONAL, 0)).r; // two granules
    expect(iova & 0xffffn).toBe(0x2345n);
    // 0x5000 into the buffer: past the first 4 KiB page but inside the same granule, and a write
    // that crosses into the next granule.
    expect(write(0, iova + 0x5000n, 16, 0x5a).out.fault).toBe('none');
    expect(k.mem.read(phys + 0x5000n, 16)).toEqual(new Uint8Array(16).fill(0x5a));
    const across = 0x1_0000n - 0x2345n - 8n; // 8 bytes before the granule boundary
    expect(write(0, iova + across, 16, 0xa5).out.fault).toBe('none');
    expect(k.mem.read(phys + across, 16)).toEqual(new Uint8Array(16).fill(0xa5));
    const r = read(0, iova + 0x5000n, 16);
    expect(r.out.fault).toBe('none');
    expect([...r.out.data!]).toEqual(new Array<number>(16).fill(0x5a));
    // Past the second granule nothing is mapped.
    expect(write(0, iova + 0x2_0000n - 0x2345n, 4, 0x1).out.fault).toBe('unmapped');
  });

  it('lazy: a page the device never touched has no IOTLB entry, so it faults right after unmap', () => {
    const { call, dev, k, write } = setup({ domains: [{ name: 'D0', mode: 'lazy' }] });
    const iova = call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 4096, DMA_FROM_DEVICE, 0)).r;
    call(() => iommu_dma_unmap_phys(k, dev(), iova, 4096, DMA_FROM_DEVICE, 0));
    expect(write(0, iova, 4, 0x1).out.fault).toBe('unmapped');
  });

  it('lazy: a flush-iotlb event closes the window but the IOVAs wait for the flush queue', () => {
    const { iova, write, call, k, dom } = staleRun('lazy');
    call(() => iommu_flush_iotlb_all(k, 'D0'));
    expect(write(0, iova, 4, 0x5).out.fault).toBe('unmapped');
    expect(dom().fq!.pending()).toBe(1);
  });

  it('lazy: a full flush queue flushes before queueing (fq size 4 holds 3)', () => {
    const { call, dev, k, dom } = setup({ domains: [{ name: 'D0', mode: 'lazy', fq: { size: 4, timeoutNs: 10_000_000 } }] });
    const iovas = [0, 1, 2, 3].map((i) => call(() => iommu_dma_map_phys(k, dev(), 0x20000000n + BigInt(i) * 4096n, 4096, DMA_TO_DEVICE, 0)).r);
    for (const a of iovas.slice(0, 3)) call(() => iommu_dma_unmap_phys(k, dev(), a, 4096, DMA_TO_DEVICE, 0));
    expect(dom().iotlb.flushes).toBe(0);
    call(() => iommu_dma_unmap_phys(k, dev(), iovas[3]!, 4096, DMA_TO_DEVICE, 0));
    expect(dom().iotlb.flushes).toBe(1);
    expect(dom().fq!.pending()).toBe(1);
  });

  it('permission: a device write to a to-device mapping faults; reads move bytes and fill the IOTLB', () => {
    const { call, dev, k, write, read, dom } = setup();
    k.mem.fill(0x20000000n, 16, 0xab);
    const iova = call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 16, DMA_TO_DEVICE, 0)).r;
    const w = write(0, iova, 16, 0x1);
    expect(w.out.fault).toBe('permission');
    expect(w.trace).toEqual(['io_page_fault: IOMMU:dmasim 0000:01:00.0 iova=0x00000000fffff000 flags=0x0001']);
    expect(dom().iotlb.size).toBe(0);
    const r = read(0, iova, 16);
    expect(r.out.fault).toBe('none');
    expect(r.out.data).toEqual(new Uint8Array(16).fill(0xab));
    expect(dom().iotlb.size).toBe(1);
    // reading beyond the mapped 16 bytes stays inside the granule: the IOMMU allows it, the model reports it
    const r2 = read(0, iova, 64);
    expect(r2.out.fault).toBe('none');
    expect(r2.out.findings.map((f) => f.kind)).toEqual(['unmapped-access']);
  });

  it('two devices sharing a domain: distinct IOVAs, shared translations, faults on the other device unmapped IOVA', () => {
    const { call, dev, k, write, read } = setup({ devices: [{}, { driver: 'nvme' }] });
    const a = call(() => iommu_dma_map_phys(k, dev(0), 0x20000000n, 4096, DMA_FROM_DEVICE, 0)).r;
    const b = call(() => iommu_dma_map_phys(k, dev(1), 0x30000000n, 4096, DMA_FROM_DEVICE, 0), 1).r;
    const a2 = call(() => iommu_dma_map_phys(k, dev(0), 0x20001000n, 4096, DMA_FROM_DEVICE, 0)).r;
    expect(new Set([a, b, a2]).size).toBe(3);
    expect([a, b, a2]).toEqual([0xfffff000n, 0xffffe000n, 0xffffd000n]);
    // device 1 reaches device 0's live IOVA: the domain allows it, the model reports it
    const cross = write(1, a, 8, 0x77);
    expect(cross.out.fault).toBe('none');
    expect(cross.out.findings[0]!.message).toContain('[mapped by=0000:01:00.0]');
    call(() => iommu_dma_unmap_phys(k, dev(0), a, 4096, DMA_FROM_DEVICE, 0));
    const f = write(1, a, 8, 0x77);
    expect(f.out.fault).toBe('unmapped');
    expect(f.trace).toEqual(['io_page_fault: IOMMU:nvme 0000:02:00.0 iova=0x00000000fffff000 flags=0x0001']);
    expect(write(1, b, 8, 0x5).out.fault).toBe('none');
    expect(read(1, b, 8).out.fault).toBe('permission'); // from-device: no IOMMU_READ
    expect(k.iommu.checkInvariants()).toBeNull();
    expect(k.iommu.liveMappings('0000:01:00.0')).toBe(1);
    expect(k.iommu.liveMappings('0000:02:00.0')).toBe(1);
  });
});

describe('unmap misuse, scatter-gather, coherent', () => {
  it('unmapping an IOVA that is not mapped: WARN and return for RAM; MMIO unmaps nothing and frees anyway (double-free)', () => {
    const { call, dev, k } = setup();
    const u = call(() => iommu_dma_unmap_phys(k, dev(), 0xfffff000n, 4096, DMA_TO_DEVICE, 0));
    expect(u.trace).toEqual([]);
    expect(u.out.dmesg).toEqual(['WARNING: CPU: 0 at drivers/iommu/dma-iommu.c iommu_dma_unmap_phys']);
    const m = call(() => iommu_dma_unmap_phys(k, dev(), 0xfffff000n, 4096, DMA_TO_DEVICE, DMA_ATTR_MMIO));
    expect(m.trace).toEqual([unmapLine(0xfffff000n, 4096n, 0n)]);
    expect(m.out.dmesg).toEqual(['WARNING: CPU: 0 at drivers/iommu/dma-iommu.c __iommu_dma_unmap']);
    expect(m.out.findings.map((f) => f.kind)).toEqual(['double-free']);
  });

  it('C6 via iommu_map failure: after a double free the rcache hands out a mapped IOVA, the map fails (-EEXIST) and the IOVA is freed again', () => {
    const { call, dev, k } = setup();
    const a = call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 4096, DMA_TO_DEVICE, 0)).r;
    call(() => iommu_dma_unmap_phys(k, dev(), a, 4096, DMA_TO_DEVICE, 0));
    // the driver unmaps the same IOVA again as MMIO: nothing to unmap, but the IOVA is freed again
    expect(call(() => iommu_dma_unmap_phys(k, dev(), a, 4096, DMA_TO_DEVICE, DMA_ATTR_MMIO)).out.findings.map((f) => f.kind)).toEqual(['double-free']);
    expect(call(() => iommu_dma_map_phys(k, dev(), 0x20001000n, 4096, DMA_TO_DEVICE, 0)).r).toBe(a);
    const c = call(() => iommu_dma_map_phys(k, dev(), 0x20002000n, 4096, DMA_TO_DEVICE, 0));
    expect(c.r).toBe(DMA_MAPPING_ERROR);
    expect(c.trace).toEqual([unmapLine(a, 0n, 0n)]); // the unroll of a map that mapped nothing
    expect(k.iommu.domain('D0').pgtable.iova_to_phys(a)).toBe(0x20001000n); // B's mapping survives
    expect(k.iommu.checkInvariants()).toBeNull();
  });

  it('map_sg: one IOVA range, one map per contiguous run, merged into one DMA segment; unmap_sg frees it whole', () => {
    const { call, dev, k } = setup();
    const sg: SgList = { segments: [{ phys: 0x12360000n, size: 4096 }, { phys: 0x12380000n, size: 2048 }], dma: [] };
    const m = call(() => iommu_dma_map_sg(k, dev(), sg, DMA_TO_DEVICE, 0));
    expect(m.r).toBe(1);
    expect(sg.dma).toEqual([{ addr: 0xffffe000n, len: 6144 }]);
    expect(m.trace).toEqual([mapLine(0xffffe000n, 0x12360000n, 4096n), mapLine(0xfffff000n, 0x12380000n, 4096n)]);
    const u = call(() => iommu_dma_unmap_sg(k, dev(), sg, DMA_TO_DEVICE, 0));
    expect(u.trace).toEqual([unmapLine(0xffffe000n, 8192n, 8192n)]);
    expect(k.iommu.liveMappings()).toBe(0);
  });

  it('map_sg: an offset segment starts a new DMA segment; physically contiguous runs map once', () => {
    const { call, dev, k } = setup();
    const sg: SgList = { segments: [{ phys: 0x12360000n, size: 4096 }, { phys: 0x12361000n, size: 4096 }, { phys: 0x12370100n, size: 256 }], dma: [] };
    const m = call(() => iommu_dma_map_sg(k, dev(), sg, DMA_TO_DEVICE, 0));
    expect(m.r).toBe(2);
    // 3 granules rounded up to 4 for the rcache: 4-aligned below 4 GiB
    expect(sg.dma).toEqual([{ addr: 0xffffc000n, len: 8192 }, { addr: 0xffffe100n, len: 256 }]);
    expect(m.trace).toEqual([mapLine(0xffffc000n, 0x12360000n, 8192n), mapLine(0xffffe000n, 0x12370000n, 4096n)]);
  });

  it('map_sg on an untrusted device: every segment through iommu_dma_map_phys (bounced if unaligned), one DMA entry each', () => {
    const { call, dev, k } = setup({ devices: [{ untrusted: true }] });
    const sg: SgList = { segments: [{ phys: 0x12360000n, size: 4096 }, { phys: 0x12380100n, size: 256 }], dma: [] };
    const m = call(() => iommu_dma_map_sg(k, dev(), sg, DMA_TO_DEVICE, 0));
    expect(m.r).toBe(2);
    expect(sg.dma).toEqual([{ addr: 0xfffff000n, len: 4096 }, { addr: 0xffffe000n, len: 256 }]);
    expect(m.trace.map((t) => t.split(':')[0])).toEqual(['map', 'swiotlb_bounced', 'map']);
    expect(m.out.path).toBe('iommu-swiotlb');
    expect(k.swiotlb.usedSlots).toBe(2);
    const u = call(() => iommu_dma_unmap_sg(k, dev(), sg, DMA_TO_DEVICE, 0));
    expect(u.trace).toEqual([unmapLine(0xfffff000n, 4096n, 4096n), unmapLine(0xffffe000n, 4096n, 4096n)]);
    expect(k.swiotlb.usedSlots).toBe(0);
    expect(k.iommu.liveMappings()).toBe(0);
  });

  it('alloc/free coherent: zeroed pages at an IOVA below the coherent mask, BIDI prot', () => {
    const { call, dev, dom, k } = setup();
    const a = call(() => iommu_dma_alloc(k, dev(), 6000, 0));
    expect(a.r!.dmaAddr).toBe(0xffffe000n);
    expect(dom().pgtable.lookup(0xffffe)!.prot).toBe(IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE);
    expect(k.mem.read(a.r!.cpuAddr, 8192).every((b) => b === 0)).toBe(true);
    const f = call(() => iommu_dma_free(k, dev(), 6000, a.r!.cpuAddr, a.r!.dmaAddr, 0));
    expect(f.trace).toEqual([unmapLine(0xffffe000n, 8192n, 8192n)]);
    expect(k.iommu.liveMappings()).toBe(0);
  });

  it('the rcache depot is trimmed by delayed work on the virtual clock (IOVA_DEPOT_DELAY 100 ms)', () => {
    const { k, call, dom } = setup(); // 4 CPUs
    const iovad = dom().iovad;
    const pfns = Array.from({ length: 127 * 6 + 1 }, () => iovad.alloc_iova_fast(1, 0xfffffffff, true, 0));
    for (const p of pfns) iovad.free_iova_fast(p, 1, 0);
    expect(iovad.rcacheView(0).depot.length).toBe(5);
    expect(k.clock.isArmed('iova-depot:D0:0')).toBe(true);
    call(() => k.clock.advanceBy(100_000_000));
    expect(iovad.rcacheView(0).depot.length).toBe(4);
    expect(iovad.allocatedPfns()).toBe(pfns.length - 127);
    call(() => k.clock.advanceBy(100_000_000));
    expect(iovad.rcacheView(0).depot.length).toBe(4); // no more than one per CPU: left alone
    expect(k.clock.isArmed('iova-depot:D0:0')).toBe(false);
  });

  it('max_mapping_size: SIZE_MAX for a trusted device', () => {
    const { call, dev, k } = setup();
    expect(call(() => iommu_dma_max_mapping_size(k, dev())).r).toBe(SIZE_MAX);
  });

  it('IOVAs above 2^53 (64-bit aperture and mask, forcedac) stay exact: map, sg, device access, unmap', () => {
    // The IOMMU paths work on numbers while addresses are below 2^53 and on bigints above
    // (util/exact.ts U64); this runs the bigint side end to end. alloc_iova_fast: size-aligned,
    // top-down from limit_pfn (2^52 - 1 at a 4 KiB granule): 3 pages land at pfn 2^52 - 4.
    const { call, dev, dom, k, read, write } = setup({ forcedac: true, domains: [{ name: 'D0', apertureBits: 64 }], devices: [{ mask: 64 }] });
    const top = 1n << 64n;
    const a = call(() => iommu_dma_map_phys(k, dev(), 0x20000010n, 0x2000, DMA_BIDIRECTIONAL, 0));
    expect(a.r).toBe(top - 0x4000n + 0x10n);
    expect(a.trace).toEqual([mapLine(top - 0x4000n, 0x20000000n, 0x3000n)]);
    expect(dom().live.get(2 ** 52 - 4)!.ranges).toEqual([{ start: a.r, end: a.r + 0x2000n }]);
    expect(write(0, a.r + 0x1ff0n, 16, 0xab).out.findings).toEqual([]);
    const r = read(0, a.r + 0x1ff0n, 32);
    expect(r.out.fault).toBe('none');
    expect(r.out.findings.map((f) => f.kind)).toEqual(['unmapped-access']); // 16 bytes past the mapping, inside its last page
    expect([...r.out.data!]).toEqual([...new Array(16).fill(0xab), ...new Array(16).fill(0)]);
    const sg: SgList = { segments: [{ phys: 0x30000000n, size: 4096 }, { phys: 0x30001000n, size: 4096 }], dma: [] };
    expect(call(() => iommu_dma_map_sg(k, dev(), sg, DMA_TO_DEVICE, 0)).r).toBe(1);
    expect(sg.dma).toEqual([{ addr: top - 0x6000n, len: 8192 }]); // 2 pages, aligned to 2, below the first
    expect(dom().live.get(2 ** 52 - 6)!.ranges).toEqual([{ start: top - 0x6000n, end: top - 0x4000n }]);
    const u = call(() => iommu_dma_unmap_phys(k, dev(), a.r, 0x2000, DMA_BIDIRECTIONAL, 0));
    expect(u.trace).toEqual([unmapLine(top - 0x4000n, 0x3000n, 0x3000n)]);
    expect(u.out.findings).toEqual([]);
    call(() => iommu_dma_unmap_sg(k, dev(), sg, DMA_TO_DEVICE, 0));
    expect(dom().live.size).toBe(0);
    expect(dom().pgtable.mappedPages).toBe(0);
    // An IOVA no live mapping holds: the finding prints it and the span exactly.
    expect(call(() => iommu_dma_unmap_resource(k, dev(), a.r, 0x2000, DMA_BIDIRECTIONAL, 0)).out.findings[0]!.message).toBe(
      `IOVA released that no live mapping holds [domain=D0] [device=${dev().name}] [iova=0xffffffffffffc000] [size=12288 bytes]`,
    );
  });

  it('a live mapping hashes alike with its ranges held as numbers or as bigints, in one pair or several', () => {
    const hash = (add: (l: IommuLive) => void): string => {
      const l = new IommuLive();
      add(l);
      const h = new Hasher();
      l.hashInto(h);
      return h.digest();
    };
    const two = hash((l) => l.add(5, 2, 'd', [0x5010, 0x6000, 0x6000, 0x7000], null));
    expect(hash((l) => l.add(5, 2, 'd', null, [{ start: 0x5010n, end: 0x6000n }, { start: 0x6000n, end: 0x7000n }]))).toBe(two);
    expect(hash((l) => l.add(5, 2, 'd', [0x5010, 0x6001, 0x6000, 0x7000], null))).not.toBe(two);
    const one = hash((l) => l.addSingle(5, 2, 'd', 0x5010, 0x7000));
    expect(hash((l) => l.add(5, 2, 'd', [0x5010, 0x7000], null))).toBe(one);
    expect(hash((l) => l.add(5, 2, 'd', null, [{ start: 0x5010n, end: 0x7000n }]))).toBe(one);
    expect(hash((l) => l.addSingle(5, 2, 'e', 0x5010, 0x7000))).not.toBe(one);
    expect(hash((l) => l.addSingle(5, 3, 'd', 0x5010, 0x7000))).not.toBe(one);
  });

  it('live mappings keep their fields through slot reuse; get and values give them back', () => {
    const l = new IommuLive();
    for (let i = 0; i < 100; i++) l.addSingle(i * 4, 2, `d${i}`, i * 0x4000, i * 0x4000 + 0x2000); // past the first capacity
    for (let i = 0; i < 100; i += 2) expect(l.delete(i * 4)).toBe(true);
    expect(l.delete(0)).toBe(false);
    l.add(1000, 3, 'sg', [0x3e8000, 0x3e9000, 0x3ea000, 0x3eb000], null); // into a freed slot
    l.add(2000, 1, 'big', null, [{ start: 1n << 60n, end: (1n << 60n) + 0x1000n }]);
    expect(l.size).toBe(52);
    expect(l.get(4)).toEqual(new IommuMapping(4, 2, 'd1', [0x4000, 0x6000], null));
    expect(l.get(8)).toBeUndefined();
    expect(l.get(1000)!.ranges).toEqual([{ start: 0x3e8000n, end: 0x3e9000n }, { start: 0x3ea000n, end: 0x3eb000n }]);
    expect(l.get(2000)!.ranges).toEqual([{ start: 1n << 60n, end: (1n << 60n) + 0x1000n }]);
    const s = l.slot(396);
    expect([l.devOf(s), l.isSingle(s), l.startOf(s), l.endOf(s)]).toEqual(['d99', true, 99 * 0x4000, 99 * 0x4000 + 0x2000]);
    expect(l.isSingle(l.slot(1000))).toBe(false);
    expect(l.values().map((m) => m.iovaPfn).sort((a, b) => a - b)).toEqual([...Array.from({ length: 50 }, (_, i) => (2 * i + 1) * 4), 1000, 2000]);
    expect(l.overlapping()).toBeNull();
  });

  it('the invariant check names the first two live mappings (by IOVA) that overlap', () => {
    // Only a model bug can make two live mappings overlap; planted here, out of IOVA order in the map.
    const { m, dom } = setup({ devices: [{ name: 'nic' }, { name: 'nvme' }] });
    dom().live.set(0x30, new IommuMapping(0x30, 1, 'nic', [0x30000, 0x31000], null));
    dom().live.set(0x10, new IommuMapping(0x10, 2, 'nic', [0x10000, 0x12000], null));
    expect(m.checkInvariants()).toEqual([]);
    dom().live.set(0x11, new IommuMapping(0x11, 4, 'nvme', [0x11000, 0x15000], null));
    expect(m.checkInvariants()).toEqual(['iommu: domain D0: IOVA handed out twice [iova=0x0000000000011000] [devices=nic,nvme]']);
  });

  it('the state hash follows the IOMMU state and is reproducible', () => {
    const run = () => {
      const { call, dev, k, m, write } = setup({ domains: [{ name: 'D0', mode: 'lazy' }] });
      const h0 = m.stateHash();
      const a = call(() => iommu_dma_map_phys(k, dev(), 0x20000000n, 4096, DMA_FROM_DEVICE, 0)).r;
      const h1 = m.stateHash();
      write(0, a, 4, 1);
      call(() => iommu_dma_unmap_phys(k, dev(), a, 4096, DMA_FROM_DEVICE, 0));
      return [h0, h1, m.stateHash()];
    };
    const [a, b] = [run(), run()];
    expect(a).toEqual(b);
    expect(new Set(a).size).toBe(3);
  });
});
