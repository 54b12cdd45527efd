// Device threads get the tsx loader, and a profiled process's --cpu-prof flags but its profile's file
// name (so `node --cpu-prof` of a stress run profiles every device thread too, each to a file of its
// own); nothing else of the parent's command line.
import { describe, expect, it } from 'vitest';
import { tsxExecArgv } from './pool.ts';

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
