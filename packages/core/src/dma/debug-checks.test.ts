// dma-debug's check_sync, map-time checks (debug_dma_map_single, check_sg_segment, the MMIO RAM
// check) and active cacheline tracking, driven through the hooks directly (kernel/dma/debug.c).

import { describe, expect, it } from 'vitest';
import type { Profile } from '../config.ts';
import { emptyOutcome, type SgList } from '../events.ts';
import { testMachine } from '../testing.ts';
import { DMA_ATTR_MMIO, DMA_ATTR_SKIP_CPU_SYNC, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_TO_DEVICE } from './defs.ts';
import {
  debug_dma_alloc_coherent,
  debug_dma_map_page,
  debug_dma_map_phys,
  debug_dma_map_sg,
  debug_dma_map_single,
  debug_dma_mapping_error,
  debug_dma_sync_sg_for_cpu,
  debug_dma_sync_sg_for_device,
  debug_dma_sync_single_for_cpu,
  debug_dma_sync_single_for_device,
  debug_dma_unmap_phys,
} from './debug.ts';

const PFX = 'DMA-API: e1000e 0000:01:00.0: ';

function setup(profile: Profile = '6.18', numErrors = 1) {
  const m = testMachine({ profile, devices: [{ driver: 'e1000e' }], platform: { dmaDebug: { enabled: true, numErrors, allErrors: false } } });
  const k = m.k;
  const dev = k.deviceList[0]!;
  const next = () => {
    k.seq++;
    k.out = emptyOutcome(0);
  };
  next();
  /** A checked streaming mapping at the identity address, as a correct driver leaves it. */
  const map = (addr: bigint, size: number, dir: number, attrs = 0) => {
    if (profile === '6.18') debug_dma_map_phys(k, dev, addr, size, dir, addr, attrs);
    else debug_dma_map_page(k, dev, addr, size, dir, addr, attrs);
    debug_dma_mapping_error(k, dev, addr);
  };
  return { k, dev, next, map };
}

