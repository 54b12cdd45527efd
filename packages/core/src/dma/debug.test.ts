// dma-debug entries, check_unmap, dma_mapping_error, the error budget, the unbind leak report,
// debugfs dump and the state hash, driven through the hooks directly (kernel/dma/debug.c, §7).

import { describe, expect, it } from 'vitest';
import type { Profile } from '../config.ts';
import { emptyOutcome, type SgList } from '../events.ts';
import { Hasher } from '../util/hash.ts';
import { testMachine } from '../testing.ts';
import { DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE } from './defs.ts';
import {
  debug_dma_alloc_coherent,
  debug_dma_free_coherent,
  debug_dma_map_page,
  debug_dma_map_phys,
  debug_dma_map_resource,
  debug_dma_map_sg,
  debug_dma_mapping_error,
  debug_dma_unbind,
  debug_dma_unmap_page,
  debug_dma_unmap_phys,
  debug_dma_unmap_resource,
  debug_dma_unmap_sg,
  hash_fn,
} from './debug.ts';

const PFX = 'DMA-API: mlx5_core 0000:01:00.0: ';

function setup(profile: Profile = '6.18', dmaDebug = { enabled: true, numErrors: 1, allErrors: false }) {
  const m = testMachine({ profile, devices: [{ driver: 'mlx5_core' }, { driver: 'nvme' }], platform: { dmaDebug } });
  const k = m.k;
  const dev = k.deviceList[0]!;
  const other = k.deviceList[1]!;
  /** Starts the next event: a fresh outcome and sequence number, as Machine.apply does. */
  const next = (cpu = 0) => {
    k.seq++;
    k.cpu = cpu;
    k.out = emptyOutcome(0);
    return k.out;
  };
  next();
  return { m, k, dev, other, next };
}

