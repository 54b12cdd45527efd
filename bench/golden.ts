// Behaviour guard for hot-path edits: `record DIR` writes a log of every mix with the current
// model; `check DIR` replays them with the current model and fails unless every outcome digest
// and state hash is identical. Record before an optimisation, check after it.
//   pnpm tsx bench/golden.ts record|check DIR [EVENTS]

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { replay } from '../packages/core/src/index.ts';
import { BUG_KNOBS, BUG_PREFIX, runStress } from '../packages/workers/src/index.ts';
import { MIX_NAMES, MIXES } from './mixes.ts';
import { recordMix } from './replay-figures.ts';

const [what, dir, eventsArg = '30000'] = process.argv.slice(2);
if ((what !== 'record' && what !== 'check') || !dir) {
  process.stderr.write('usage: pnpm tsx bench/golden.ts record|check DIR [EVENTS]\n');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
let bad = 0;
for (const mix of MIX_NAMES) {
  for (const devices of [3, 8]) {
    const file = join(dir, `${mix}-${devices}.dlog`);
    if (what === 'record') {
      const r = await recordMix(mix, devices, Number(eventsArg), 11n, file);
      console.log(`recorded ${file}: ${r.events} events, state ${r.stateHash}`);
    } else {
      if (!existsSync(file)) throw new Error(`${file} missing: record first`);
      const r = replay(file);
      const d = r.divergence;
      console.log(`${file}: ${r.verdict} ${r.events} events, state ${r.state}${d ? ` — diverged at ${d.seq}: ${d.field} expected ${d.expected} actual ${d.actual}` : ''}`);
      if (r.verdict !== 'identical') bad++;
    }
  }
}
// The mixed platform with every driver bug knob on: findings, faults and dma-debug errors.
const buggy = join(dir, 'mixed-buggy.dlog');
if (what === 'record') {
  const { config, programs } = MIXES.mixed.build(8, Math.ceil(Number(eventsArg) / 8), 12n);
  const bugs = Object.fromEntries(Object.keys(BUG_KNOBS).map((k) => [BUG_PREFIX + k, 0.01]));
  for (const p of programs) if (p.program.kind === 'workload') p.program.params = { ...p.program.params, ...bugs };
  const r = await runStress({ config, programs, schedule: { mode: 'random', seed: 12n }, threads: 'inline', out: buggy, dmasimVersion: 'bench' });
  const findings = Object.entries(r.findingCounts).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`recorded ${buggy}: ${r.events} events, ${r.end}, state ${r.stateHash}; findings: ${findings || 'none'}; dma-debug errors ${r.debugErrors}`);
} else {
  const r = replay(buggy);
  console.log(`${buggy}: ${r.verdict} ${r.events} events, state ${r.state}`);
  if (r.verdict !== 'identical') bad++;
}
process.exit(bad ? 1 : 0);
