// `dmasim run` and `dmasim diff-kernels`: exit codes (0 pass, 1 failed expectation or kernel
// difference, 2 bad input), located messages, and no stack trace for bad input.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../main.ts';
import { captureOutput } from '../testing/capture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dmasim-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
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
const PROGRAMS = file('programs.yaml', 'dmasim: 1\nname: nvme-alone\nseed: 9\ndevices: [ { name: a, driver: nvme } ]\nprograms:\n  a: { workload: nvme, ops: 400 }\nexpect: { findings: {}, leaks: 0, error-count: 0 }\n');
const PROGRAMS_FAIL = file('programs-fail.yaml', `dmasim: 1
name: rx-bounce-wrong
devices:
  - { name: "0000:01:00.0", driver: e1000e, mask: 32 }
steps:
  - { op: max-mapping-size, dev: "0000:01:00.0", expect: { value: 262144 } }
programs:
  "0000:01:00.0":
    repeat: 5
    steps:
      - { op: map-single, phys: 0x180000000, size: 2KiB, dir: from-device, as: rx, expect: { path: direct } }
      - { op: unmap-single, addr: $rx, size: 2KiB, dir: from-device }
expect: { leaks: 1 }
`);

const io = captureOutput();

const LEAKY = file('leaky.yaml', `dmasim: 1
name: one-checked-one-not
devices: [ { name: "0000:03:00.0", driver: e1000e } ]
steps:
  - { op: map-single, dev: "0000:03:00.0", phys: 0x100002000, size: 4KiB, dir: to-device, as: a }
  - { op: mapping-error, dev: "0000:03:00.0", addr: $a }
  - { op: map-single, dev: "0000:03:00.0", phys: 0x100004000, size: 512, dir: from-device }
`);