describe('dma-debug entries (debug_dma_map_phys / debug_dma_map_page / debug_dma_map_resource)', () => {
  it('6.18 records every dma_map_phys mapping as type phy, not checked, and dumps it as dump_show prints it', () => {
    const { k, dev } = setup('6.18');
    debug_dma_map_phys(k, dev, 0x100040n, 4096, DMA_FROM_DEVICE, 0x100040n, 0);
    expect(k.out.ran.debug).toBe(true);
    expect(k.debug.entryCount).toBe(1);
    expect(k.debug.dump()).toEqual([
      'mlx5_core 0000:01:00.0 phy idx 128 P=0x0000000000100040 D=100040 L=1000 cln=0x0000000000004001 DMA_FROM_DEVICE dma map error not checked',
    ]);
  });

  it('a freed entry is reused for the next mapping, with every field its own, while 4096 or more are live (dma_entry_free / dma_entry_alloc)', () => {
    const { k, dev, other, next } = setup('6.18');
    const entryAt = (d: typeof dev, addr: bigint, size: number) => k.debug.hash.bucket_find_exact({ dev: d, type: 'phy', paddr: 0n, devAddr: addr, size, direction: DMA_TO_DEVICE, sgCallEnts: 0 });
    const cycle = () => {
      next();
      debug_dma_map_phys(k, dev, 0x100040n, 4096, DMA_FROM_DEVICE, 0x100040n, 0);
      const first = entryAt(dev, 0x100040n, 4096)!;
      debug_dma_mapping_error(k, dev, 0x100040n);
      next();
      debug_dma_unmap_phys(k, dev, 0x100040n, 4096, DMA_FROM_DEVICE, 0);
      next(1);
      const sg: SgList = { segments: [{ phys: 0x300000n, size: 512 }], dma: [{ addr: 0x7000n, len: 512 }] };
      debug_dma_map_sg(k, other, sg, DMA_TO_DEVICE, 0);
      const again = entryAt(other, 0x7000n, 512)!;
      const { bPrev: _p, bNext, dPrev, dNext, ...fields } = again;
      expect(fields).toEqual({
        dev: other, type: 'scatter-gather', paddr: 0x300000n, devAddr: 0x7000n, size: 512, direction: DMA_TO_DEVICE,
        sgCallEnts: 1, sgMappedEnts: 1, mapErrType: 0, hook: 'debug_dma_map_sg', api: '__dma_map_sg_attrs', seq: k.seq, cpu: 1,
        devAddrN: 0x7000,
      });
      expect([bNext, dPrev, dNext]).toEqual([null, again, null]); // the last of its bucket, the only one of its device there
      debug_dma_unmap_sg(k, other, sg, DMA_TO_DEVICE);
      return { first, again };
    };
    // A few live: a new object each time.
    const few = cycle();
    expect(few.again).not.toBe(few.first);
    // 4096 more live (one page each, far from the others): the freed entry is refilled.
    for (let i = 0; i < 4096; i++) debug_dma_map_phys(k, dev, 0x4000_0000n + BigInt(i) * 4096n, 64, DMA_TO_DEVICE, 0x4000_0000n + BigInt(i) * 4096n, 0);
    const many = cycle();
    expect(many.again).toBe(many.first);
    expect(k.debug.dump().filter((l) => l.includes('scatter-gather'))).toEqual([]);
    expect(k.debug.entryCount).toBe(4096);
  });

  it('6.17 records dma_map_page_attrs as single and dma_map_resource as resource', () => {
    const { k, dev } = setup('6.17');
    debug_dma_map_page(k, dev, 0x200000n, 512, DMA_TO_DEVICE, 0x200000n, 0);
    debug_dma_map_resource(k, dev, 0xfe000000n, 256, DMA_BIDIRECTIONAL, 0xfe000000n, 0);
    expect(k.debug.dump()).toEqual([
      'mlx5_core 0000:01:00.0 single idx 256 P=0x0000000000200000 D=200000 L=200 cln=0x0000000000008000 DMA_TO_DEVICE dma map error not checked',
      'mlx5_core 0000:01:00.0 resource idx 12288 P=0x00000000fe000000 D=fe000000 L=100 cln=0x0000000003f80000 DMA_BIDIRECTIONAL dma map error not checked',
    ]);
  });

  it('hash_fn is (dev_addr >> 13) & 16383', () => {
    expect(hash_fn(0x1fffn)).toBe(0);
    expect(hash_fn(0x2000n)).toBe(1);
    expect(hash_fn(0x7fffe000n)).toBe(16383);
    expect(hash_fn(0x80000000n)).toBe(0);
    expect(hash_fn(DMA_MAPPING_ERROR)).toBe(16383);
  });

  it('records nothing for a DMA_MAPPING_ERROR address (Decision table D column: "only ever for a non-error address")', () => {
    for (const profile of ['6.17', '6.18'] as const) {
      const { k, dev } = setup(profile);
      if (profile === '6.18') debug_dma_map_phys(k, dev, 0x1000n, 64, DMA_TO_DEVICE, DMA_MAPPING_ERROR, 0);
      else debug_dma_map_page(k, dev, 0x1000n, 64, DMA_TO_DEVICE, DMA_MAPPING_ERROR, 0);
      expect(k.debug.entryCount).toBe(0);
      expect(k.out.ran.debug).toBe(false);
    }
  });

  it('row D6: 6.17 debug_dma_map_resource records a resource entry at DMA_MAPPING_ERROR, which leaks at unbind', () => {
    const { k, dev, next } = setup('6.17');
    debug_dma_map_resource(k, dev, 0xfe000000n, 4096, DMA_BIDIRECTIONAL, DMA_MAPPING_ERROR, 0);
    expect(k.out.ran.debug).toBe(true);
    expect(k.debug.entryCount).toBe(1);
    next();
    debug_dma_unbind(k, dev);
    expect(k.out.dmesg.slice(0, 2)).toEqual([
      'DMA-API: pci 0000:01:00.0: device driver has pending DMA allocations while released from device [count=1]',
      'One of leaked entries details: [device address=0xffffffffffffffff] [size=4096 bytes] [mapped with DMA_BIDIRECTIONAL] [mapped as resource]',
    ]);
  });

  it('sg: one entry per mapped segment, paddr of the input element at the same index (debug_dma_map_sg)', () => {
    const { k, dev } = setup();
    const sg: SgList = {
      segments: [
        { phys: 0x10000n, size: 4096 },
        { phys: 0x30000n, size: 4096 },
      ],
      dma: [
        { addr: 0x10000n, len: 4096 },
        { addr: 0x30000n, len: 4096 },
      ],
    };
    debug_dma_map_sg(k, dev, sg, DMA_TO_DEVICE, 0);
    expect(k.debug.dump()).toEqual([
      'mlx5_core 0000:01:00.0 scatter-gather idx 8 P=0x0000000000010000 D=10000 L=1000 cln=0x0000000000000400 DMA_TO_DEVICE dma map error check not applicable',
      'mlx5_core 0000:01:00.0 scatter-gather idx 24 P=0x0000000000030000 D=30000 L=1000 cln=0x0000000000000c00 DMA_TO_DEVICE dma map error check not applicable',
    ]);
  });

  it('coherent: page-aligned paddr, bidirectional, check not applicable; a failed allocation records nothing', () => {
    const { k, dev } = setup();
    debug_dma_alloc_coherent(k, dev, 8192, 0xfff00000n, 0x5000n, 0);
    debug_dma_alloc_coherent(k, dev, 8192, DMA_MAPPING_ERROR, null, 0);
    expect(k.debug.dump()).toEqual([
      `mlx5_core 0000:01:00.0 coherent idx ${hash_fn(0xfff00000n)} P=0x0000000000005000 D=fff00000 L=2000 cln=0x0000000000000140 DMA_BIDIRECTIONAL dma map error check not applicable`,
    ]);
  });
});

