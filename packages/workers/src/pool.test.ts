// Device threads get the tsx loader, and a profiled process's --cpu-prof flags (so `node --cpu-prof`
// of a stress run profiles every device thread too); nothing else of the parent's command line.
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
    const a = tsxExecArgv(['--cpu-prof', '--cpu-prof-dir', '/tmp/prof', '--trace-gc', '--cpu-prof-interval=500', '--cpu-prof-name', 'x.cpuprofile']);
    expect(a.slice(2)).toEqual(['--cpu-prof', '--cpu-prof-dir', '/tmp/prof', '--cpu-prof-interval=500', '--cpu-prof-name', 'x.cpuprofile']);
  });
});