describe('check_sync (debug_dma_sync_single_* / debug_dma_sync_sg_*)', () => {
  it('1. tries to sync DMA memory it has not allocated', () => {
    const { k, dev } = setup();
    debug_dma_sync_single_for_cpu(k, dev, 0x7000n, 256, DMA_FROM_DEVICE);
    expect(k.out.dmesg).toEqual([
      `${PFX}device driver tries to sync DMA memory it has not allocated [device address=0x0000000000007000] [size=256 bytes]`,
      'WARNING: CPU: 0 at kernel/dma/debug.c check_sync',
    ]);
  });

  it('finds the containing entry buckets below the sync start (bucket_find_contain), a clean partial sync', () => {
    const { k, dev, next, map } = setup();
    map(0x100000n, 65536, DMA_FROM_DEVICE);
    next();
    debug_dma_sync_single_for_cpu(k, dev, 0x10a000n, 4096, DMA_FROM_DEVICE);
    debug_dma_sync_single_for_device(k, dev, 0x10f000n, 4096, DMA_FROM_DEVICE);
    expect(k.out.dmesg).toEqual([]);
    expect(k.debug.errorCount).toBe(0);
  });

  it('a sync running past the end of the mapping is "not allocated": containing_match needs the whole range', () => {
    const { k, dev, next, map } = setup();
    map(0x100000n, 65536, DMA_FROM_DEVICE);
    next();
    debug_dma_sync_single_for_cpu(k, dev, 0x10f000n, 8192, DMA_FROM_DEVICE);
    expect(k.out.dmesg[0]).toBe(`${PFX}device driver tries to sync DMA memory it has not allocated [device address=0x000000000010f000] [size=8192 bytes]`);
  });

  it('2. syncs DMA memory outside allocated range: only when the sync end wraps past 2^64', () => {
    const { k, dev, next, map } = setup();
    map(0xffffffffffff0000n, 0x8000, DMA_BIDIRECTIONAL);
    next();
    debug_dma_sync_single_for_cpu(k, dev, 0xffffffffffff0000n, 0x20000, DMA_BIDIRECTIONAL);
    expect(k.out.dmesg[0]).toBe(
      `${PFX}device driver syncs DMA memory outside allocated range [device address=0xffffffffffff0000] [allocation size=32768 bytes] [sync offset+size=131072]`,
    );
  });

  it('3. a bidirectional mapping may be synced in any direction', () => {
    const { k, dev, next, map } = setup();
    map(0x200000n, 4096, DMA_BIDIRECTIONAL);
    next();
    for (const dir of [DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL]) {
      debug_dma_sync_single_for_cpu(k, dev, 0x200000n, 4096, dir);
      debug_dma_sync_single_for_device(k, dev, 0x200000n, 4096, dir);
    }
    expect(k.debug.errorCount).toBe(0);
  });

  it('4. syncs DMA memory with different direction', () => {
    const { k, dev, next, map } = setup();
    map(0x200000n, 4096, DMA_FROM_DEVICE);
    next();
    debug_dma_sync_single_for_cpu(k, dev, 0x200800n, 512, DMA_TO_DEVICE);
    expect(k.out.dmesg[0]).toBe(
      `${PFX}device driver syncs DMA memory with different direction [device address=0x0000000000200800] [size=4096 bytes] [mapped with DMA_FROM_DEVICE] [synced with DMA_TO_DEVICE]`,
    );
    expect(k.debug.errorCount).toBe(1);
  });

  it('5. syncs device read-only DMA memory for cpu (a to-device mapping synced for the CPU as from-device)', () => {
    const { k, dev, next, map } = setup('6.18', 5);
    map(0x200000n, 4096, DMA_TO_DEVICE);
    next();
    debug_dma_sync_single_for_cpu(k, dev, 0x200000n, 4096, DMA_FROM_DEVICE);
    const lines = k.out.dmesg.filter((l) => l.startsWith(PFX));
    expect(lines).toEqual([
      `${PFX}device driver syncs DMA memory with different direction [device address=0x0000000000200000] [size=4096 bytes] [mapped with DMA_TO_DEVICE] [synced with DMA_FROM_DEVICE]`,
      `${PFX}device driver syncs device read-only DMA memory for cpu [device address=0x0000000000200000] [size=4096 bytes] [mapped with DMA_TO_DEVICE] [synced with DMA_FROM_DEVICE]`,
    ]);
  });

  it('6. syncs device write-only DMA memory to device (a from-device mapping synced for the device as to-device)', () => {
    const { k, dev, next, map } = setup('6.18', 5);
    map(0x200000n, 4096, DMA_FROM_DEVICE);
    next();
    debug_dma_sync_single_for_device(k, dev, 0x200000n, 4096, DMA_TO_DEVICE);
    expect(k.out.dmesg.filter((l) => l.startsWith(PFX))[1]).toBe(
      `${PFX}device driver syncs device write-only DMA memory to device [device address=0x0000000000200000] [size=4096 bytes] [mapped with DMA_FROM_DEVICE] [synced with DMA_TO_DEVICE]`,
    );
    expect(k.debug.errorCount).toBe(2);
  });

  it('7. syncs DMA sg list with different entry count', () => {
    const { k, dev, next } = setup();
    const two: SgList = {
      segments: [
        { phys: 0x10000n, size: 4096 },
        { phys: 0x20000n, size: 4096 },
      ],
      dma: [
        { addr: 0x10000n, len: 4096 },
        { addr: 0x20000n, len: 4096 },
      ],
    };
    debug_dma_map_sg(k, dev, two, DMA_FROM_DEVICE, 0);
    next();
    debug_dma_sync_sg_for_cpu(k, dev, { segments: [two.segments[0]!], dma: [two.dma[0]!] }, DMA_FROM_DEVICE);
    expect(k.out.dmesg[0]).toBe(`${PFX}device driver syncs DMA sg list with different entry count [map count=2] [sync count=1]`);
    next();
    debug_dma_sync_sg_for_device(k, dev, two, DMA_FROM_DEVICE);
    expect(k.debug.errorCount).toBe(1);
  });

  it('an sg list whose first element is unknown is not checked at all (mapped count 0 ends the walk)', () => {
    const { k, dev } = setup();
    debug_dma_sync_sg_for_cpu(k, dev, { segments: [{ phys: 0x10000n, size: 64 }], dma: [{ addr: 0x10000n, len: 64 }] }, DMA_FROM_DEVICE);
    expect(k.debug.errorCount).toBe(0);
  });

  it('a buffer mapped twice: 6.17 finds the perfect "single" match; 6.18 "phy" entries never score 4 against the sync reference', () => {
    for (const [profile, errors] of [['6.17', 0], ['6.18', 1]] as const) {
      const { k, dev, next, map } = setup(profile);
      // to-device, so the double mapping is not also a cacheline overlap
      map(0x300000n, 2048, DMA_TO_DEVICE);
      map(0x300000n, 2048, DMA_TO_DEVICE);
      next();
      debug_dma_sync_single_for_device(k, dev, 0x300000n, 2048, DMA_TO_DEVICE);
      expect(k.debug.errorCount).toBe(errors);
      if (errors) expect(k.out.dmesg[0]).toContain('tries to sync DMA memory it has not allocated [device address=0x0000000000300000]');
    }
  });
});