describe('check_unmap (kernel/dma/debug.c), one test per check', () => {
  it('1. tries to free an invalid DMA memory address: no entry, DMA_MAPPING_ERROR, no "Mapped at"', () => {
    const { k, dev } = setup();
    debug_dma_unmap_phys(k, dev, DMA_MAPPING_ERROR, 4096, DMA_TO_DEVICE, 0);
    expect(k.out.dmesg).toEqual([`${PFX}device driver tries to free an invalid DMA memory address`, 'WARNING: CPU: 0 at kernel/dma/debug.c check_unmap']);
    expect(k.debug.errorCount).toBe(1);
  });

  it('2. tries to free DMA memory it has not allocated', () => {
    const { k, dev } = setup();
    debug_dma_unmap_phys(k, dev, 0x12345000n, 2048, DMA_FROM_DEVICE, 0);
    expect(k.out.dmesg[0]).toBe(`${PFX}device driver tries to free DMA memory it has not allocated [device address=0x0000000012345000] [size=2048 bytes]`);
  });

  it('2b. another device\'s mapping at the same address is "not allocated" (exact_match compares dev)', () => {
    const { k, dev, other, next } = setup();
    debug_dma_map_phys(k, other, 0x40000n, 4096, DMA_TO_DEVICE, 0x40000n, 0);
    next();
    debug_dma_unmap_phys(k, dev, 0x40000n, 4096, DMA_TO_DEVICE, 0);
    expect(k.out.dmesg[0]).toContain('device driver tries to free DMA memory it has not allocated [device address=0x0000000000040000]');
    expect(k.debug.entryCount).toBe(1);
  });

  it('3. frees DMA memory with different size, with the entry\'s map site under "Mapped at:"', () => {
    const { k, dev, next } = setup();
    debug_dma_map_phys(k, dev, 0x80000n, 1536, DMA_FROM_DEVICE, 0x80000n, 0);
    debug_dma_mapping_error(k, dev, 0x80000n);
    next(2);
    debug_dma_unmap_phys(k, dev, 0x80000n, 2048, DMA_FROM_DEVICE, 0);
    expect(k.out.dmesg).toEqual([
      `${PFX}device driver frees DMA memory with different size [device address=0x0000000000080000] [map size=1536 bytes] [unmap size=2048 bytes]`,
      'WARNING: CPU: 2 at kernel/dma/debug.c check_unmap',
      'DMA-API: Mapped at:',
      ' debug_dma_map_phys',
      ' dma_map_phys',
      ' dmasim event #1 cpu 0',
    ]);
  });

  it('4. wrong function, 6.17: a resource unmapped with dma_unmap_page', () => {
    const { k, dev, next } = setup('6.17');
    debug_dma_map_resource(k, dev, 0xfe000000n, 4096, DMA_BIDIRECTIONAL, 0xfe000000n, 0);
    debug_dma_mapping_error(k, dev, 0xfe000000n);
    next();
    debug_dma_unmap_page(k, dev, 0xfe000000n, 4096, DMA_BIDIRECTIONAL);
    expect(k.out.dmesg[0]).toBe(
      `${PFX}device driver frees DMA memory with wrong function [device address=0x00000000fe000000] [size=4096 bytes] [mapped as resource] [unmapped as single]`,
    );
    expect(k.debug.entryCount).toBe(0);
  });

  it('4. wrong function, 6.18: the same driver bug is silent (both are phy), a coherent buffer freed with dma_unmap_phys is not', () => {
    const { k, dev, next } = setup('6.18');
    debug_dma_map_phys(k, dev, 0xfe000000n, 4096, DMA_BIDIRECTIONAL, 0xfe000000n, 1 << 10);
    debug_dma_mapping_error(k, dev, 0xfe000000n);
    next();
    debug_dma_unmap_phys(k, dev, 0xfe000000n, 4096, DMA_BIDIRECTIONAL, 0);
    expect(k.out.dmesg).toEqual([]);
    next();
    debug_dma_alloc_coherent(k, dev, 4096, 0xfff00000n, 0x300000n, 0);
    next();
    debug_dma_unmap_phys(k, dev, 0xfff00000n, 4096, DMA_BIDIRECTIONAL, 0);
    expect(k.out.dmesg[0]).toBe(
      `${PFX}device driver frees DMA memory with wrong function [device address=0x00000000fff00000] [size=4096 bytes] [mapped as coherent] [unmapped as phy]`,
    );
  });

  it('5. frees DMA memory with different CPU address (the kernel\'s "0x%pa" prints 0x twice)', () => {
    const { k, dev, next } = setup();
    debug_dma_alloc_coherent(k, dev, 4096, 0xfff00000n, 0x300000n, 0);
    next();
    debug_dma_free_coherent(k, dev, 4096, 0x301000n, 0xfff00000n);
    expect(k.out.dmesg[0]).toBe(
      `${PFX}device driver frees DMA memory with different CPU address [device address=0x00000000fff00000] [size=4096 bytes] [cpu alloc address=0x0x0000000000300000] [cpu free address=0x0x0000000000301000]`,
    );
  });

  it('6. frees DMA sg list with different entry count', () => {
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
    debug_dma_map_sg(k, dev, two, DMA_TO_DEVICE, 0);
    next();
    // The driver unmaps with the count dma_map_sg returned after building a one-element list.
    const one: SgList = { segments: [two.segments[0]!], dma: [two.dma[0]!] };
    debug_dma_unmap_sg(k, dev, one, DMA_TO_DEVICE);
    expect(k.out.dmesg[0]).toBe(`${PFX}device driver frees DMA sg list with different entry count [map count=2] [unmap count=1]`);
    expect(k.debug.entryCount).toBe(1);
  });

  it('7. frees DMA memory with different direction', () => {
    const { k, dev, next } = setup();
    debug_dma_map_phys(k, dev, 0x80000n, 4096, DMA_TO_DEVICE, 0x80000n, 0);
    debug_dma_mapping_error(k, dev, 0x80000n);
    next();
    debug_dma_unmap_phys(k, dev, 0x80000n, 4096, DMA_FROM_DEVICE, 0);
    expect(k.out.dmesg[0]).toBe(
      `${PFX}device driver frees DMA memory with different direction [device address=0x0000000000080000] [size=4096 bytes] [mapped with DMA_TO_DEVICE] [unmapped with DMA_FROM_DEVICE]`,
    );
  });

  it('8. failed to check map error, 6.18 (phy) and 6.17 (single); no space before the first "["', () => {
    const a = setup('6.18');
    debug_dma_map_phys(a.k, a.dev, 0x80000n, 4096, DMA_TO_DEVICE, 0x80000n, 0);
    a.next();
    debug_dma_unmap_phys(a.k, a.dev, 0x80000n, 4096, DMA_TO_DEVICE, 0);
    expect(a.k.out.dmesg[0]).toBe(`${PFX}device driver failed to check map error[device address=0x0000000000080000] [size=4096 bytes] [mapped as phy]`);
    const b = setup('6.17');
    debug_dma_map_page(b.k, b.dev, 0x80000n, 4096, DMA_TO_DEVICE, 0x80000n, 0);
    b.next();
    debug_dma_unmap_page(b.k, b.dev, 0x80000n, 4096, DMA_TO_DEVICE);
    expect(b.k.out.dmesg[0]).toBe(`${PFX}device driver failed to check map error[device address=0x0000000000080000] [size=4096 bytes] [mapped as single]`);
  });

  it('the entry is removed even when errors were found; a second unmap is "not allocated"', () => {
    const { k, dev, next } = setup('6.18', { enabled: true, numErrors: 10, allErrors: false });
    debug_dma_map_phys(k, dev, 0x80000n, 4096, DMA_TO_DEVICE, 0x80000n, 0);
    next();
    debug_dma_unmap_phys(k, dev, 0x80000n, 1024, DMA_FROM_DEVICE, 0);
    expect(k.debug.errorCount).toBe(3); // size, direction, unchecked
    expect(k.debug.entryCount).toBe(0);
    next();
    debug_dma_unmap_phys(k, dev, 0x80000n, 4096, DMA_TO_DEVICE, 0);
    expect(k.out.dmesg[0]).toContain('tries to free DMA memory it has not allocated');
  });

  it('best fit: two entries at one address, the perfect match is removed; none perfect = not found', () => {
    const { k, dev, next } = setup('6.18', { enabled: true, numErrors: 10, allErrors: false });
    debug_dma_map_phys(k, dev, 0x80000n, 4096, DMA_TO_DEVICE, 0x80000n, 0);
    debug_dma_map_phys(k, dev, 0x80000n, 2048, DMA_TO_DEVICE, 0x80000n, 0);
    debug_dma_mapping_error(k, dev, 0x80000n);
    debug_dma_mapping_error(k, dev, 0x80000n);
    next();
    debug_dma_unmap_phys(k, dev, 0x80000n, 2048, DMA_TO_DEVICE, 0);
    expect(k.out.dmesg).toEqual([]);
    expect(k.debug.dump()[0]).toContain(' L=1000 ');
    debug_dma_map_phys(k, dev, 0x80000n, 2048, DMA_TO_DEVICE, 0x80000n, 0);
    next();
    debug_dma_unmap_phys(k, dev, 0x80000n, 1024, DMA_TO_DEVICE, 0);
    expect(k.out.dmesg[0]).toContain('tries to free DMA memory it has not allocated [device address=0x0000000000080000] [size=1024 bytes]');
    expect(k.debug.entryCount).toBe(2);
  });
});

