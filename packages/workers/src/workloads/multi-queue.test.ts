// multi-queue: one device running several workloads as its queues, turn by turn. Every queue's
// calls appear (interleaved, not one queue after the other), queues of one device never collide
// (buffers, handles), bug knobs reach the queues that have them, and the device's stream of calls
// is a function of the seed alone (the same inline and on a thread with a one-batch window).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DMA_FROM_DEVICE, DMA_TO_DEVICE, loadScenario, type Event } from '@dmasim/core';
import { findWorkload, formatQueues, MULTI_QUEUE, ParamError, parseQueues, resolveParams, runStress, scenarioPrograms, type ParamValue, type ScheduleSpec, type StressResult } from '../index.ts';
import { defaultStressPlatform } from '../platform.ts';

interface Ran { r: StressResult; events: Event[][]; dmesg: string[] }

async function runMq(devices: number, params: Record<string, ParamValue>, o: { seed?: bigint; schedule?: ScheduleSpec; threads?: number | 'inline'; window?: number } = {}): Promise<Ran> {
  const seed = o.seed ?? 3n;
  const plat = defaultStressPlatform(devices, seed);
  plat.config.platform.dmaDebug.allErrors = true;
  const programs = plat.config.devices.map((d) => ({ dev: d.name, program: { kind: 'workload' as const, workload: MULTI_QUEUE, params } }));
  const events: Event[][] = plat.config.devices.map(() => []);
  const dmesg: string[] = [];
  const r = await runStress({
    config: plat.config, programs, schedule: o.schedule ?? { mode: 'random', seed }, threads: o.threads ?? 'inline',
    ...(o.window ? { window: o.window } : {}),
    onEvent: (_s, dev, ev, out) => {
      if (dev >= 0) events[dev]!.push(ev);
      for (const l of out.dmesg) if (l.startsWith('DMA-API:')) dmesg.push(l);
    },
  });
  return { r, events, dmesg };
}

