// `dmasim stress` and `dmasim workloads`: seed and settings first, the summary, the log and the
// exact replay and reproduce commands last; exit codes 0 / 1 (findings) / 2 (bad input).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../main.ts';
import { captureOutput } from '../testing/capture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dmasim-stress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const io = captureOutput();

describe('dmasim stress', () => {
  it('a seeded run prints the seed first, then the summary, log, replay and reproduce commands; the replay is identical', async () => {
    const out = join(dir, 'a.dmalog');
    const code = await main(['stress', '--devices', '4', '--ops', '1500', '--seed', '21', '--schedule', 'pct', '--out', out, '--no-progress']);
    expect(io.stderr).toBe('');
    expect(code).toBe(0);
    const lines = io.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('dmasim stress: seed 21, --schedule pct --seed 21 --depth 3, kernel 6.18, 4 device programs');
    expect(io.stdout).toMatch(/\n {2}findings {5}none\n/);
    expect(io.stdout).toContain(`  log          ${out}  (log hash `);
    expect(lines.at(-2)).toBe(`replay:    dmasim replay ${out}`);
    expect(lines.at(-1)).toBe('reproduce: dmasim stress --devices 4 --workload mix --ops 1500 --seed 21 --schedule pct --depth 3');
    io.stdout = '';
    expect(await main(['replay', out])).toBe(0);
    expect(io.stdout).toMatch(/^replay identical: \d+ events, state [0-9a-f]{16}/);
  });

  it('exits 1 when an injected bug is found, naming the finding and its first event', async () => {
    const code = await main(['stress', '--devices', '3', '--workload', 'nic-rx', '--ops', '2000', '--seed', '4', '--schedule', 'random',
      '--bug', 'missing-sync=0.05', '--out', join(dir, 'b.dmalog'), '--no-progress']);
    expect(code).toBe(1);
    expect(io.stdout).toMatch(/\n {4}cpu-owned-violation +\d+ {2}first at event \d+ \(0000:0\d:00\.0\): /);
    expect(io.stdout).toMatch(/injected bugs: missing-sync ×\d+/);
  });

  it('refuses bad options with exit 2 and a clear message', async () => {
    expect(await main(['stress', '--schedule', 'fair'])).toBe(2);
    expect(io.stderr).toContain('--schedule: expected free, random or pct, got "fair"');
    expect(await main(['stress', '--bug', 'use-after-free=0.1'])).toBe(2);
    expect(io.stderr).toContain('--bug: unknown bug knob "use-after-free"');
    expect(await main(['stress', '--workload', 'nic'])).toBe(2);
    expect(io.stderr).toContain('--workload: unknown workload "nic"');
    // A parameter value is checked before any thread starts, the workload's own check included.
    expect(await main(['stress', '--workload', 'nic-rx', '--param', 'ring=lots', '--no-progress'])).toBe(2);
    expect(io.stderr).toContain('workload nic-rx on 0000:01:00.0: parameter "ring" = lots');
    expect(await main(['stress', '--workload', 'multi-queue', '--param', 'queues=nic-rx, disk', '--no-progress'])).toBe(2);
    expect(io.stderr).toContain('workload multi-queue on 0000:01:00.0: parameter "queues": queue 2: unknown workload "disk"');
    expect(await main(['stress', '--seeds', '1..5'])).toBe(2);
    expect(io.stderr).toContain('--seeds runs seeded schedules');
    expect(io.stderr).not.toContain('    at ');
  });

  it('a campaign reports how many seeds ran and exits 0 when none fails', async () => {
    const code = await main(['stress', '--devices', '2', '--ops', '300', '--seeds', '1..4', '--schedule', 'pct', '--jobs', '2', '--out', join(dir, 'camp')]);
    expect(code).toBe(0);
    expect(io.stdout).toContain('campaign: 4 seeds run on 2 threads, 0 failing');
  });
});

describe('dmasim stress SCENARIO: expectations', () => {
  const LIB = join(import.meta.dirname, '..', '..', '..', '..', 'scenarios', 'programs-rx-late-write-lazy-vs-strict.yaml');

  it('checks them: the findings the file expects do not fail the run; the result sits before the replay lines', async () => {
    const out = join(dir, 'lib.dmalog');
    expect(await main(['stress', LIB, '--schedule', 'random', '--seed', '3', '--out', out, '--no-progress'])).toBe(0);
    expect(io.stderr).toBe('');
    const lines = io.stdout.trimEnd().split('\n');
    expect(lines.at(-3)).toBe('  expectations hold');
    expect(io.stdout).toMatch(/\n {4}stale-iotlb +10 {2}first at event /);
    expect(lines.at(-2)).toBe(`replay:    dmasim replay ${out}`);
  });

  it('exits 1 with the located failure when one does not hold (here: the bug knob turned off)', async () => {
    const code = await main(['stress', LIB, '--schedule', 'random', '--seed', '3', '--bug', 'access-after-unmap=0', '--out', join(dir, 'off.dmalog'), '--no-progress']);
    expect(code).toBe(1);
    expect(io.stdout).toContain('  expectations 1 failed\n');
    expect(io.stdout).toMatch(/\n {4}.*programs-rx-late-write-lazy-vs-strict\.yaml:\d+:3: expect: findings \(kinds not named must be 0\)\n/);
    expect(io.stdout).toContain('! stale-iotlb: 10        | stale-iotlb: 0');
  });

  it('a campaign checks them for every seed and prints each failing seed\'s first failures', async () => {
    const f = join(dir, 'camp.yaml');
    writeFileSync(f, `dmasim: 1
name: wrong-path
devices: [ { name: "0000:01:00.0", driver: e1000e, mask: 32 }, { name: "0000:02:00.0", driver: nvme } ]
programs:
  "0000:01:00.0": { repeat: 3, steps: [ { op: map-single, phys: 0x180000000, size: 2KiB, dir: to-device, as: b, expect: { path: direct } }, { op: unmap-single, addr: $b, size: 2KiB, dir: to-device } ] }
  "0000:02:00.0": { workload: nvme, ops: 200 }
`);
    expect(await main(['stress', f, '--seeds', '1..2', '--schedule', 'pct', '--jobs', '2', '--out', join(dir, 'campf')])).toBe(1);
    expect(io.stdout).toContain('campaign: 2 seeds run on 2 threads, 2 failing');
    expect(io.stdout).toContain(`    ${f}:5:123: programs["0000:01:00.0"].steps[0] map-single, iteration 1 of 3: path (failed in 3 of 3 iterations): expected direct, actual swiotlb`);
  });
});

describe('dmasim workloads', () => {
  it('lists every workload with its parameters and bug knobs', async () => {
    expect(await main(['workloads'])).toBe(0);
    for (const w of ['nic-rx', 'nic-tx', 'nvme', 'gpu-p2p', 'coherent-rings']) expect(io.stdout).toContain(`\n${w}: `.slice(w === 'nic-rx' ? 1 : 0));
    expect(io.stdout).toMatch(/ {2}queue-depth +int +default 32 /);
    expect(io.stdout).toContain('bug-access-after-unmap');
    // A default wider than its column is still set off from the help text.
    expect(io.stdout).toMatch(/ {2}queues +string +default nic-rx, nic-tx, nvme {2}comma-separated workloads/);
  });
});