describe('debug_dma_mapping_error', () => {
  it('clears the "not checked" state, so the unmap is clean (both profiles)', () => {
    for (const profile of ['6.17', '6.18'] as const) {
      const { k, dev, next } = setup(profile);
      if (profile === '6.18') debug_dma_map_phys(k, dev, 0x80000n, 4096, DMA_TO_DEVICE, 0x80000n, 0);
      else debug_dma_map_page(k, dev, 0x80000n, 4096, DMA_TO_DEVICE, 0x80000n, 0);
      next();
      debug_dma_mapping_error(k, dev, 0x80000n);
      expect(k.debug.dump()[0]).toMatch(/ dma map error checked$/);
      next();
      if (profile === '6.18') debug_dma_unmap_phys(k, dev, 0x80000n, 4096, DMA_TO_DEVICE, 0);
      else debug_dma_unmap_page(k, dev, 0x80000n, 4096, DMA_TO_DEVICE);
      expect(k.out.dmesg).toEqual([]);
      expect(k.debug.errorCount).toBe(0);
    }
  });

  it('marks only the first unchecked exact match; a second map of the same address marks the first itself', () => {
    const { k, dev } = setup();
    debug_dma_map_phys(k, dev, 0x80000n, 4096, DMA_TO_DEVICE, 0x80000n, 0);
    // debug_dma_map_phys calls dma_mapping_error(), which tells dma-debug the first entry was checked.
    debug_dma_map_phys(k, dev, 0x80000n, 4096, DMA_TO_DEVICE, 0x80000n, 0);
    expect(k.debug.dump().map((l) => l.endsWith('dma map error checked'))).toEqual([true, false]);
    debug_dma_mapping_error(k, dev, 0x80000n);
    expect(k.debug.dump().every((l) => l.endsWith('dma map error checked'))).toBe(true);
  });
});

