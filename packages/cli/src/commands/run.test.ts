// `dmasim run` and `dmasim diff-kernels`: exit codes (0 pass, 1 failed expectation or kernel
// difference, 2 bad input), located messages, and no stack trace for bad input.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../main.ts';

const dir = mkdtempSync(join(tmpdir(), 'dmasim-run-'));
// Default recordings (dmasim run records every run into runs/) go to a scratch directory.
process.env.DMASIM_RUNS_DIR = join(dir, 'runs');
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const EMPTY_PASS = file('pass.yaml', 'dmasim: 1\nname: nothing-happens\ndescription: no steps\nexpect: { error-count: 0, leaks: 0, debug-entries: 0 }\n');
const EMPTY_FAIL = file('fail.yaml', 'dmasim: 1\nname: wrong-count\nexpect:\n  error-count: 3\n');
const BAD_MASK = file('bad.yaml', 'dmasim: 1\ndevices:\n  - name: a\n  - name: b\n    mask: 80\n');
const PROGRAMS = file('programs.yaml', 'dmasim: 1\ndevices: [ { name: a } ]\nprograms:\n  a: { workload: nvme }\n');

let stdout = '';
let stderr = '';
beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('dmasim run', () => {
  it('exits 0 and prints PASS and the summary when every expectation holds', async () => {
    expect(await main(['run', '--no-record', EMPTY_PASS])).toBe(0);
    expect(stdout).toMatch(new RegExp(`^PASS  ${EMPTY_PASS}  nothing-happens \\[6\\.18\\]  0 steps\n`));
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 0 failed');
  });

  it('exits 1 on a failed expectation, with the location and expected vs actual', async () => {
    expect(await main(['run', '--no-record', EMPTY_PASS, EMPTY_FAIL])).toBe(1);
    expect(stdout).toContain(`FAIL  ${EMPTY_FAIL}  wrong-count [6.18]  0 steps, 1 failed expectation`);
    expect(stdout).toContain(`${EMPTY_FAIL}:4:3: expect: error-count: expected 3, actual 0`);
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed');
  });

  it('exits 2 on bad input with the located message and no stack trace, and still runs the other files', async () => {
    expect(await main(['run', '--no-record', BAD_MASK, EMPTY_PASS])).toBe(2);
    expect(stderr).toBe(`dmasim: ${BAD_MASK}:5:11: devices[1].mask: expected 1..64 or "none", got 80\n`);
    expect(stdout).toContain(`ERROR ${BAD_MASK}  bad input`);
    expect(stdout).toContain(`PASS  ${EMPTY_PASS}`);
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed');
  });

  it('exits 2 for a missing file, an unknown --kernel, and a file with programs', async () => {
    expect(await main(['run', join(dir, 'nope.yaml')])).toBe(2);
    expect(stderr).toContain('nope.yaml: cannot read: no such file');
    expect(await main(['run', '--kernel', '6.19', EMPTY_PASS])).toBe(2);
    expect(stderr).toContain('--kernel: expected one of 6.17, 6.18, got "6.19"');
    expect(await main(['run', PROGRAMS])).toBe(2);
    expect(stderr).toContain(`programs: concurrent device programs run in device worker threads, not in \`dmasim run\`: run this file with \`dmasim stress ${PROGRAMS}\``);
  });

  it('records by default and still closes with "N passed, N failed"', async () => {
    expect(await main(['run', EMPTY_PASS, EMPTY_FAIL])).toBe(1);
    expect(stdout.trimEnd().split('\n').at(-1)).toMatch(/^1 passed, 1 failed(;|$)/);
  });

  it('--kernel overrides the file, --json prints one result per line', async () => {
    expect(await main(['run', '--no-record', '--json', '--kernel', '6.17', EMPTY_PASS, BAD_MASK])).toBe(2);
    const lines = stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { status: string; profile?: string; file: string });
    expect(lines.map((l) => [l.status, l.profile])).toEqual([['pass', '6.17'], ['bad-input', undefined]]);
    expect(stderr).toContain('1 passed, 1 failed');
  });
});

describe('dmasim diff-kernels', () => {
  it('exits 0 when the profiles behave the same, 2 on a bad profile', async () => {
    expect(await main(['diff-kernels', EMPTY_PASS])).toBe(0);
    expect(stdout).toContain('no difference between 6.17 and 6.18 in 0 steps');
    expect(await main(['diff-kernels', EMPTY_PASS, '--b', '7.3'])).toBe(2);
    expect(stderr).toContain('--b: expected one of 6.17, 6.18, got "7.3"');
  });
});

describe('bad input in a real process', () => {
  it('prints the located message only (no stack) and exits 2', () => {
    const bin = join(import.meta.dirname, '..', 'bin.ts');
    const r = spawnSync(process.execPath, ['--import', 'tsx', bin, 'run', '--no-record', BAD_MASK], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`dmasim: ${BAD_MASK}:5:11: devices[1].mask: expected 1..64 or "none", got 80\n`);
    expect(r.stdout).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
