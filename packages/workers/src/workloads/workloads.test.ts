// Workloads behave like correct drivers on every path of the default platform (no finding, no
// dma-debug complaint), and each bug knob makes the kernel (dma-debug) or the simulator say so.

import { describe, expect, it } from 'vitest';
import { runStress, WORKLOADS, type BugKnob } from '../index.ts';
import { defaultStressPlatform } from '../platform.ts';
import type { RunFindingKind } from '../coordinator.ts';
import { resolveParams, ParamError, parseSize } from './params.ts';
import { SlotPool } from './common.ts';

async function runAll(workload: string, extra: Record<string, number>, ops = 1500): Promise<{ findings: Partial<Record<RunFindingKind, number>>; debugErrors: number; dmesg: string[]; statuses: string[] }> {
  const plat = defaultStressPlatform(6, 2n);
  plat.config.platform.dmaDebug.allErrors = true;
  const programs = plat.config.devices.map((d) => ({ dev: d.name, program: { kind: 'workload' as const, workload, params: { ops, ...extra } } }));
  const dmesg: string[] = [];
  const r = await runStress({
    config: plat.config, programs, schedule: { mode: 'random', seed: 2n }, threads: 'inline',
    onEvent: (_s, _d, _e, out) => {
      for (const l of out.dmesg) if (l.startsWith('DMA-API:')) dmesg.push(l);
    },
  });
  return { findings: r.findingCounts, debugErrors: r.debugErrors, dmesg, statuses: r.devices.map((d) => d.status) };
}

describe('workloads', () => {
  for (const w of WORKLOADS) {
    it(`${w.name}: a correct driver on direct, strict and lazy IOMMU, legacy ops and a 32-bit device raises nothing`, async () => {
      const r = await runAll(w.name, {});
      expect(r.statuses.every((s) => s === 'ended')).toBe(true);
      expect(r.findings).toEqual({});
      expect(r.dmesg).toEqual([]);
      expect(r.debugErrors).toBe(0);
    });
  }

  // What each knob must provoke: a dma-debug message (substring) or a simulator finding.
  const EXPECT: Record<BugKnob, { dmesg?: string; findings?: RunFindingKind[] }> = {
    leak: { dmesg: 'has pending DMA allocations while released from device' },
    'wrong-unmap-size': { dmesg: 'with different size' },  // sg lists: "with different entry count"
    'wrong-unmap-dir': { dmesg: 'with different direction' },
    'unchecked-map-error': { dmesg: 'failed to check map error' },
    'access-after-unmap': { findings: ['unmapped-access', 'stale-iotlb'] },
    'missing-sync': { findings: ['cpu-owned-violation'] },
    'double-unmap': { dmesg: 'it has not allocated' },
  };
  const cases = WORKLOADS.flatMap((w) => w.bugs.map((b) => [w.name, b] as const))
    // map-sg and coherent allocations never fail here, and only streaming maps have dma_mapping_error().
    .filter(([w, b]) => !(b === 'unchecked-map-error' && (w === 'nvme' || w === 'coherent-rings')));
  it.each(cases)('%s with bug-%s is caught', async (w, bug) => {
    // Rings are freed rarely (every `realloc` exchanges): a higher rate gets a few frees wrong.
    const r = await runAll(w, { [`bug-${bug}`]: w === 'coherent-rings' ? 0.5 : 0.05 });
    const e = EXPECT[bug];
    const text = w === 'nvme' && bug === 'wrong-unmap-size' ? 'with different entry count' : e.dmesg;
    if (text) expect(r.dmesg.some((l) => l.includes(text)), r.dmesg.slice(0, 3).join('\n')).toBe(true);
    if (e.findings) expect(e.findings.some((k) => (r.findings[k] ?? 0) > 0), JSON.stringify(r.findings)).toBe(true);
  });

  it('parameters are checked and sizes parsed', () => {
    expect(parseSize('2KiB')).toBe(2048);
    expect(parseSize('0x800')).toBe(2048);
    const nicRx = WORKLOADS.find((w) => w.name === 'nic-rx')!;
    expect(resolveParams('t', nicRx.params, { buffer: '4KiB', ring: 16n }).buffer).toBe(4096);
    expect(() => resolveParams('workload nic-rx', nicRx.params, { rings: 4 })).toThrow(ParamError);
    expect(() => resolveParams('workload nic-rx', nicRx.params, { recycle: 'never' })).toThrow(/expected one of unmap, sync/);
    expect(() => resolveParams('workload nic-rx', nicRx.params, { 'bug-leak': 2 })).toThrow(/at most 1/);
  });
});

describe('SlotPool', () => {
  it('hands out slots in order, a given-back one first (LIFO), and runs dry at its size', () => {
    const pool = new SlotPool(0x1000n, 4n * 256n, 256);
    expect(pool.slots).toBe(4);
    expect([pool.take(), pool.take()]).toEqual([0, 1]);
    pool.give(0);
    pool.give(1);
    expect(pool.available).toBe(4);
    expect([pool.take(), pool.take(), pool.take(), pool.take(), pool.take()]).toEqual([1, 0, 2, 3, undefined]);
    expect(pool.available).toBe(0);
    pool.give(3);
    expect([pool.take(), pool.take()]).toEqual([3, undefined]);
    expect(pool.phys(2, 8)).toBe(0x1000n + 2n * 256n + 8n);
  });
});