describe('error budget (err_printk: num_errors, all_errors, error_count)', () => {
  it('two errors, default num_errors=1: the first is printed, both are counted', () => {
    const { k, dev, next } = setup();
    debug_dma_unmap_phys(k, dev, 0x1000n, 64, DMA_TO_DEVICE, 0);
    expect(k.out.dmesg).toHaveLength(2);
    next();
    debug_dma_unmap_phys(k, dev, 0x2000n, 64, DMA_TO_DEVICE, 0);
    expect(k.out.dmesg).toEqual([]);
    expect(k.debug.errorCount).toBe(2);
  });

  it('num_errors=0 prints nothing; num_errors=2 prints two; all_errors prints all', () => {
    const cases = [
      [{ enabled: true, numErrors: 0, allErrors: false }, 0],
      [{ enabled: true, numErrors: 2, allErrors: false }, 2],
      [{ enabled: true, numErrors: 0, allErrors: true }, 3],
    ] as const;
    for (const [cfg, printed] of cases) {
      const { k, dev } = setup('6.18', { ...cfg });
      for (let i = 1; i <= 3; i++) debug_dma_unmap_phys(k, dev, BigInt(i) << 20n, 64, DMA_TO_DEVICE, 0);
      expect(k.out.dmesg.filter((l) => l.startsWith('DMA-API: '))).toHaveLength(printed);
      expect(k.debug.errorCount).toBe(3);
    }
  });

  it('disabled dma-debug records and reports nothing', () => {
    const { k, dev } = setup('6.18', { enabled: false, numErrors: 1, allErrors: false });
    debug_dma_map_phys(k, dev, 0x80000n, 4096, DMA_TO_DEVICE, 0x80000n, 0);
    debug_dma_unmap_phys(k, dev, 0x90000n, 4096, DMA_TO_DEVICE, 0);
    debug_dma_unbind(k, dev);
    expect(k.debug.entryCount).toBe(0);
    expect(k.debug.errorCount).toBe(0);
    expect(k.out.dmesg).toEqual([]);
  });
});

