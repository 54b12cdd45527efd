// Smoke test of the benchmark harness (bench/): every figure's code runs on a tiny plan and yields
// well-formed results (replays identical, counts consistent). No timing is asserted: speed is
// measured by `pnpm bench`, never by a test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultPlan, runBench } from '../bench/bench.ts';
import { MIX_NAMES, MIXES } from '../bench/mixes.ts';
import { MULTI_QUEUE, parseQueues } from '../packages/workers/src/index.ts';
import { render } from '../bench/report.ts';
import { recordMix, timeCeiling, timeDecode, timeReplay } from '../bench/replay-figures.ts';

const dir = mkdtempSync(join(tmpdir(), 'dmasim-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench harness', () => {
  it('builds every mix from workloads on the devices it names', () => {
    for (const name of MIX_NAMES) {
      const { config, programs } = MIXES[name].build(8, 100, 1n);
      expect(config.devices).toHaveLength(8);
      expect(programs.map((p) => p.dev)).toEqual(config.devices.map((d) => d.name));
      if (name.startsWith('iommu')) expect(config.devices.every((d) => d.dma === 'iommu')).toBe(true);
      if (name === 'swiotlb-heavy') expect(config.devices.every((d) => d.mask === 32)).toBe(true);
    }
  });

  it('runs every role of a mix in the same proportions at every device count', () => {
    // Calls budgeted per role (workload and parameters), a multi-queue device's split among its queues.
    const shares = (name: (typeof MIX_NAMES)[number], n: number): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const { program: p } of MIXES[name].build(n, 1200, 1n).programs) {
        if (p.kind !== 'workload') throw new Error('a mix runs workloads');
        const { ops, ...params } = p.params;
        const queues = p.workload === MULTI_QUEUE ? parseQueues(String(params.queues)) : [{ workload: p.workload, params }];
        for (const q of queues) {
          const key = JSON.stringify([q.workload, Object.entries(q.params).map(([k, v]) => `${k}=${String(v)}`).sort()]);
          out[key] = (out[key] ?? 0) + Number(ops) / queues.length;
        }
      }
      return out;
    };
    for (const name of MIX_NAMES) {
      const at8 = shares(name, 8);
      const roles = Object.keys(at8).sort();
      for (const n of [1, 2, 3, 4, 64]) {
        const at = shares(name, n);
        expect(Object.keys(at).sort(), `${name} × ${n}`).toEqual(roles);
        const total = Object.values(at).reduce((x, y) => x + y, 0);
        const total8 = Object.values(at8).reduce((x, y) => x + y, 0);
        for (const r of roles) expect(at[r]! / total, `${name} × ${n}: ${r}`).toBeCloseTo(at8[r]! / total8, 2);
      }
    }
  });

  it('records a mix deterministically, replays it identically and reduces the same events in the ceiling', async () => {
    const a = await recordMix('mixed', 4, 3000, 5n, join(dir, 'a.dlog'));
    const b = await recordMix('mixed', 4, 3000, 5n, join(dir, 'b.dlog'));
    expect(a.events).toBeGreaterThan(1000);
    expect(b.events).toBe(a.events);
    expect(b.stateHash).toBe(a.stateHash);
    const r = timeReplay(a.file); // throws unless the replay is identical
    expect(r.events).toBeGreaterThan(a.events - 300); // the timed stretch: first event to the last sample
    expect(r.events).toBeLessThanOrEqual(a.events);
    expect(timeReplay(a.file, { first: 10, last: 1000 }).events).toBe(990);
    const c = timeCeiling(a.file);
    expect(c.events).toBe(a.events);
    expect(c.live).toBe(0);
    expect(c.found).toBeGreaterThan(a.events / 4);
    expect(timeDecode(a.file).events).toBe(a.events);
    expect(a.eventBytes).toBeLessThan(a.fileBytes);
  });

  it('runs every figure on a tiny plan', async () => {
    const plan = {
      ...defaultPlan(true),
      replayEvents: 2000, replayDevices: 4, replayRuns: 1, replayMixes: [...MIX_NAMES],
      pipelineEvents: 2000, pipelineMinPerDevice: 500, pipelineDevices: [2, 4], pipelineRuns: 1, pipelineWarmupEvents: 1000, pipelineMixes: ['direct-only' as const],
      memoryEvents: 4000, memoryDevices: 2, seekRuns: 1,
    };
    const logged: string[] = [];
    const res = await runBench(plan, dir, 'smoke', (m) => logged.push(m));
    // One warm-up run per pipeline mix, before its rows and not among them.
    expect(logged.filter((m) => m.includes('warm-up run'))).toEqual(['pipeline direct-only × 2 devices: warm-up run (1000 events, not counted)']);
    expect(logged.findIndex((m) => m.includes('warm-up run'))).toBeLessThan(logged.findIndex((m) => m.startsWith('pipeline direct-only × 2 devices (')));
    expect(res.replay.map((r) => r.mix)).toEqual([...MIX_NAMES]);
    expect(res.logSize).toHaveLength(MIX_NAMES.length);
    for (const r of res.replay) {
      expect(r.events).toBeGreaterThan(0);
      expect(r.replay.runs).toHaveLength(1);
      expect(r.ratio).toBeGreaterThan(0);
    }
    expect(res.pipeline.map((p) => [p.mix, p.devices])).toEqual([['direct-only', 2], ['direct-only', 4]]);
    expect(res.pipeline[1]!.ratioTo2).not.toBeNull();
    for (const p of res.pipeline) {
      // The steady window each rate is taken over: one per run, inside the run's events.
      expect(p.window.runs).toHaveLength(1);
      expect(p.window.min).toBeGreaterThan(0);
      expect(p.window.max).toBeLessThanOrEqual(p.events);
      expect(p.pipelineFromGo.median).toBeGreaterThan(0);
      // Over the same window: the coordinator's event-loop utilization, and CPU per event applied.
      expect(p.coordinatorBusy.median).toBeGreaterThan(0);
      expect(p.coordinatorBusy.median).toBeLessThanOrEqual(1);
      expect(p.cpuPerEvent.median).toBeGreaterThan(0);
    }
    expect(res.pipeline[1]!.ratioTo2FromGo).toBeCloseTo(res.pipeline[1]!.pipelineFromGo.median / res.pipeline[0]!.pipelineFromGo.median, 9);
    expect(res.memory!.events).toBeGreaterThanOrEqual(plan.memoryEvents); // the run reaches the events asked for (bench/child.ts)
    expect(res.memory!.stress.rss.length).toBeGreaterThan(1);
    expect(res.seek!.end.until).toBe(res.memory!.events);
    expect(res.seek!.middle.until).toBe(Math.floor(res.memory!.events / 2));
    expect(res.targets.length).toBeGreaterThan(0);
    expect(render(res)).toContain('Targets');
    expect(render(res)).toContain('least window');
    expect(render(res)).toContain('coordinator busy');
  });
});
