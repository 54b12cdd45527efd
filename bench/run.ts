// `pnpm bench [--quick] [--only replay,pipeline,memory,seek] [--mixes a,b] [--events N] [--memory-events N] [--runs N] [--out FILE] [--keep]`:
// runs the benchmark, prints the tables and writes bench/results.json. See BENCHMARKS.md.

import '../packages/cli/src/v8-tuning.ts'; // first, as in bin.ts: the bench measures what dmasim runs
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPlan, FIGURES, runBench, type Figure } from './bench.ts';
import { parseMixes } from './mixes.ts';
import { render } from './report.ts';

function usage(msg: string): never {
  process.stderr.write(`pnpm bench: ${msg}\nusage: pnpm bench [--quick] [--only ${FIGURES.join(',')}] [--mixes a,b] [--events N] [--memory-events N] [--runs N] [--out FILE] [--keep]\n`);
  process.exit(2);
}

const argv = process.argv.slice(2).filter((a) => a !== '--');
let quick = false;
let keep = false;
let only: Figure[] | undefined;
let mixes: string | undefined;
let out = join(import.meta.dirname, 'results.json');
let events: number | undefined;
let memoryEvents: number | undefined;
let runs: number | undefined;
const count = (flag: string, v: string): number => {
  const n = Number(v.replace(/_/g, '').replace(/[kK]$/, '000').replace(/M$/, '000000'));
  if (!Number.isSafeInteger(n) || n < 1) usage(`${flag}: expected a positive count, got "${v}"`);
  return n;
};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  const val = (): string => {
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
    if (v === undefined) usage(`${a} needs a value`);
    return v;
  };
  if (a === '--quick') quick = true;
  else if (a === '--keep') keep = true;
  else if (a.startsWith('--only')) {
    only = val().split(',') as Figure[];
    for (const f of only) if (!FIGURES.includes(f)) usage(`unknown figure "${f}"`);
  } else if (a.startsWith('--mixes')) mixes = val();
  else if (a.startsWith('--out')) out = val();
  else if (a.startsWith('--events')) events = count(a, val());
  else if (a.startsWith('--memory-events')) memoryEvents = count(a, val());
  else if (a.startsWith('--runs')) runs = count(a, val());
  else usage(`unknown argument "${a}"`);
}

const plan = defaultPlan(quick);
if (only) plan.figures = only;
if (events) plan.replayEvents = plan.pipelineEvents = events;
if (memoryEvents) plan.memoryEvents = memoryEvents;
if (runs) plan.replayRuns = plan.pipelineRuns = plan.seekRuns = runs;
if (mixes) {
  try {
    plan.replayMixes = parseMixes(mixes);
    plan.pipelineMixes = plan.replayMixes;
  } catch (e) {
    usage((e as Error).message);
  }
}
const dir = mkdtempSync(join(tmpdir(), 'dmasim-bench-'));
const command = ['pnpm bench', ...argv].join(' ');
try {
  const res = await runBench(plan, dir, command, (m) => process.stderr.write(`[bench] ${m}\n`));
  writeFileSync(out, JSON.stringify(res, null, 2) + '\n');
  process.stdout.write(render(res) + '\n');
  process.stdout.write(`\nresults: ${out}\n`);
} finally {
  if (keep) process.stderr.write(`[bench] logs kept in ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}