describe('unbind leak report (dma_debug_device_change, BUS_NOTIFY_UNBOUND_DRIVER)', () => {
  it('counts the device\'s entries and details the last one met walking buckets 0..16383, under the bus name', () => {
    const { k, dev, other, next } = setup();
    // Mapped in this order; buckets 80, 8, 80 (second in list), 200; the other device's in 300.
    debug_dma_map_phys(k, dev, 0xa0000n, 4096, DMA_TO_DEVICE, 0xa0000n, 0);
    debug_dma_map_phys(k, dev, 0x10000n, 4096, DMA_TO_DEVICE, 0x10000n, 0);
    debug_dma_map_phys(k, dev, 0x190000n, 512, DMA_FROM_DEVICE, 0x190000n, 0);
    debug_dma_alloc_coherent(k, dev, 8192, 0xa1000n, 0x700000n, 0);
    debug_dma_map_phys(k, other, 0x258000n, 4096, DMA_TO_DEVICE, 0x258000n, 0);
    expect([0xa0000n, 0x10000n, 0x190000n, 0xa1000n].map(hash_fn)).toEqual([80, 8, 200, 80]);
    next(1);
    debug_dma_unbind(k, dev);
    expect(k.out.dmesg).toEqual([
      'DMA-API: pci 0000:01:00.0: device driver has pending DMA allocations while released from device [count=4]',
      'One of leaked entries details: [device address=0x0000000000190000] [size=512 bytes] [mapped with DMA_FROM_DEVICE] [mapped as phy]',
      'WARNING: CPU: 1 at kernel/dma/debug.c dma_debug_device_change',
      'DMA-API: Mapped at:',
      ' debug_dma_map_phys',
      ' dma_map_phys',
      ' dmasim event #1 cpu 0',
    ]);
    expect(k.debug.errorCount).toBe(1);
    // The kernel keeps the entries; dump now names the bus, as dev_driver_string() does.
    expect(k.debug.entryCount).toBe(5);
    expect(k.debug.dump()[0]).toMatch(/^pci 0000:01:00.0 phy idx 8 /);
  });

  it('picks the later of two entries in the same last bucket', () => {
    const { k, dev } = setup();
    debug_dma_map_phys(k, dev, 0x4000n, 64, DMA_TO_DEVICE, 0x4000n, 0);
    debug_dma_map_phys(k, dev, 0x5000n, 128, DMA_TO_DEVICE, 0x5000n, 0);
    debug_dma_map_phys(k, dev, 0x3000n, 256, DMA_TO_DEVICE, 0x3000n, 0);
    debug_dma_unbind(k, dev);
    expect(k.out.dmesg[1]).toContain('[device address=0x0000000000005000] [size=128 bytes]');
  });

  it('a device without entries reports nothing; a non-PCI device reports under "platform"', () => {
    const m = testMachine({ devices: [{ name: 'fe300000.mmc', driver: 'sdhci-iproc', pci: false }] });
    const k = m.k;
    k.out = emptyOutcome(0);
    const dev = k.deviceList[0]!;
    debug_dma_unbind(k, dev);
    expect(k.out.dmesg).toEqual([]);
    debug_dma_map_phys(k, dev, 0x4000n, 64, DMA_TO_DEVICE, 0x4000n, 0);
    debug_dma_unbind(k, dev);
    expect(k.out.dmesg[0]).toBe('DMA-API: platform fe300000.mmc: device driver has pending DMA allocations while released from device [count=1]');
  });
});

