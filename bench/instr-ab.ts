// A/B of the model's replay by counted instructions and simulated cache misses, not time: on these
// shared VMs two identical builds timed side by side differ by up to 20 % (BENCHMARKS.md, sixteenth
// round), which hides any change of a few percent. Both cores (REF's and the working tree's) are
// compiled to JavaScript; each replays LOG under valgrind's cachegrind, once FEW and once MANY
// times in one process, with V8 in its predictable mode (single-threaded: compilation and GC on the
// main thread; a GC schedule that does not follow the clock; seeded), so that processes do as
// nearly the same work as V8 allows. The difference of the two counts, divided by the events of
// MANY - FEW replays, is what one warm replay costs per event: instructions, first-level data cache
// misses (32 KiB, 8-way) and misses of a 512 KiB, 8-way last level standing in for this machine's
// per-core L2 (cachegrind models two levels).
//
// Even so, the counts vary from process to process: four invocations of one commit, all with the
// same seeds, were 6.6 % apart in D1 and 8.9 % in L2 misses per event, and neither a fixed build
// path nor turning address randomization off (`setarch -R`) made processes agree (seventeenth
// round). Other V8 seeds give a range as wide (one commit over seeds 1, 2 and 3: 15 344–15 710
// instructions, 235–241 D1 and 64.7–68.6 L2 misses per event), and so can any change of the code,
// which moves where V8 puts things (a change that counted −5 % D1 and −6 % L2 misses with one
// process a side counted +3 % and +0 % over three). So each side runs its pair of processes (FEW
// and MANY) SEEDS times, with `--hash-seed` and `--random-seed` 1..N, and the report gives each
// side's median and range; read a difference inside the ranges as none. It counts; it does not
// time: a change that trades instructions for misses, or the reverse, still needs a timed run
// (bench/ab.ts, `pnpm bench`) to weigh them. Needs valgrind (`apt-get install valgrind`); with
// three seeds an invocation takes ~15 minutes on the 200 k-event direct-only log. A tool for
// BENCHMARKS.md, not part of `pnpm bench`.
//   pnpm tsx bench/instr-ab.ts [--ref REF] [--few N] [--many N] [--seeds N] LOG

import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { checkoutCore, compileReplayRunner, predictableV8, repoRoot } from './compile-core.ts';
import { ratio, summarize, type Summary } from './stats.ts';

const { values, positionals } = parseArgs({
  options: { ref: { type: 'string', default: 'HEAD' }, few: { type: 'string', default: '2' }, many: { type: 'string', default: '4' }, seeds: { type: 'string', default: '3' } },
  allowPositionals: true,
});
const few = Number(values.few);
const many = Number(values.many);
const seeds = Number(values.seeds);
const log = positionals[0];
if (!log || !(few >= 1 && many > few) || !(Number.isInteger(seeds) && seeds >= 1)) {
  throw new Error('usage: pnpm tsx bench/instr-ab.ts [--ref REF] [--few N] [--many N] [--seeds N] LOG');
}

const root = repoRoot;
const commit = execFileSync('git', ['rev-parse', '--short', values.ref!], { cwd: root, encoding: 'utf8' }).trim();
const dir = mkdtempSync(join(tmpdir(), 'dmasim-instr-'));

interface Counts { events: number; ir: number; d1: number; l2: number }

/** cachegrind's totals for `times` replays of the log with the core built in `out`, V8 seeded with `seed`. */
async function count(out: string, times: number, seed: number): Promise<Counts> {
  const { stdout, stderr } = await promisify(execFile)('valgrind', [
    '--tool=cachegrind', '--cache-sim=yes', '--I1=32768,8,64', '--D1=32768,8,64', '--LL=524288,8,64', '--cachegrind-out-file=/dev/null',
    process.execPath, ...predictableV8(seed), join(out, 'replay.mjs'), resolve(log!), String(times),
  ], { cwd: out, maxBuffer: 1 << 26 });
  const num = (re: RegExp): number => {
    const m = re.exec(stderr);
    if (!m) throw new Error(`cachegrind output without ${re}:\n${stderr.slice(-2000)}`);
    return Number(m[1]!.replace(/,/g, ''));
  };
  return { events: Number(/events (\d+)/.exec(stdout)?.[1]), ir: num(/I\s+refs:\s+([\d,]+)/), d1: num(/D1\s+misses:\s+([\d,]+)/), l2: num(/LL misses:\s+([\d,]+)/) };
}

try {
  compileReplayRunner(join(dir, 'old'), checkoutCore(commit, join(dir, 'ref')));
  compileReplayRunner(join(dir, 'new'), root);
  const per: Record<string, Counts[]> = { old: [], new: [] };
  for (let seed = 1; seed <= seeds; seed++) {
    for (const side of ['old', 'new']) {
      // Two valgrind processes at a time (this machine has two cores): counts do not depend on it.
      const [a, b] = await Promise.all([count(join(dir, side), few, seed), count(join(dir, side), many, seed)]);
      if (a.events !== b.events || !(a.events > 0)) throw new Error(`${side}: ${a.events} and ${b.events} events`);
      const n = a.events * (many - few);
      per[side]!.push({ events: a.events, ir: (b.ir - a.ir) / n, d1: (b.d1 - a.d1) / n, l2: (b.l2 - a.l2) / n });
    }
  }
  const of = (side: string, k: 'ir' | 'd1' | 'l2'): Summary => summarize(per[side]!.map((c) => c[k]));
  const show = (side: string, k: 'ir' | 'd1' | 'l2', digits: number): string => {
    const x = of(side, k);
    return `${x.median.toFixed(digits)} (${x.min.toFixed(digits)}–${x.max.toFixed(digits)})`;
  };
  const pct = (k: 'ir' | 'd1' | 'l2'): string => {
    const r = ratio(of('new', k), of('old', k));
    return `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(2)} %`;
  };
  console.log(`${log}: ${per.old![0]!.events} events, one warm replay (replays ${few + 1}..${many} of a process), per event; median (min–max) of ${seeds} V8 seed${seeds === 1 ? '' : 's'}`);
  for (const [side, name] of [['old', `old (${commit})      `], ['new', 'new (working tree) ']] as const) {
    console.log(`  ${name} instructions ${show(side, 'ir', 0)}, D1 misses ${show(side, 'd1', 1)}, L2 (512 KiB) misses ${show(side, 'l2', 1)}`);
  }
  console.log(`  new / old (medians): instructions ${pct('ir')}, D1 misses ${pct('d1')}, L2 misses ${pct('l2')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
