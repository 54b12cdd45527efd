// Worker failures end one device's program with a finding and a clear message; the run goes on,
// and its log stays valid and replays identically.

import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { replay } from '@dmasim/core';
import { runStress, type ProgramAssignment } from './index.ts';
import { PROGRAMS_URL, platformWith, tmpDir } from './testing/setups.ts';

describe('worker failures', () => {
  it('a throwing, an exiting, a hanging and a malformed device each end alone; the rest of the run completes and replays', async () => {
    const { config, programs } = platformWith(6, 4000);
    const failing: [number, string][] = [[1, 'throw'], [2, 'exit'], [3, 'hang'], [4, 'malformed'], [5, 'unbound']];
    const progs: ProgramAssignment[] = programs.map((p, i) => {
      const f = failing.find(([d]) => d === i);
      return f ? { dev: p.dev, program: { kind: 'module', url: PROGRAMS_URL, params: { mode: f[1], n: 200 } } } : p;
    });
    const out = join(tmpDir('fail'), 'run.dmalog');
    const r = await runStress({ config, programs: progs, schedule: { mode: 'free' }, out, deviceTimeoutMs: 3000 });

    expect(r.end, JSON.stringify(r.devices.map((d) => [d.status, d.message]))).toBe('completed');
    const by = new Map(r.devices.map((d) => [d.name, d]));
    const healthy = by.get(config.devices[0]!.name)!;
    expect(healthy.status, healthy.message).toBe('ended');
    expect(healthy.events).toBeGreaterThanOrEqual(4000);
    const st = (i: number): (typeof r.devices)[number] => by.get(config.devices[i]!.name)!;
    expect(st(1).status).toBe('failed');
    expect(st(1).message).toContain('NULL pointer dereference in the RX handler');
    expect(st(2).status).toBe('failed');
    expect(st(2).message).toMatch(/worker died: .*exited with code: 7/);
    expect(st(3).status).toBe('failed');
    expect(st(3).message).toMatch(/timed out after 3000 ms/);
    expect(st(4).status).toBe('failed');
    expect(st(4).message).toMatch(/malformed message: batch of 24 bytes/);
    expect(st(5).status).toBe('failed');
    expect(st(5).message).toMatch(/buffer handle 999, which no earlier call bound/);
    // What each failing device did before failing was applied (200 rounds of 4 calls).
    for (const i of [1, 2, 3, 4, 5]) expect(st(i).events, JSON.stringify(st(i))).toBe(800);
    expect(r.findingCounts).toMatchObject({ 'program-error': 1, 'worker-died': 1, 'worker-timeout': 1, 'malformed-message': 2 });

    const rep = replay(out);
    expect(rep.verdict).toBe('identical');
    expect(rep.events).toBe(r.events);
    expect(rep.state).toBe(r.stateHash);
  });
});