describe('state hash and pool', () => {
  const digest = (k: ReturnType<typeof setup>['k']) => {
    const h = new Hasher();
    k.debug.hashInto(h);
    return h.digest();
  };

  it('is independent of the order entries reached different buckets, and changes with the state', () => {
    const a = setup();
    const b = setup();
    debug_dma_map_phys(a.k, a.dev, 0x10000n, 4096, DMA_FROM_DEVICE, 0x10000n, 0);
    debug_dma_map_phys(a.k, a.dev, 0x90000n, 4096, DMA_FROM_DEVICE, 0x90000n, 0);
    debug_dma_map_phys(b.k, b.dev, 0x90000n, 4096, DMA_FROM_DEVICE, 0x90000n, 0);
    debug_dma_map_phys(b.k, b.dev, 0x10000n, 4096, DMA_FROM_DEVICE, 0x10000n, 0);
    expect(digest(a.k)).toBe(digest(b.k));
    debug_dma_mapping_error(b.k, b.dev, 0x10000n);
    expect(digest(a.k)).not.toBe(digest(b.k));
  });

  it('grows the entry pool a page at a time and says so when it passes 200% (__dma_entry_alloc_check_leak)', () => {
    const { k, dev } = setup();
    for (let i = 0; i < 131072; i++) debug_dma_map_phys(k, dev, 0n, 64, DMA_TO_DEVICE, BigInt(i) << 6n, 0);
    expect(k.debug.entryCount).toBe(131072);
    expect(k.debug.nrTotalEntries).toBe(131072);
    expect(k.out.dmesg).toEqual(['DMA-API: dma_debug_entry pool grown to 131072 (200%)']);
  });
});

describe('6.17 resource unmap', () => {
  it('dma_unmap_resource of a checked resource entry is clean', () => {
    const { k, dev, next } = setup('6.17');
    debug_dma_map_resource(k, dev, 0xfe000000n, 4096, DMA_TO_DEVICE, 0xfe000000n, 0);
    debug_dma_mapping_error(k, dev, 0xfe000000n);
    next();
    debug_dma_unmap_resource(k, dev, 0xfe000000n, 4096, DMA_TO_DEVICE);
    expect(k.out.dmesg).toEqual([]);
    expect(k.debug.entryCount).toBe(0);
  });
});
