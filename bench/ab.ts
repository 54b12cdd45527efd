// Same-process A/B of the model's replay speed between a commit and the working tree, the
// comparison BENCHMARKS.md's rounds use for their before/after (on these shared VMs two bench runs
// minutes apart differ by more than most changes do). The core of REF is extracted with
// `git archive` into a temporary directory that borrows the tree's node_modules; both `replay`
// functions are imported into this one process and warm replays of each log alternate, old and
// new, for ROUNDS rounds (which one goes first alternates too). Reported per log: CPU µs per event
// (the process's, GC helper threads included) as median and fastest, the median of the paired
// ratios new / old (each pair ran back to back), and the wall-clock rate.
//   pnpm tsx bench/ab.ts [--ref REF] [--rounds N] LOG...      (REF default HEAD, N default 8)
// Logs come from `bench/profile-replay.ts MIX EVENTS record` or any `dmasim` run. A LOG given as
// OLD_LOG=NEW_LOG has each side replay its own file: the same run recorded by each side, for a
// change of the log format that REF cannot read (both must hold the same events). A tool for
// BENCHMARKS.md, not part of `pnpm bench`.

import '../packages/cli/src/v8-tuning.ts'; // as dmasim and the bench run
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { extractCore, repoRoot } from './compile-core.ts';

type Replay = (file: string, opts: object) => { verdict: string; events: number };

const { values, positionals: logs } = parseArgs({
  options: { ref: { type: 'string', default: 'HEAD' }, rounds: { type: 'string', default: '8' } },
  allowPositionals: true,
});
const rounds = Number(values.rounds);
if (logs.length === 0 || !(rounds >= 1)) throw new Error('usage: pnpm tsx bench/ab.ts [--ref REF] [--rounds N] LOG...');

const commit = execFileSync('git', ['rev-parse', '--short', values.ref], { cwd: repoRoot, encoding: 'utf8' }).trim();
const dir = mkdtempSync(join(tmpdir(), 'dmasim-ab-'));
try {
  extractCore(commit, dir);
  const load = async (base: string): Promise<Replay> =>
    ((await import(pathToFileURL(join(base, 'packages/core/src/index.ts')).href)) as { replay: Replay }).replay;
  const sides: [string, Replay][] = [[`old (${commit})`, await load(dir)], ['new (working tree)', await load(repoRoot)]];

  for (const log of logs) {
    const files = log.includes('=') ? log.split('=', 2) : [log, log];
    const cpu: number[][] = [[], []];
    const wall: number[][] = [[], []];
    const once = (side: number): void => {
      const c = process.cpuUsage();
      const t = performance.now();
      const r = sides[side]![1](files[side]!, {});
      const ms = performance.now() - t;
      const u = process.cpuUsage(c);
      if (r.verdict !== 'identical') throw new Error(`${sides[side]![0]}: replay of ${files[side]} is ${r.verdict}`);
      if (events[side] === 0) events[side] = r.events;
      else if (events[side] !== r.events) throw new Error(`${files[side]}: ${r.events} events, then ${events[side]}`);
      cpu[side]!.push((u.user + u.system) / r.events);
      wall[side]!.push((r.events / ms) * 1000);
    };
    const events = [0, 0];
    once(0); // warm-up of each side, not counted
    once(1);
    if (events[0] !== events[1]) throw new Error(`${log}: the two logs hold ${events[0]} and ${events[1]} events`);
    cpu[0] = [];
    cpu[1] = [];
    wall[0] = [];
    wall[1] = [];
    for (let i = 0; i < rounds; i++) for (const side of i % 2 ? [0, 1] : [1, 0]) once(side);
    const med = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const pairs = cpu[1]!.map((x, i) => x / cpu[0]![i]!);
    console.log(`${log}: ${rounds} rounds`);
    for (const side of [0, 1]) {
      console.log(`  ${sides[side]![0].padEnd(20)} cpu µs/event median ${med(cpu[side]!).toFixed(2)}, fastest ${Math.min(...cpu[side]!).toFixed(2)}; wall ${Math.round(med(wall[side]!))} events/s median`);
    }
    const pct = (r: number): string => `${r < 1 ? '' : '+'}${((r - 1) * 100).toFixed(1)} %`;
    console.log(`  new / old: median ${pct(med(cpu[1]!) / med(cpu[0]!))}, fastest ${pct(Math.min(...cpu[1]!) / Math.min(...cpu[0]!))}, paired ratios' median ${pct(med(pairs))}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
