// Scenario files with programs as tests: top-level steps checked exactly as `dmasim run` checks
// them (same events, same failures as core's runScenario), program-step expectations on every
// iteration, program ends, and whole-run expectations, each failure located in the file.

import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatFailure, loadScenario, replay, runScenario, ScenarioError, type Failure } from '@dmasim/core';
import { runScenarioPrograms, scenarioRunFailed } from './index.ts';
import { PROGRAMS_URL, tmpDir } from './testing/setups.ts';

const SEEDED = { schedule: { mode: 'random' as const, seed: 4n } };
const LIBRARY = fileURLToPath(new URL('../../../scenarios/', import.meta.url));
const TWO = readFileSync(fileURLToPath(new URL('./testing/two-drivers.yaml', import.meta.url)), 'utf8');
const load = (text: string, file = 's.yaml') => loadScenario(text, file);
const text = (fs: Failure[]) => fs.flatMap(formatFailure).join('\n');

/** A one-device platform whose device runs the given device-local script. */
function scripted(program: string, extra = ''): string {
  return `dmasim: 1
name: scripted
seed: 2
platform: { swiotlb: { slots: 0 } }
devices:
  - { name: "0000:01:00.0", driver: ahci, dma: direct, mask: 32 }
  - { name: "0000:02:00.0", driver: e1000e, dma: direct }
programs:
  "0000:02:00.0": { workload: nic-rx, ring: 16, ops: 400 }
  "0000:01:00.0":
${program}${extra}`;
}

describe('runScenarioPrograms: passing', () => {
  it('a script, a workload and a repeated device-local script whose expectations all hold', async () => {
    const src = TWO
      .replace('as: queue }', 'as: queue, expect: { path: iommu, error: false } }')
      .replace('dir: from-device, as: buf }', 'dir: from-device, as: buf, expect: { path: iommu, dmesg: [] } }')
      .replace('op: mapping-error, addr: $buf }', 'op: mapping-error, addr: $buf, expect: { value: 0 } }')
      .replace('size: 512 }', 'size: 512, expect: { fill: 0xab, findings: [] } }')
      + 'expect: { findings: {}, error-count: 0, leaks: 1, debug-entries: 1 }\n';
    const out = join(tmpDir('scnrun'), 'ok.dmalog');
    const r = await runScenarioPrograms(load(src, 'two.yaml'), { ...SEEDED, out, threads: 2 });
    expect(text(r.failures)).toBe('');
    expect(r.passed).toBe(true);
    expect(r.schedule).toBe('--schedule random --seed 4');
    expect(r.script.map((x) => x.seq)).toEqual([1, 2]);
    // 2 script events + 500 scripted + the NIC's; the left-over coherent queue is the one leak.
    expect(r.final.leaks).toBe(1);
    expect(r.stress.devices.map((d) => d.status)).toEqual(['ended', 'ended']);
    expect(replay(out).verdict).toBe('identical');
  });
});

