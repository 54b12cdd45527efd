// Every scenario in scenarios/ recorded through the log replays identically: same outcomes, same
// state hashes, same final state as the run itself.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadScenario } from '../scenario/loader.ts';
import { replay } from '../replay.ts';
import { perturbedMachine } from './perturb.ts';
import { LogReader } from './reader.ts';
import { recordScenarioRun } from './record.ts';

const scenariosDir = fileURLToPath(new URL('../../../../scenarios/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dmasim-scenario-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const files = readdirSync(scenariosDir).filter((f) => f.endsWith('.yaml')).sort();
const load = (f: string) => loadScenario(readFileSync(join(scenariosDir, f), 'utf8'), join(scenariosDir, f));
// Scenarios with concurrent `programs` run in worker threads, not through runScenario: the e2e
// test/scenarios.test.ts runs them through @dmasim/workers and replays their logs.
const scripted = files.filter((f) => !(load(f).programs?.length));

describe('replay of every scripted scenario', () => {
  it('finds the scenarios', () => {
    expect(scripted.length).toBeGreaterThan(10);
  });

  for (const f of scripted) {
    it(`${f} replays identically`, () => {
      const source = readFileSync(join(scenariosDir, f), 'utf8');
      const rec = recordScenarioRun(load(f), join(dir, `${f}.dlog`), { dmasim: 'test', source, writer: { batchEvents: 4, stateHashEvery: 3 } });
      const r = replay(rec.log);
      expect(r.verdict).toBe('identical');
      expect(r.events).toBe(rec.result.final.events);
      expect(r.state).toBe(rec.result.final.stateHash);
      expect(r.header.scenario).toMatchObject({ name: rec.result.name, source });
      // The log holds each event exactly as the runner handed it to Machine.apply.
      const reader = LogReader.open(rec.log);
      expect([...reader.records()].map((x) => x.event)).toStrictEqual(rec.result.steps.flatMap((st) => (st.event ? [st.event] : [])));
      reader.close();
      if (r.events >= 2) {
        const bad = replay(rec.log, { machine: perturbedMachine(2, 'result') });
        expect(bad.divergence).toMatchObject({ seq: 2, field: 'result' });
      }
    });
  }
});
