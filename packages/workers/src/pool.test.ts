// Device threads get the tsx loader, and a profiled process's --cpu-prof flags but its profile's file
// name (so `node --cpu-prof` of a stress run profiles every device thread too, each to a file of its
// own); nothing else of the parent's command line.
import { describe, expect, it } from 'vitest';
import { getPriority } from 'node:os';
import { tsxExecArgv } from './pool.ts';
import { runStress, type ProgramAssignment } from './index.ts';
import { PROGRAMS_URL, platformWith } from './testing/setups.ts';

describe('tsxExecArgv', () => {
  it('is the tsx loader alone for an unprofiled process', () => {
    const a = tsxExecArgv(['--max-old-space-size=100', '--inspect']);
    expect(a).toHaveLength(2);
    expect(a[0]).toBe('--import');
    expect(a[1]).toMatch(/tsx/);
  });

  it('passes on --cpu-prof and its options, with values written either way', () => {
    const a = tsxExecArgv(['--cpu-prof', '--cpu-prof-dir', '/tmp/prof', '--trace-gc', '--cpu-prof-interval=500']);
    expect(a.slice(2)).toEqual(['--cpu-prof', '--cpu-prof-dir', '/tmp/prof', '--cpu-prof-interval=500']);
  });

  it('leaves out --cpu-prof-name, which would give every thread the same profile file', () => {
    expect(tsxExecArgv(['--cpu-prof', '--cpu-prof-name', 'x.cpuprofile', '--cpu-prof-dir=/tmp/p']).slice(2)).toEqual(['--cpu-prof', '--cpu-prof-dir=/tmp/p']);
    expect(tsxExecArgv(['--cpu-prof-name=x.cpuprofile', '--cpu-prof']).slice(2)).toEqual(['--cpu-prof']);
  });
});

// Device threads below the coordinator (StressOptions.deviceNice): each program checks its own
// thread's nice value, and throws (a failed device, with the value in its message) when it differs.
describe.runIf(process.platform === 'linux')('device thread priority', () => {
  const base = getPriority();
  const cases: [string, number | undefined, number | 'inline' | undefined, number][] = [
    ['deviceNice 19: device threads at 19', 19, undefined, Math.max(base, 19)],
    ['no deviceNice: device threads at the process priority', undefined, undefined, base],
    ['inline programs: the coordinator thread keeps its priority', 19, 'inline', base],
  ];
  for (const [name, deviceNice, threads, expected] of cases) {
    it(name, async () => {
      const { config, programs } = platformWith(2, 10);
      const progs: ProgramAssignment[] = programs.map((p) => ({ dev: p.dev, program: { kind: 'module', url: PROGRAMS_URL, params: { mode: 'nice', n: 5, expect: expected } } }));
      const r = await runStress({ config, programs: progs, schedule: { mode: 'free' }, ...(deviceNice !== undefined ? { deviceNice } : {}), ...(threads ? { threads } : {}) });
      expect(r.devices.map((d) => [d.status, d.message ?? ''])).toEqual(progs.map(() => ['ended', '']));
      expect(getPriority()).toBe(base);
    });
  }
});
