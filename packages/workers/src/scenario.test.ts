// Scenario files drive stress runs through `programs:` (workloads and device-local scripts with
// repeat), after the top-level script; bad programs are refused with file, line and key.

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadScenario, replay, type Event, type Outcome } from '@dmasim/core';
import { runStress, scenarioPrograms } from './index.ts';
import { tmpDir } from './testing/setups.ts';

const FILE = fileURLToPath(new URL('./testing/two-drivers.yaml', import.meta.url));
const load = (text = readFileSync(FILE, 'utf8')) => loadScenario(text, 'two-drivers.yaml');

describe('scenario programs', () => {
  it('runs the script first, then a workload and a repeated device-local script, pct-seeded; replays', async () => {
    const s = load();
    const programs = scenarioPrograms(s);
    expect(programs.map((p) => p.program.kind)).toEqual(['workload', 'steps']);
    const events: [number, Event, Outcome][] = [];
    const out = join(tmpDir('scn'), 'scn.dmalog');
    const r = await runStress({
      config: s.config, programs, script: s.steps, schedule: { mode: 'pct', seed: 4n, depth: 2 }, out, threads: 2,
      onEvent: (_seq, dev, ev, o) => events.push([dev, ev, o]),
    });
    expect(r.end).toBe('completed');
    expect(r.findingCounts).toEqual({});
    expect(r.debugErrors).toBe(0);
    // The script's two steps come first; its coherent buffer's CPU address came from the model.
    expect(events[0]![0]).toBe(-1);
    expect(events[1]![1]).toEqual({ op: 'cpu-write', cpu: 0, phys: events[0]![2].phys, size: 64, fill: 0x5a });
    expect(r.script.map((x) => x.seq)).toEqual([1, 2]);
    const storage = events.filter(([d]) => d === 1);
    expect(storage.length).toBe(500);
    // Every repetition unmaps exactly the IOVA its map returned, and reads back what the device wrote.
    for (let i = 0; i < storage.length; i += 5) {
      const map = storage[i]![2].result;
      expect(storage[i + 2]![1]).toMatchObject({ op: 'dev-write', addr: map + 0x40n });
      expect(storage[i + 3]![1]).toMatchObject({ op: 'unmap-single', addr: map });
      expect(storage[i + 4]![2].data).toEqual(new Uint8Array(512).fill(0xab));
    }
    expect(replay(out).verdict).toBe('identical');
  });

  it('refuses an unknown workload parameter with the file, line and key', () => {
    const bad = readFileSync(FILE, 'utf8').replace('ring: 32', 'rings: 32');
    expect(() => scenarioPrograms(load(bad))).toThrow(/^two-drivers\.yaml:14:\d+: programs\["0000:01:00\.0"\]\.rings: workload nic-rx: unknown parameter "rings"/);
  });

  it('refuses an unknown workload', () => {
    const bad = readFileSync(FILE, 'utf8').replace('workload: nic-rx', 'workload: nic-rxx');
    expect(() => scenarioPrograms(load(bad))).toThrow(/two-drivers\.yaml:14:\d+: .*unknown workload "nic-rxx"/);
  });
});