describe('runScenarioPrograms: top-level steps are checked exactly as dmasim run checks them', () => {
  // Every step-only library file, with a harmless program added: the script's events and every
  // failure (none, for the library) are the core runner's.
  const files = readdirSync(LIBRARY).filter((f) => f.endsWith('.yaml')).sort();
  const withProgram = (src: string, dev: string) => `${src.trimEnd()}\nprograms:\n  "${dev}": { steps: [ { op: max-mapping-size } ], repeat: 2 }\n`;

  it('for every step-only library scenario', async () => {
    let compared = 0;
    for (const f of files) {
      const src = readFileSync(join(LIBRARY, f), 'utf8');
      const plain = load(src, f);
      const dev = plain.config.devices[0]?.name;
      if (plain.programs?.length || dev === undefined) continue;
      const core = runScenario(plain);
      const r = await runScenarioPrograms(load(withProgram(src, dev), f), { ...SEEDED, threads: 'inline' });
      expect(r.script.map((x) => x.event), f).toStrictEqual(core.steps.map((x) => x.event));
      expect(r.script.map((x) => x.outcome?.result), f).toStrictEqual(core.steps.map((x) => x.outcome?.result));
      const scriptFailures = r.script.flatMap((x) => x.failures);
      expect(text(scriptFailures), f).toBe(text(core.steps.flatMap((x) => x.failures)));
      if (core.crashedAt === undefined) {
        // Whole-run expectations too: the program adds no log line, finding, leak or error.
        expect(text(r.failures), f).toBe(text(core.failures));
      } else {
        // After a kernel BUG in the script the programs never run, and that fails the scenario.
        expect(r.failures.at(-1)).toMatchObject({ key: 'program', where: `programs["${dev}"]` });
      }
      compared++;
    }
    expect(compared).toBeGreaterThan(40);
  });

  it('and fails the same way, at the same place', async () => {
    const src = readFileSync(join(LIBRARY, 'swiotlb-bounce-roundtrip.yaml'), 'utf8')
      .replace('expect: { addr: 0x10000000, path: swiotlb }', 'expect: { addr: 0x10000800, path: direct }')
      .replace('expect: { data: "cafebabe0badf00d", findings: [] }', 'expect: { data: "cafebabe0badf00e", findings: [] }');
    const core = runScenario(load(src, 'rt.yaml'));
    expect(core.failures).toHaveLength(3);
    const r = await runScenarioPrograms(load(withProgram(src, '0000:03:00.0'), 'rt.yaml'), { ...SEEDED, threads: 'inline' });
    expect(r.passed).toBe(false);
    expect(text(r.failures)).toBe(text(core.failures));
    expect(text(r.failures)).toMatch(/^rt\.yaml:19:\d+: steps\[1\] map-single: addr: expected 0x10000800, actual 0x10000000$/m);
  });

  it('a request the model refuses in the script is bad input (exit 2), as under dmasim run', async () => {
    const src = `dmasim: 1
domains: [ { name: D0 } ]
devices: [ { name: a, dma: iommu, domain: D0 } ]
steps:
  - { op: map-single, dev: a, phys: 0x0, size: 8GiB, dir: to-device }
programs:
  a: { steps: [ { op: max-mapping-size } ] }
`;
    expect(() => runScenario({ ...load(src), programs: [] })).toThrow(ScenarioError);
    const out = join(tmpDir('scnrun'), 'refused.dmalog');
    await expect(runScenarioPrograms(load(src), { ...SEEDED, threads: 'inline', out })).rejects.toThrow(/^s\.yaml:5:5: steps\[0\]: map-single: a single IOMMU mapping of 8589934592 bytes is larger than dmasim models/);
  });
});

describe('runScenarioPrograms: expectations inside a program', () => {
  it('are checked on every iteration; a failure names the step, its first failing iteration and how many failed', async () => {
    const src = scripted(`    repeat: 20
    steps:
      - { op: cpu-write, phys: 0x80000000, size: 4KiB, fill: 0x00 }
      - { op: map-single, phys: 0x80000000, size: 4KiB, dir: from-device, as: io, expect: { path: direct, addr: 0x80000000 } }
      - { op: dev-write, addr: $io+0x100, size: 16, fill: 0x5a, expect: { fault: none } }
      - { op: unmap-single, addr: $io, size: 4KiB, dir: from-device, expect: { trace: [] } }
      - { op: cpu-read, phys: 0x80000100, size: 16, expect: { fill: 0x5b } }
`);
    const r = await runScenarioPrograms(load(src), { ...SEEDED, threads: 2 });
    expect(r.passed).toBe(false);
    const report = text(r.failures);
    expect(r.failures.map((f) => [f.where, f.key])).toEqual([
      ['programs["0000:01:00.0"].steps[3] unmap-single, iteration 1 of 20', 'trace'],
      ['programs["0000:01:00.0"].steps[4] cpu-read, iteration 1 of 20', 'data'],
    ]);
    expect(report).toMatch(/^s\.yaml:16:\d+: programs\["0000:01:00\.0"\]\.steps\[3\] unmap-single, iteration 1 of 20: trace \(failed in 20 of 20 iterations\)\n/);
    expect(report).toContain('dma_unmap_phys: 0000:01:00.0 dir=FROM_DEVICE dma_addr=80000000 size=4096 attrs=');
    expect(report).toMatch(/s\.yaml:17:\d+: programs\["0000:01:00\.0"\]\.steps\[4\] cpu-read, iteration 1 of 20: data \(byte 0 is 0x5a; failed in 20 of 20 iterations\)/);
  });

  it('a reference in an expectation is the current iteration\'s binding; only failing iterations count', async () => {
    // Above 4 GiB the 32-bit device cannot reach the buffer and there is no swiotlb pool: the
    // second map fails in every iteration, and the driver's dma_mapping_error() check drops the
    // calls that use it. The low buffer's expected address is each iteration's own.
    const src = scripted(`    repeat: 4
    steps:
      - { op: map-single, phys: 0x80000000, size: 4KiB, dir: to-device, as: lo, expect: { addr: $lo, error: false } }
      - { op: unmap-single, addr: $lo, size: 4KiB, dir: to-device }
      - { op: map-single, phys: 0x180000000, size: 4KiB, dir: to-device, as: hi, expect: { error: true } }
      - { op: mapping-error, addr: $hi, expect: { value: 0 } }
      - { op: dev-read, addr: $hi, size: 16, expect: { fault: none } }
      - { op: unmap-single, addr: $hi, size: 4KiB, dir: to-device }
`);
    const r = await runScenarioPrograms(load(src), { ...SEEDED, threads: 'inline' });
    expect(r.failures.map((f) => [f.where, f.key, f.note])).toEqual([
      ['programs["0000:01:00.0"].steps[3] mapping-error, iteration 1 of 4', 'value', 'failed in 4 of 4 iterations'],
      ['programs["0000:01:00.0"].steps[4] dev-read, iteration 1 of 4', 'step', 'failed in 4 of 4 iterations'],
    ]);
    // A dropped step without expectations (the unmap) is the driver doing its job: no failure.
    expect(r.failures[1]!.actual).toEqual(['not run: dropped: dma_mapping_error() said its buffer failed to map']);
    expect(r.stress.devices[0]!.skipped).toBe(8);
  });

  it('a kernel BUG in a program fails at the step that hit it, and the stopped programs fail too', async () => {
    const src = scripted(`    repeat: 3
    steps:
      - { op: map-single, phys: 0x80000000, size: 4KiB, dir: to-device, as: a }
      - { op: unmap-single, addr: $a, size: 4KiB, dir: none }
`);
    const r = await runScenarioPrograms(load(src), { ...SEEDED, threads: 'inline' });
    expect(r.stress.end).toBe('crashed');
    const report = text(r.failures);
    expect(report).toMatch(/^s\.yaml:14:9: programs\["0000:01:00\.0"\]\.steps\[1\] unmap-single, iteration 1 of 3: bug \(failed in 1 of 1 iterations\): expected no kernel BUG, actual kernel BUG: /m);
    // Both programs were stopped by the crash; the crashing one also names the BUG.
    const ends = r.failures.filter((f) => f.key === 'program');
    expect(ends.map((f) => f.where)).toEqual(['programs["0000:02:00.0"]', 'programs["0000:01:00.0"]']);
    expect(ends[1]!.actual).toEqual([
      expect.stringMatching(/^stopped: the simulated kernel crashed at event \d+$/),
      expect.stringMatching(/^kernel-bug at event \d+: .*kernel BUG at kernel\/dma\/mapping\.c:dma_unmap_phys!$/),
    ]);
  });
});

