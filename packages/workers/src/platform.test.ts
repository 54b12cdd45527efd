import { defaultPlatform, type MachineConfig } from '@dmasim/core';
import { describe, expect, it } from 'vitest';
import { defaultStressPlatform, deviceRegions } from './platform.ts';

const MiB = 1n << 20n;
const GiB = 1n << 30n;
/** dma-debug's bucket of a bus address (hash_fn: 16384 buckets of 8 KiB, repeating every 128 MiB). */
const bucket = (a: bigint): number => Number((a >> 13n) & 16383n);

describe('deviceRegions', () => {
  for (const n of [1, 2, 3, 8, 16, 33, 64, 250]) {
    it(`${n} devices: disjoint windows in the upper half of RAM, above 4 GiB, the same every time`, () => {
      const cfg = defaultStressPlatform(n, 1n).config;
      const r = deviceRegions(cfg, n);
      expect(r).toHaveLength(n);
      expect(deviceRegions(cfg, n)).toEqual(r);
      for (let i = 0; i < n; i++) {
        const w = r[i]!;
        expect(w.base >= 4n * GiB).toBe(true);
        expect(w.base + w.size <= 8n * GiB).toBe(true);
        expect(w.base % 8192n).toBe(0n);
        // Every workload needs room for its buffers (nvme: up to 32 requests of 128 KiB).
        expect(w.size >= 16n * MiB).toBe(true);
        if (i > 0) expect(w.base >= r[i - 1]!.base + r[i - 1]!.size).toBe(true);
      }
    });
  }

  it('spreads the windows over dma-debug\'s hash: 64 devices start 2 MiB apart in the 128 MiB bucket cycle', () => {
    const cfg = defaultStressPlatform(64, 1n).config;
    const starts = deviceRegions(cfg, 64).map((w) => bucket(w.base)).sort((a, b) => a - b);
    expect(new Set(starts).size).toBe(64);
    for (let i = 1; i < 64; i++) expect(starts[i]! - starts[i - 1]!).toBe(256);
    // With 8 (and 2) devices too: no two windows start in the same bucket.
    for (const n of [2, 8]) expect(new Set(deviceRegions(defaultStressPlatform(n, 1n).config, n).map((w) => bucket(w.base))).size).toBe(n);
  });

  it('small RAM: windows still fit, page-aligned, and no device is left without one', () => {
    const cfg: MachineConfig = { profile: '6.18', seed: 1n, platform: { ...defaultPlatform(), ram: [{ base: 0n, size: 64n * MiB }] }, domains: [], devices: [] };
    for (const n of [1, 4, 64]) {
      const r = deviceRegions(cfg, n);
      expect(r).toHaveLength(n);
      const last = r[n - 1]!;
      expect(last.base + last.size <= 64n * MiB).toBe(true);
      for (const w of r) expect(w.size > 0n && w.base % 4096n === 0n).toBe(true);
    }
  });
});
