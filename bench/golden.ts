// Behaviour guard for hot-path edits: `record DIR` writes a log of every mix with the current
// model; `check DIR` replays them with the current model and fails unless every outcome digest
// and state hash is identical. Record before an optimisation, check after it.
//   pnpm tsx bench/golden.ts record|check DIR [EVENTS]

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { replay } from '../packages/core/src/index.ts';
import { MIX_NAMES } from './mixes.ts';
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
process.exit(bad ? 1 : 0);