describe('runScenarioPrograms: program ends and whole-run expectations', () => {
  it('a device program that throws fails the scenario at its program entry', async () => {
    const s = load(TWO, 'two.yaml');
    const r = await runScenarioPrograms(s, {
      ...SEEDED, threads: 'inline',
      programs: [{ dev: '0000:01:00.0', program: { kind: 'module', url: PROGRAMS_URL, params: { mode: 'throw', n: 20 } } }],
    });
    expect(r.passed).toBe(false);
    expect(text(r.failures)).toMatch(/^two\.yaml:14:\d+: programs\["0000:01:00\.0"\]: program\n/);
    expect(text(r.failures)).toContain('failed: simulated driver crash: NULL pointer dereference in the RX handler');
  });

  it('whole-run expectations are checked at the end with their locations; --fail-on yields to what they count', async () => {
    const src = TWO.replace('ops: 3000 }', 'ops: 3000, bug-missing-sync: 0.05 }') + 'expect:\n  findings: { cpu-owned-violation: 1 }\n  error-count: 0\n  dmesg: [ "DMA-API: nvme 0000:02:00.0" ]\n';
    const s = load(src, 'two.yaml');
    const r = await runScenarioPrograms(s, { ...SEEDED, threads: 2 });
    const n = r.final.findings['cpu-owned-violation'];
    expect(n).toBeGreaterThan(1);
    expect(r.failures.map((f) => [f.where, f.key, f.loc.line])).toEqual([['expect', 'dmesg', 26], ['expect', 'findings', 24]]);
    expect(text(r.failures)).toContain(`! cpu-owned-violation: 1 | cpu-owned-violation: ${n}`);
    expect(scenarioRunFailed(r, s, 'none')).toBe(true);

    const exact = load(src.replace('cpu-owned-violation: 1 }', `cpu-owned-violation: ${n} }`).replace(/ {2}dmesg: .*\n/, ''), 'two.yaml');
    const ok = await runScenarioPrograms(exact, { ...SEEDED, threads: 2 });
    expect(text(ok.failures)).toBe('');
    // The findings are what the file expects: --fail-on findings does not fail the run for them.
    expect(scenarioRunFailed(ok, exact, 'findings')).toBe(false);
    // Without a findings expectation --fail-on findings decides, as for any stress run.
    expect(scenarioRunFailed(ok, load(TWO.replace('ops: 3000 }', 'ops: 3000, bug-missing-sync: 0.05 }'), 'two.yaml'), 'findings')).toBe(true);
  });
});