describe('map-time checks', () => {
  it('debug_dma_map_single: maps memory from invalid area (not RAM), printed as with no_hash_pointers', () => {
    const { k, dev } = setup();
    debug_dma_map_single(k, dev, 0x100000n, 4096);
    expect(k.out.dmesg).toEqual([]);
    debug_dma_map_single(k, dev, 0x3f00000000n, 4096);
    expect(k.out.dmesg[0]).toBe(`${PFX}device driver maps memory from invalid area [addr=ffff88bf00000000] [len=4096]`);
  });

  it('check_sg_segment: mapping sg segment longer than device claims to support (default max_seg_size 64 KiB)', () => {
    const { k, dev } = setup();
    const sg: SgList = { segments: [{ phys: 0x400000n, size: 131072 }], dma: [{ addr: 0x400000n, len: 131072 }] };
    debug_dma_map_sg(k, dev, sg, DMA_TO_DEVICE, 0);
    expect(k.out.dmesg[0]).toBe(`${PFX}mapping sg segment longer than device claims to support [len=131072] [max=65536]`);
    // The entry is still recorded, and no "Mapped at" follows (err_printk with a NULL entry).
    expect(k.debug.entryCount).toBe(1);
    expect(k.out.dmesg).not.toContain('DMA-API: Mapped at:');
  });

  it('check_sg_segment: mapping sg segment across boundary', () => {
    const { k, dev } = setup();
    Object.defineProperty(dev, 'segmentBoundaryMask', { value: 0xffffffffn });
    const sg: SgList = { segments: [{ phys: 0xfffff000n, size: 8192 }], dma: [{ addr: 0xfffff000n, len: 8192 }] };
    debug_dma_map_sg(k, dev, sg, DMA_TO_DEVICE, 0);
    expect(k.out.dmesg[0]).toBe(
      `${PFX}mapping sg segment across boundary [start=0x00000000fffff000] [end=0x0000000100000fff] [boundary=0x00000000ffffffff]`,
    );
  });

  it('check_sg_segment: the boundary test on numbers reports exactly what the u64 formula does (window edges, empty segments, above 2^53)', () => {
    const U64 = (1n << 64n) - 1n;
    const cases: [bigint, number][] = [];
    for (const base of [0n, 0xffff_f000n, 0x1_0000_0000n, 0x7_ffff_f000n, (1n << 53n) - 0x1000n, (1n << 63n) - 0x800n, U64 - 0xfffn]) {
      for (const off of [0n, 0x7ffn, 0x800n, 0xfffn]) for (const len of [0, 1, 0x800, 0x801, 0x1000, 0x1001, 0x2000]) cases.push([BigInt.asUintN(64, base + off), len]);
    }
    for (const [mask, pci] of [[0xffffffffn, true], [U64, false]] as const) {
      for (const [addr, len] of cases) {
        const { k, dev } = setup();
        Object.defineProperty(dev, 'segmentBoundaryMask', { value: mask });
        k.debug.check_sg_segment(dev, len, { addr, len });
        const end = BigInt.asUintN(64, addr + BigInt(len) - 1n);
        const crosses = ((addr ^ end) & ~mask & U64) !== 0n;
        expect(k.out.dmesg.some((l) => l.includes('across boundary')), `${pci ? 'pci' : 'platform'} ${addr.toString(16)}+${len}`).toBe(crosses);
      }
    }
  });

  it('MMIO (DMA_ATTR_MMIO) on RAM: silent in 6.18 as merged (row A5 is the wrapper\'s); reported after the May-2026 fix, entry kept', () => {
    const merged = setup();
    debug_dma_map_phys(merged.k, merged.dev, 0x100000n, 4096, DMA_BIDIRECTIONAL, 0x100000n, DMA_ATTR_MMIO);
    expect(merged.k.out.dmesg).toEqual([]);

    const fixed = setup();
    fixed.k.debug.resourceRamCheck = 'debug';
    debug_dma_map_phys(fixed.k, fixed.dev, 0x3f00000000n, 4096, DMA_BIDIRECTIONAL, 0x3f00000000n, DMA_ATTR_MMIO);
    expect(fixed.k.out.dmesg).toEqual([]);
    debug_dma_map_phys(fixed.k, fixed.dev, 0x100000n, 4096, DMA_BIDIRECTIONAL, 0x100000n, DMA_ATTR_MMIO);
    expect(fixed.k.out.dmesg).toEqual([
      `${PFX}dma_map_resource called for RAM address 0x0000000000100000`,
      'WARNING: CPU: 0 at kernel/dma/debug.c debug_dma_map_phys',
      'DMA-API: Mapped at:',
      ' debug_dma_map_phys',
      ' dma_map_phys',
      ' dmasim event #1 cpu 0',
    ]);
    expect(fixed.k.debug.entryCount).toBe(2);
  });
});

