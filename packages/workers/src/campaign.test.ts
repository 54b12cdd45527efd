// A PCT campaign hunts an injected use-after-unmap on a lazy (flush-queue) IOMMU domain: the first
// failing seed is reported with its log, and that seed alone reproduces the same log with threads.

import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { replay } from '@dmasim/core';
import { parseSeedRange, runCampaign, runStress } from './index.ts';
import { platformWith, tmpDir } from './testing/setups.ts';

describe('campaign', () => {
  it('finds a rare use-after-unmap in lazy mode within 200 PCT seeds; the seed reproduces it', async () => {
    const { config, programs } = platformWith(4, 400);
    const lazy = programs.filter((p) => config.devices.find((d) => d.name === p.dev)!.domain === 'D1');
    expect(lazy.map((p) => p.program.kind === 'workload' && p.program.workload)).toEqual(['nic-tx', 'gpu-p2p']);
    // The driver of the NIC re-reads a TX buffer after unmapping it, about once every 2000 packets.
    const buggy = lazy[0]!;
    if (buggy.program.kind !== 'workload') throw new Error('expected a workload');
    buggy.program.params['bug-access-after-unmap'] = 0.0005;
    const outDir = tmpDir('campaign');
    const res = await runCampaign({
      task: { config, programs: lazy, mode: 'pct', depth: 3, keepLog: false, failOn: 'findings' },
      seeds: parseSeedRange('1..200'), outDir, jobs: 2, stopOnFirst: true,
    });
    expect(res.failing.length).toBeGreaterThan(0);
    const first = res.failing[0]!;
    expect(first.seed).toBeLessThanOrEqual(200n);
    // Seeds before it ran clean, and their logs were not kept.
    for (const r of res.results.filter((x) => x.seed < first.seed)) {
      expect(r.failed).toBe(false);
      expect(existsSync(join(outDir, `seed-${r.seed}.dmalog`))).toBe(false);
    }
    const kinds = Object.keys(first.findingCounts);
    expect(kinds.some((k) => k === 'stale-iotlb' || k === 'unmapped-access'), kinds.join()).toBe(true);
    expect(first.firstFindings.find((f) => f.kind === 'stale-iotlb' || f.kind === 'unmapped-access')!.dev).toBe(buggy.dev);
    expect(first.logPath).toBe(join(outDir, `seed-${first.seed}.dmalog`));
    expect(replay(first.logPath!).verdict).toBe('identical');

    // Reproduce from (setup, seed, schedule) alone, now with a worker thread per device.
    const again = await runStress({
      config: { ...config, seed: first.seed }, programs: lazy, schedule: { mode: 'pct', seed: first.seed, depth: 3 },
      threads: 2, out: join(tmpDir('repro'), 'repro.dmalog'),
    });
    expect(again.logHash).toBe(first.logHash);
    expect(again.findingCounts).toEqual(first.findingCounts);
  });

  it('parses seed ranges', () => {
    expect(parseSeedRange('3..5')).toEqual([3n, 4n, 5n]);
    expect(parseSeedRange('7')).toEqual([7n]);
    expect(() => parseSeedRange('5..3')).toThrow(/empty/);
    expect(() => parseSeedRange('a..b')).toThrow(/expected A..B/);
  });
});
