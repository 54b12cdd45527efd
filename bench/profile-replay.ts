// Records one mix into a log and replays it, for `node --cpu-prof` (BENCHMARKS.md, "Profiling"):
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-replay.ts MIX EVENTS [replay|record|pipeline DEVICES]
// The recording is done first and is not what to read in the profile; the replay is the hot part.

import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMixes } from './mixes.ts';
import { runPipeline } from './pipeline-figures.ts';
import { recordMix, timeReplay } from './replay-figures.ts';
import { rate } from './stats.ts';

const [mixArg = 'direct-only', eventsArg = '200000', what = 'replay', devicesArg = '8'] = process.argv.slice(2);
const mix = parseMixes(mixArg)[0]!;
const events = Number(eventsArg);
const dir = join(tmpdir(), 'dmasim-profile');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${mix}-${events}.dlog`);
if (what === 'pipeline') {
  const r = await runPipeline({ mix, devices: Number(devicesArg), events, seed: 1n, out: join(dir, `pipe-${mix}-${devicesArg}.dlog`), keepLog: true });
  console.log(`pipeline ${mix} × ${devicesArg}: ${r.events} events, ${Math.round(r.eps)} ev/s steady; log kept in ${join(dir, `pipe-${mix}-${devicesArg}.dlog`)}`);
} else {
  if (what === 'record' || !existsSync(file)) {
    const r = await recordMix(mix, 8, events, 1n, file);
    console.log(`recorded ${mix}: ${r.events} events in ${Math.round(r.recordMs)} ms`);
  }
  if (what === 'replay') {
    const r = timeReplay(file);
    console.log(`replay ${mix}: ${r.events} events, ${Math.round(rate(r.events, r.ms))} ev/s`);
  }
}
