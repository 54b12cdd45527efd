// The scenario library is a test suite: every scenarios/*.yaml must load and pass under the
// profile its `kernel:` names. Failures print the runner's located expected/actual report.
// Files with `programs:` run as `dmasim run` runs them: through the device workers, under the
// seeded schedule `--schedule random --seed <the file's seed>`; their logs must replay identically
// (the core replay test covers the step-only files).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diffRuns, formatFailure, loadScenario, replay, runScenario, type Scenario } from '@dmasim/core';
import { logHash, runScenarioPrograms } from '@dmasim/workers';

const DIR = join(import.meta.dirname, '..', 'scenarios');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
const load = (f: string) => loadScenario(readFileSync(join(DIR, f), 'utf8'), `scenarios/${f}`);

describe('scenario library', () => {
  it('is not empty', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  for (const f of files) {
    const s = load(f);
    if (s.programs?.length) continue;
    it(f, () => {
      expect(s.description.trim().length, 'every library scenario says what it teaches').toBeGreaterThan(40);
      const r = runScenario(s);
      const report = r.failures.flatMap(formatFailure).join('\n');
      expect(report, report).toBe('');
      expect(r.passed).toBe(true);
    });
  }
});

describe('scenario library: files with programs (device workers)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-programs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const withPrograms = files.filter((f) => load(f).programs?.length);
  const seeded = (s: Scenario) => ({ schedule: { mode: 'random' as const, seed: s.config.seed } });

  it('has some', () => {
    expect(withPrograms.length).toBeGreaterThanOrEqual(3);
  });

  for (const f of withPrograms) {
    it(`${f} passes under its seeded schedule, and its log replays identically`, async () => {
      const s = load(f);
      expect(s.description.trim().length, 'every library scenario says what it teaches').toBeGreaterThan(40);
      const out = join(dir, `${f}.dmalog`);
      const r = await runScenarioPrograms(s, { ...seeded(s), out });
      const report = r.failures.flatMap(formatFailure).join('\n');
      expect(report, report).toBe('');
      expect(r.passed).toBe(true);
      // Kept small: a library file is a quick test, not a benchmark.
      expect(r.final.events).toBeLessThan(20_000);
      const rep = replay(out);
      expect(rep.verdict).toBe('identical');
      expect(rep.events).toBe(r.final.events);
      expect(rep.state).toBe(r.final.stateHash);
    });
  }

  it('a file with programs is reproducible from its seed: two runs, one log hash', async () => {
    const f = withPrograms.find((x) => x.includes('lazy-vs-strict')) ?? withPrograms[0]!;
    const s = load(f);
    const hashes: string[] = [];
    for (const i of [1, 2]) {
      const out = join(dir, `again-${i}.dmalog`);
      const r = await runScenarioPrograms(s, { ...seeded(s), out });
      expect(r.passed).toBe(true);
      hashes.push(logHash(out));
    }
    expect(hashes[0]).toBe(hashes[1]);
  });
});

describe('diff-kernels on the seed patch scenario', () => {
  it('shows the trace difference of MMIO on legacy ops without map_resource (D3 vs D6)', () => {
    const s = load('seed-patch-mmio-6.18.yaml');
    const d = diffRuns(runScenario(s, { profile: '6.17' }), runScenario(s, { profile: '6.18' }));
    const noMapResource = d.steps.find((x) => x.op === 'map-resource' && s.steps[x.index]!.dev === '0000:06:00.0');
    expect(noMapResource?.fields.find((f) => f.field === 'trace')).toEqual({
      field: 'trace',
      a: ['dma_map_resource: 0000:06:00.0 dir=BIDIRECTIONAL dma_addr=ffffffffffffffff size=4096 phys_addr=3f00002000 attrs='],
      b: [],
    });
    expect(d.run).toEqual([{ field: 'debug-entries', a: ['1'], b: ['0'] }]);
  });

  it('the twin files agree with each other: each passes under its own kernel and fails under the other', () => {
    for (const [f, other] of [['seed-patch-mmio-6.18.yaml', '6.17'], ['seed-patch-mmio-6.17.yaml', '6.18']] as const) {
      expect(runScenario(load(f)).passed).toBe(true);
      expect(runScenario(load(f), { profile: other }).passed).toBe(false);
    }
  });
});

describe('docs/scenarios.md', () => {
  it('the "Write your own scenario" example loads and passes', () => {
    const md = readFileSync(join(import.meta.dirname, '..', 'docs', 'scenarios.md'), 'utf8');
    const section = md.split('## Write your own scenario')[1] ?? '';
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(yaml).toBeDefined();
    const r = runScenario(loadScenario(yaml!, 'my-first-bounce.yaml'));
    expect(r.failures.flatMap(formatFailure)).toEqual([]);
    expect(r.steps).toHaveLength(3);
  });
});
