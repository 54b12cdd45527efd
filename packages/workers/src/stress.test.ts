// End to end with real worker threads, the real model and the real log: a free-mode run replays
// identically; a seeded run is reproduced from (setup, seed, schedule) alone, whatever the threads.

import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { Machine, replay, type Event, type Outcome } from '@dmasim/core';
import { runStress, type ScheduleSpec, type StressResult } from './index.ts';
import { platformWith, tmpDir } from './testing/setups.ts';

describe('free schedule', () => {
  it('4 devices, 100k+ events on direct, strict and lazy IOMMU domains: the log replays identically', async () => {
    const { config, programs } = platformWith(4, 33_000);
    const out = join(tmpDir('free'), 'free.dmalog');
    const r = await runStress({ config, programs, schedule: { mode: 'free' }, out });
    expect(r.end).toBe('completed');
    expect(r.events).toBeGreaterThanOrEqual(100_000);
    expect(r.threads).toBe(4);
    for (const d of r.devices) expect(d.status).toBe('ended');
    // Bug-free workloads: the model reports nothing.
    expect(r.findingCounts).toEqual({});
    expect(r.debugErrors).toBe(0);
    const rep = replay(out);
    expect(rep.verdict).toBe('identical');
    expect(rep.events).toBe(r.events);
    expect(rep.state).toBe(r.stateHash);
  });
});

describe('seeded schedules', () => {
  const base = platformWith(4, 2500, { 'bug-access-after-unmap': 0.01, 'bug-leak': 0.01 }, 11n);
  const run = (schedule: ScheduleSpec, threads: number | 'inline', tag: string): Promise<StressResult> =>
    runStress({ config: { ...base.config, seed: 11n }, programs: base.programs, schedule, threads, out: join(tmpDir(tag), 'run.dmalog') });

  it('random --seed 11: same log hash twice with real threads, and the log replays', async () => {
    const a = await run({ mode: 'random', seed: 11n }, 4, 'rand-a');
    const b = await run({ mode: 'random', seed: 11n }, 4, 'rand-b');
    expect(a.events).toBeGreaterThan(8000);
    expect(b.logHash).toBe(a.logHash);
    expect(b.stateHash).toBe(a.stateHash);
    expect(replay(a.logPath!).verdict).toBe('identical');
    // The injected bugs are found, identically.
    expect(Object.keys(a.findingCounts).length).toBeGreaterThan(0);
    expect(b.findingCounts).toEqual(a.findingCounts);
    const c = await run({ mode: 'random', seed: 12n }, 4, 'rand-c');
    expect(c.logHash).not.toBe(a.logHash);
  });

  it('pct --seed 5 --depth 3: same log hash twice, and with 1 thread, 2 threads or none', async () => {
    const s: ScheduleSpec = { mode: 'pct', seed: 5n, depth: 3 };
    const a = await run(s, 4, 'pct-a');
    const b = await run(s, 4, 'pct-b');
    expect(b.logHash).toBe(a.logHash);
    for (const threads of [1, 2, 'inline'] as const) {
      const c = await run(s, threads, `pct-${threads}`);
      expect(c.threads).toBe(threads === 'inline' ? 0 : threads);
      expect(c.logHash, `threads ${threads}`).toBe(a.logHash);
    }
    expect(replay(a.logPath!).verdict).toBe('identical');
  });
});

describe('the log and the machine agree on the state hash definition', () => {
  it('a machine set to an older definition is refused before any thread starts, when a log is written', async () => {
    const { config, programs } = platformWith(2, 100);
    const machine = new Machine(config);
    machine.hashVersion = 1;
    const out = join(tmpDir('oldhash'), 'never.dmalog');
    await expect(runStress({ config, programs, schedule: { mode: 'free' }, out, machine })).rejects.toThrow(/hashes its state with definition 1, but the log it writes records definition 3/);
    expect(existsSync(out)).toBe(false);
    // Without a log there is nothing to disagree with.
    const r = await runStress({ config, programs, schedule: { mode: 'free' }, machine, threads: 'inline' });
    expect(r.end).toBe('completed');
  });
});

describe('outcome recycling during a run', () => {
  it('is used only while the run lasts, and with onEvent (which may keep outcomes) only when asked for', async () => {
    const { config, programs } = platformWith(2, 100);
    const machine = new Machine(config);
    let during: boolean | undefined;
    const seen = new Set<unknown>();
    // With onEvent: a fresh outcome for every event.
    const r1 = await runStress({ config, programs, schedule: { mode: 'free' }, machine, threads: 'inline', onEvent: (_s, _d, _e, out) => void seen.add(out) });
    expect(r1.end).toBe('completed');
    expect(seen.size).toBe(r1.events);
    // Without: one object, and the flag is back to what it was afterwards.
    const m2 = new Machine(config);
    const r2 = await runStress({ config, programs, schedule: { mode: 'free' }, machine: m2, threads: 'inline', hooks: { beforeBatch: () => void (during ??= m2.recycleOutcomes) } });
    expect(r2.end).toBe('completed');
    expect(during).toBe(true);
    expect(m2.recycleOutcomes).toBe(false);
    // With onEvent and reuseOutcomes: the caller said it keeps none, so one object serves all.
    const m3 = new Machine(config);
    const seen3 = new Set<unknown>();
    const r3 = await runStress({ config, programs, schedule: { mode: 'free' }, machine: m3, threads: 'inline', reuseOutcomes: true, onEvent: (_s, _d, _e, out) => void seen3.add(out) });
    expect(r3.end).toBe('completed');
    expect(seen3.size).toBe(1);
    expect(m3.recycleOutcomes).toBe(false);
  });
});

describe('the coordinator hands the model the op and CPU its record decoder read', () => {
  it('applies every device event through Machine.applyAs with that event\'s own op and CPU', async () => {
    const { config, programs } = platformWith(2, 200);
    let viaApply = 0;
    let viaApplyAs = 0;
    const wrong: string[] = [];
    class Watching extends Machine {
      override apply(ev: Event): Outcome {
        viaApply++;
        return super.apply(ev);
      }
      override applyAs(ev: Event, op: Event['op'], cpu: number): Outcome {
        viaApplyAs++;
        if (op !== ev.op || cpu !== ev.cpu) wrong.push(`${ev.op}/${ev.cpu} given as ${op}/${cpu}`);
        return super.applyAs(ev, op, cpu);
      }
    }
    const machine = new Watching(config);
    const r = await runStress({ config, programs, schedule: { mode: 'free' }, machine, threads: 'inline' });
    expect(r.end).toBe('completed');
    expect(wrong).toEqual([]);
    // apply() goes through applyAs() too: a device event is counted by applyAs alone.
    expect(viaApply).toBe(0);
    expect(viaApplyAs).toBe(r.events);
  });
});