describe('active cacheline tracking (add_dma_entry, active_cacheline_insert/remove)', () => {
  it('cacheline tracking EEXIST for two non-to-device mappings sharing a first cacheline, in both profiles', () => {
    for (const profile of ['6.17', '6.18'] as const) {
      const { k, next, map } = setup(profile);
      map(0x100000n, 64, DMA_FROM_DEVICE);
      next();
      map(0x100020n, 32, DMA_BIDIRECTIONAL);
      expect(k.out.dmesg).toEqual([
        `${PFX}cacheline tracking EEXIST, overlapping mappings aren't supported`,
        'WARNING: CPU: 0 at kernel/dma/debug.c add_dma_entry',
        'DMA-API: Mapped at:',
        profile === '6.18' ? ' debug_dma_map_phys' : ' debug_dma_map_page',
        profile === '6.18' ? ' dma_map_phys' : ' dma_map_page_attrs',
        ' dmasim event #2 cpu 0',
      ]);
    }
  });

  it('no error with DMA_ATTR_SKIP_CPU_SYNC, and to-device mappings are not tracked at all', () => {
    const { k, map } = setup();
    map(0x100000n, 64, DMA_FROM_DEVICE);
    map(0x100000n, 64, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    map(0x100000n, 64, DMA_TO_DEVICE);
    expect(k.debug.errorCount).toBe(0);
    expect(k.debug.cachelines.overlap(0x4000n)).toBe(1);
  });

  it('a coherent buffer and a streaming mapping of its first cacheline overlap', () => {
    const { k, dev, next, map } = setup();
    debug_dma_alloc_coherent(k, dev, 4096, 0xfff00000n, 0x500000n, 0);
    next();
    map(0x500000n, 64, DMA_FROM_DEVICE);
    expect(k.out.dmesg[0]).toBe(`${PFX}cacheline tracking EEXIST, overlapping mappings aren't supported`);
  });

  it('counts overlaps up to 7, warns once when an 8th would not fit, and removes in step', () => {
    const { k, dev, next, map } = setup();
    const cln = 0x100000n >> 6n;
    for (let i = 0; i < 8; i++) {
      map(0x100000n, 64, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
      expect(k.debug.cachelines.overlap(cln)).toBe(i);
    }
    expect(k.out.dmesg).toEqual([]);
    next();
    map(0x100000n, 64, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    expect(k.out.dmesg).toEqual([
      'DMA-API: exceeded 7 overlapping mappings of cacheline 0x0000000000004000',
      'WARNING: CPU: 0 at kernel/dma/debug.c active_cacheline_inc_overlap',
    ]);
    expect(k.debug.cachelines.overlap(cln)).toBe(7);
    next();
    map(0x100000n, 64, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    expect(k.out.dmesg).toEqual([]);
    expect(k.debug.errorCount).toBe(0);
    // Ten mappings, a counter stuck at 7: the node goes after the 8th unmap, two entries early.
    for (let i = 0; i < 8; i++) debug_dma_unmap_phys(k, dev, 0x100000n, 64, DMA_FROM_DEVICE, 0);
    expect(k.debug.cachelines.overlap(cln)).toBeUndefined();
    expect(k.debug.entryCount).toBe(2);
    for (let i = 0; i < 2; i++) debug_dma_unmap_phys(k, dev, 0x100000n, 64, DMA_FROM_DEVICE, 0);
    expect(k.debug.cachelines.size).toBe(0);
    expect(k.debug.errorCount).toBe(0);
  });

  it('an unmap drops the tracking, so the next mapping of that cacheline is clean', () => {
    const { k, dev, map } = setup();
    map(0x100000n, 64, DMA_FROM_DEVICE);
    debug_dma_unmap_phys(k, dev, 0x100000n, 64, DMA_FROM_DEVICE, 0);
    map(0x100000n, 64, DMA_FROM_DEVICE);
    expect(k.debug.errorCount).toBe(0);
  });
});