const json = (evs: Event[]): string => JSON.stringify(evs, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

describe('multi-queue', () => {
  it("runs every queue's calls, interleaved turn by turn, as a correct driver", async () => {
    const { r, events, dmesg } = await runMq(1, { queues: 'nic-rx recycle=sync, nic-tx, nvme', ops: 3000, turn: 32 });
    expect(r.end).toBe('completed');
    expect(r.devices.map((d) => d.status)).toEqual(['ended']);
    expect(r.findingCounts).toEqual({});
    expect(dmesg).toEqual([]);
    expect(r.debugErrors).toBe(0);
    const evs = events[0]!;
    const rx = (e: Event): boolean => (e.op === 'map-single' && e.dir === DMA_FROM_DEVICE) || e.op === 'sync-for-cpu';
    const tx = (e: Event): boolean => e.op === 'map-single' && e.dir === DMA_TO_DEVICE;
    const io = (e: Event): boolean => e.op === 'map-sg';
    for (const f of [rx, tx, io]) expect(evs.filter(f).length).toBeGreaterThan(20);
    // Turns of 32 calls: all three queues are under way within the first third of the run.
    const head = evs.slice(0, Math.floor(evs.length / 3));
    for (const f of [rx, tx, io]) expect(head.some(f)).toBe(true);
    // Each queue's share of the 3000 calls, plus draining; one unbind at the very end.
    expect(evs.length).toBeGreaterThanOrEqual(3000);
    expect(evs.filter((e) => e.op === 'unbind')).toHaveLength(1);
    expect(evs[evs.length - 1]!.op).toBe('unbind');
  });

  it('keeps queues of one device apart (the same workload twice, every workload) on every path of the default platform', async () => {
    const queues = 'nic-rx, nic-rx recycle=sync, nic-tx, nvme, coherent-rings, gpu-p2p';
    const { r, dmesg } = await runMq(6, { queues, ops: 3000 });
    expect(r.devices.every((d) => d.status === 'ended')).toBe(true);
    expect(r.findingCounts).toEqual({});
    expect(dmesg).toEqual([]);
    expect(r.debugErrors).toBe(0);
  });

  it('gives the bug knobs to the queues whose workload has them, and reports what they injected', async () => {
    // coherent-rings has no missing-sync knob; nvme has (~60 reads completed here: a high rate).
    const { r } = await runMq(1, { queues: 'coherent-rings, nvme', ops: 3000, 'bug-missing-sync': 0.3 });
    expect(r.devices[0]!.status).toBe('ended');
    expect(r.findingCounts['cpu-owned-violation'] ?? 0).toBeGreaterThan(0);
    expect(r.devices[0]!.injected['missing-sync'] ?? 0).toBeGreaterThan(0);
  });

  it("is deterministic for a seed: the device's calls do not depend on threads or window waits", async () => {
    const params = { queues: 'nic-rx, nic-tx, nvme, nic-rx recycle=sync', ops: 4000, turn: 16 };
    const a = await runMq(1, params, { seed: 7n });
    const b = await runMq(1, params, { seed: 7n });
    // A real thread, free schedule, a window of one batch: the queues wait for buffers mid-turn.
    const c = await runMq(1, params, { seed: 7n, schedule: { mode: 'free' }, threads: 1, window: 1 });
    const d = await runMq(1, params, { seed: 8n });
    expect(a.events[0]!.length).toBeGreaterThan(4000);
    expect(json(b.events[0]!)).toBe(json(a.events[0]!));
    expect(c.r.devices[0]!.status).toBe('ended');
    expect(json(c.events[0]!)).toBe(json(a.events[0]!));
    expect(json(d.events[0]!)).not.toBe(json(a.events[0]!));
  });

  it('parses, writes back and checks queue lists', () => {
    const qs = parseQueues(' nic-rx recycle=sync  ring=64, nvme ,nic-tx');
    expect(qs).toEqual([
      { workload: 'nic-rx', params: { recycle: 'sync', ring: '64' } },
      { workload: 'nvme', params: {} },
      { workload: 'nic-tx', params: {} },
    ]);
    expect(parseQueues(formatQueues(qs))).toEqual(qs);
    expect(formatQueues([{ workload: 'nvme', params: { 'queue-depth': 64 } }])).toBe('nvme queue-depth=64');
    const mq = findWorkload(MULTI_QUEUE)!;
    const check = (given: Record<string, ParamValue>): void => mq.check!('workload multi-queue', resolveParams('workload multi-queue', mq.params, given));
    expect(() => check({ queues: 'nic-rx, nvme queue-depth=64' })).not.toThrow();
    expect(() => check({ queues: 'nic-rx,, nvme' })).toThrow(ParamError);
    expect(() => check({ queues: 'nic-rx ring' })).toThrow(/expected key=value/);
    expect(() => check({ queues: 'nic-rx ring=4 ring=8' })).toThrow(/given twice/);
    expect(() => check({ queues: 'nic-rx, nvmee' })).toThrow(/queue 2: unknown workload "nvmee"/);
    expect(() => check({ queues: 'nic-rx, multi-queue' })).toThrow(/unknown workload "multi-queue"/);
    expect(() => check({ queues: 'nic-rx rings=4' })).toThrow(/queue 1 \(nic-rx\).*unknown parameter "rings"/);
    expect(() => check({ queues: 'nic-rx recycle=never' })).toThrow(/expected one of unmap, sync/);
    expect(() => check({ queues: 'coherent-rings', 'bug-missing-sync': 0.1 })).toThrow(/"bug-missing-sync": no queue's workload has this bug knob/);
  });

  it("refuses a bad queue list in a scenario's programs: with the file, line and key", () => {
    const file = fileURLToPath(new URL('../testing/two-drivers.yaml', import.meta.url));
    const text = readFileSync(file, 'utf8').replace('workload: nic-rx, ring: 32, buffer: 2KiB', 'workload: multi-queue, queues: "nic-rx, nvme depth=4"');
    expect(() => scenarioPrograms(loadScenario(text, 'two-drivers.yaml'))).toThrow(/^two-drivers\.yaml:14:\d+: programs\["0000:01:00\.0"\]\.queues: .*queue 2 \(nvme\).*unknown parameter "depth"/);
  });
});