describe('dmasim run', () => {
  it('--dma-api prints the debugfs error_count and one dump line per live entry, as the kernel formats them', async () => {
    expect(await main(['run', '--no-record', '--dma-api', LEAKY])).toBe(0);
    const lines = io.stdout.split('\n');
    expect(lines).toContain('dma-api/error_count: 0');
    expect(lines).toContain('dma-api/dump: 2 entries');
    expect(lines).toContain('  e1000e 0000:03:00.0 phy idx 1 P=0x0000000100002000 D=100002000 L=1000 cln=0x0000000004000080 DMA_TO_DEVICE dma map error checked');
    expect(lines).toContain('  e1000e 0000:03:00.0 phy idx 2 P=0x0000000100004000 D=100004000 L=200 cln=0x0000000004000100 DMA_FROM_DEVICE dma map error not checked');
  });

  it('exits 0 and prints PASS and the summary when every expectation holds', async () => {
    expect(await main(['run', '--no-record', EMPTY_PASS])).toBe(0);
    expect(io.stdout).toMatch(new RegExp(`^PASS  ${EMPTY_PASS}  nothing-happens \\[6\\.18\\]  0 steps\n`));
    expect(io.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 0 failed');
  });

  it('exits 1 on a failed expectation, with the location and expected vs actual', async () => {
    expect(await main(['run', '--no-record', EMPTY_PASS, EMPTY_FAIL])).toBe(1);
    expect(io.stdout).toContain(`FAIL  ${EMPTY_FAIL}  wrong-count [6.18]  0 steps, 1 failed expectation`);
    expect(io.stdout).toContain(`${EMPTY_FAIL}:4:3: expect: error-count: expected 3, actual 0`);
    expect(io.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed');
  });

  it('exits 2 on bad input with the located message and no stack trace, and still runs the other files', async () => {
    expect(await main(['run', '--no-record', BAD_MASK, EMPTY_PASS])).toBe(2);
    expect(io.stderr).toBe(`dmasim: ${BAD_MASK}:5:11: devices[1].mask: expected 1..64 or "none", got 80\n`);
    expect(io.stdout).toContain(`ERROR ${BAD_MASK}  bad input`);
    expect(io.stdout).toContain(`PASS  ${EMPTY_PASS}`);
    expect(io.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed');
  });

  it('exits 2 for a missing file, an unknown --kernel, and a bad --schedule for a file with programs', async () => {
    expect(await main(['run', join(dir, 'nope.yaml')])).toBe(2);
    expect(io.stderr).toContain('nope.yaml: cannot read: no such file');
    expect(await main(['run', '--kernel', '6.19', EMPTY_PASS])).toBe(2);
    expect(io.stderr).toContain('--kernel: expected one of 6.17, 6.18, got "6.19"');
    expect(await main(['run', '--no-record', '--schedule', 'fair', PROGRAMS])).toBe(2);
    expect(io.stderr).toContain('--schedule: expected free, random or pct, got "fair"');
    // A top-level step the model refuses is bad input with or without programs.
    const refused = file('refused.yaml', 'dmasim: 1\ndomains: [ { name: D0 } ]\ndevices: [ { name: a, dma: iommu, domain: D0 } ]\nsteps:\n  - { op: map-single, dev: a, phys: 0x0, size: 8GiB, dir: to-device }\nprograms:\n  a: { steps: [ { op: max-mapping-size } ] }\n');
    io.stderr = '';
    expect(await main(['run', refused])).toBe(2);
    expect(io.stderr).toBe(`dmasim: ${refused}:5:5: steps[0]: map-single: a single IOMMU mapping of 8589934592 bytes is larger than dmasim models (at most 1048576 pages of 4096 bytes)\n`);
    expect(io.stdout).toContain(`ERROR ${refused}  bad input`);
  });

  it('records by default and still closes with "N passed, N failed"', async () => {
    expect(await main(['run', EMPTY_PASS, EMPTY_FAIL])).toBe(1);
    expect(io.stdout.trimEnd().split('\n').at(-1)).toMatch(/^1 passed, 1 failed(;|$)/);
  });

  it('--kernel overrides the file, --json prints one result per line', async () => {
    expect(await main(['run', '--no-record', '--json', '--kernel', '6.17', EMPTY_PASS, BAD_MASK])).toBe(2);
    const lines = io.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { status: string; profile?: string; file: string });
    expect(lines.map((l) => [l.status, l.profile])).toEqual([['pass', '6.17'], ['bad-input', undefined]]);
    expect(io.stderr).toContain('1 passed, 1 failed');
  });
});

describe('dmasim run of a file with programs (device workers)', () => {
  it('runs it under the seeded schedule of its seed, prints the same PASS line and summary, exits 0', async () => {
    expect(await main(['run', '--no-record', EMPTY_PASS, PROGRAMS])).toBe(0);
    expect(io.stdout).toMatch(new RegExp(`\nPASS  ${PROGRAMS}  nvme-alone \\[6\\.18\\]  0 steps, 1 program, \\d+ events, --schedule random --seed 9\n`));
    expect(io.stdout.trimEnd().split('\n').at(-1)).toBe('2 passed, 0 failed');
  });

  it('exits 1 on a failed expectation in a program step or the whole run, located, expected vs actual', async () => {
    expect(await main(['run', '--no-record', PROGRAMS_FAIL])).toBe(1);
    expect(io.stdout).toMatch(new RegExp(`^FAIL  ${PROGRAMS_FAIL}  rx-bounce-wrong \\[6\\.18\\]  1 step, 1 program, 11 events, --schedule random --seed 0, 2 failed expectations\n`));
    expect(io.stdout).toContain(`  ${PROGRAMS_FAIL}:11:94: programs["0000:01:00.0"].steps[0] map-single, iteration 1 of 5: path (failed in 5 of 5 iterations): expected direct, actual swiotlb\n`);
    expect(io.stdout).toContain(`  ${PROGRAMS_FAIL}:13:11: expect: leaks: expected 1, actual 0\n`);
    expect(io.stdout.trimEnd().split('\n').at(-1)).toBe('0 passed, 1 failed');
  });

  it('records the run; the log replays identically; --schedule/--seed override the default', async () => {
    const log = join(dir, 'prog.dlog');
    expect(await main(['run', '--record', log, '--schedule', 'pct', '--seed', '5', PROGRAMS])).toBe(0);
    expect(io.stdout).toContain(', --schedule pct --seed 5 --depth 3\n');
    expect(io.stdout).toContain(`  recorded: dmasim replay ${log}\n`);
    io.stdout = '';
    expect(await main(['replay', log])).toBe(0);
    expect(io.stdout).toMatch(/^replay identical: \d+ events/);
  });

  it('--json prints one result with its failures, script steps and programs', async () => {
    expect(await main(['run', '--no-record', '--json', PROGRAMS_FAIL])).toBe(1);
    const j = JSON.parse(io.stdout.trim()) as { status: string; schedule: string; failures: { at: string; key: string }[]; steps: unknown[]; programs: { dev: string; status: string }[] };
    expect(j.status).toBe('fail');
    expect(j.schedule).toBe('--schedule random --seed 0');
    expect(j.failures.map((f) => [f.at, f.key])).toEqual([[`${PROGRAMS_FAIL}:11:94`, 'path'], [`${PROGRAMS_FAIL}:13:11`, 'leaks']]);
    expect(j.steps).toHaveLength(1);
    expect(j.programs).toEqual([expect.objectContaining({ dev: '0000:01:00.0', status: 'ended' })]);
    expect(io.stderr).toContain('0 passed, 1 failed');
  });
});

describe('dmasim diff-kernels', () => {
  it('exits 0 when the profiles behave the same, 2 on a bad profile', async () => {
    expect(await main(['diff-kernels', EMPTY_PASS])).toBe(0);
    expect(io.stdout).toContain('no difference between 6.17 and 6.18 in 0 steps');
    expect(await main(['diff-kernels', EMPTY_PASS, '--b', '7.3'])).toBe(2);
    expect(io.stderr).toContain('--b: expected one of 6.17, 6.18, got "7.3"');
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
