// Where a warm replay's instructions go, function by function, counted under valgrind's callgrind
// rather than sampled by the clock: JavaScript functions (named through V8's perf map,
// `--perf-basic-prof`, since callgrind sees JIT code only as addresses) side by side with what V8
// runs for them that a `--cpu-prof` profile folds into its callers or leaves out — inline-cache
// misses and megamorphic lookups, BigInt conversions in the runtime, string compares, typed-array
// construction, the garbage collector and the compiler. The core (the working tree's, or REF's) is
// compiled to JavaScript and replays LOG FEW and MANY times in two processes; each function's count
// in the second minus the first, over the events of MANY - FEW replays, is its instructions per
// event of a warm replay (BENCHMARKS.md, nineteenth round, found the megamorphic lookups, the
// string compares and the data fold's share this way).
//
// Read it with its limits: the counts are instructions, not time (a loop of multiplies and a cache
// miss can take the same time for very different counts); V8 runs in its predictable mode (see
// predictableV8), so the GC and the compiler work on the main thread and are counted here where a
// real run does part of it on a helper thread; and a function V8 has not optimized by the replays
// FEW..MANY shows its baseline code's inline-cache calls. Give it a log of 200 k events or more:
// on one of 20 k the compiler's work is still 40 % of replays 3..4. Needs valgrind (callgrind_annotate comes
// with it); ~3 minutes on the 200 k-event direct-only log with the defaults. A tool for
// BENCHMARKS.md, not part of `pnpm bench`.
//   pnpm tsx bench/instr-profile.ts [--ref REF] [--few N] [--many N] [--top K] [--callers NAME] LOG
// --callers NAME also lists what calls the functions whose name contains NAME (e.g.
// Builtins_LoadIC_Megamorphic), by the instructions spent in them per event.

import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { checkoutCore, compileReplayRunner, predictableV8, repoRoot } from './compile-core.ts';

const { values, positionals } = parseArgs({
  options: {
    ref: { type: 'string' }, few: { type: 'string', default: '2' }, many: { type: 'string', default: '4' },
    top: { type: 'string', default: '40' }, callers: { type: 'string' },
  },
  allowPositionals: true,
});
const few = Number(values.few);
const many = Number(values.many);
const top = Number(values.top);
const log = positionals[0];
if (!log || !(few >= 1 && many > few) || !(top >= 1)) {
  throw new Error('usage: pnpm tsx bench/instr-profile.ts [--ref REF] [--few N] [--many N] [--top K] [--callers NAME] LOG');
}

/** A process's JIT code objects from its perf map: start, size, name, sorted by start. */
interface PerfMap { starts: number[]; sizes: number[]; names: string[] }

function readPerfMap(file: string): PerfMap {
  const rows = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => {
    const a = l.indexOf(' ');
    const b = l.indexOf(' ', a + 1);
    return { start: parseInt(l.slice(0, a), 16), size: parseInt(l.slice(a + 1, b), 16), name: l.slice(b + 1) };
  });
  rows.sort((x, y) => x.start - y.start);
  return { starts: rows.map((r) => r.start), sizes: rows.map((r) => r.size), names: rows.map((r) => r.name) };
}

/** The JavaScript function whose code holds `addr`: "JS name file:line:col" (tier marks and the build directory dropped). */
function jsName(m: PerfMap, addr: number, outDir: string): string {
  let lo = 0;
  let hi = m.starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (m.starts[mid]! <= addr) lo = mid + 1;
    else hi = mid - 1;
  }
  // Code objects can overlap where one replaced another: look back a few for the one that holds addr.
  for (let i = hi; i >= 0 && i > hi - 8; i--) {
    if (addr < m.starts[i]! + m.sizes[i]!) {
      const name = m.names[i]!.replace(/^JS:[*~^+]?/, '').replace(`file://${outDir}/out/`, '').replace(/^Builtin:/, 'Builtins_');
      return name.startsWith('Builtins_') ? name : `JS ${name}`;
    }
  }
  return 'JIT code outside the perf map (WebAssembly, stubs)';
}

/** A callgrind_annotate row's function, named: JIT addresses through the perf map, the rest without their file and object. */
function nameOf(raw: string, m: PerfMap, outDir: string): string {
  const jit = /^\?\?\?:0x([0-9a-f]+)(?:'\d+)? \[\?\?\?\]/.exec(raw);
  if (jit) return jsName(m, parseInt(jit[1]!, 16), outDir);
  return raw.replace(/^\?\?\?:/, '').replace(/ \[[^\]]*\]$/, '').replace(/^.*\/(memset|memmove|memcpy)[^:]*:/, 'libc ');
}

const ROW = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/;

/** Self instructions per function, from `callgrind_annotate --inclusive=no`. */
function selfCounts(file: string, m: PerfMap, outDir: string): Map<string, number> {
  const text = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const r = ROW.exec(line);
    if (!r || r[2]!.startsWith('PROGRAM TOTALS')) continue;
    const k = nameOf(r[2]!, m, outDir);
    out.set(k, (out.get(k) ?? 0) + Number(r[1]!.replace(/,/g, '')));
  }
  return out;
}

/** Instructions spent in functions named like `callee`, by caller (`callgrind_annotate --tree=caller`: `<` rows precede the `*` row they call). */
function callerCounts(file: string, callee: string, m: PerfMap, outDir: string): Map<string, number> {
  const text = execFileSync('callgrind_annotate', ['--tree=caller', '--inclusive=yes', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const out = new Map<string, number>();
  let pending: [string, number][] = [];
  for (const line of text.split('\n')) {
    const caller = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+<\s+(.*)$/.exec(line);
    if (caller) {
      pending.push([nameOf(caller[2]!.replace(/ \([\d,]+x\)/, ''), m, outDir), Number(caller[1]!.replace(/,/g, ''))]);
      continue;
    }
    const self = /^\s*[\d,]+ \(\s*[\d.]+%\)\s+\*\s+(.*)$/.exec(line);
    if (self && nameOf(self[1]!, m, outDir).includes(callee)) for (const [k, v] of pending) out.set(k, (out.get(k) ?? 0) + v);
    if (self || line.trim() === '') pending = [];
  }
  return out;
}

function category(k: string): string {
  if (k.startsWith('JS ')) return 'JavaScript';
  if (k.startsWith('JIT code')) return 'WebAssembly and stubs';
  if (/compiler::|[Mm]aglev|Turbofan/.test(k)) return 'compiler';
  if (/BigInt/.test(k)) return 'BigInt';
  if (/Mark|Scaveng|Sweep|Heap|heap::|Evacuat|GC|Slot|Allocat|BodyDescriptor|Visit|RecordWrite|Space|Page|Worklist|SizeFromMap|ObjectCache|Weak/.test(k)) return 'GC and write barriers';
  if (/IC(_|Trampoline|Baseline|$)|IC /.test(k)) return 'inline caches';
  if (k.startsWith('Builtins_')) return 'other builtins';
  if (k.startsWith('libc ')) return 'libc';
  return 'other';
}

interface Run { file: string; map: PerfMap }

async function callgrind(out: string, times: number, dir: string): Promise<Run> {
  const file = join(dir, `callgrind.${times}`);
  await promisify(execFile)('valgrind', [
    '--tool=callgrind', `--callgrind-out-file=${file}`,
    process.execPath, '--perf-basic-prof', ...predictableV8(1), join(out, 'replay.mjs'), resolve(log!), String(times),
  ], { cwd: out, maxBuffer: 1 << 26 });
  const pid = /^pid: (\d+)/m.exec(readFileSync(file, 'utf8').slice(0, 4096))?.[1];
  if (!pid) throw new Error(`${file}: no pid line`);
  const mapFile = join(dir, `perf-${pid}.map`);
  copyFileSync(`/tmp/perf-${pid}.map`, mapFile); // where V8 writes it, whatever TMPDIR says
  rmSync(`/tmp/perf-${pid}.map`);
  return { file, map: readPerfMap(mapFile) };
}

const dir = mkdtempSync(join(tmpdir(), 'dmasim-instr-profile-'));
try {
  let tree = repoRoot;
  let what = 'the working tree';
  if (values.ref) {
    const commit = execFileSync('git', ['rev-parse', '--short', values.ref], { cwd: repoRoot, encoding: 'utf8' }).trim();
    tree = checkoutCore(commit, join(dir, 'ref'));
    what = commit;
  }
  const out = join(dir, 'build');
  compileReplayRunner(out, tree);
  const events = Number(/events (\d+)/.exec(execFileSync(process.execPath, [join(out, 'replay.mjs'), resolve(log), '1'], { cwd: out, encoding: 'utf8' }))?.[1]);
  if (!(events > 0)) throw new Error(`${log}: no events replayed`);
  const [a, b] = await Promise.all([callgrind(out, few, dir), callgrind(out, many, dir)]);
  const per = events * (many - few);
  const fa = selfCounts(a.file, a.map, out);
  const fb = selfCounts(b.file, b.map, out);
  const diff = new Map<string, number>();
  for (const k of new Set([...fa.keys(), ...fb.keys()])) diff.set(k, ((fb.get(k) ?? 0) - (fa.get(k) ?? 0)) / per);
  let total = 0;
  const cats = new Map<string, number>();
  for (const [k, v] of diff) {
    total += v;
    cats.set(category(k), (cats.get(category(k)) ?? 0) + v);
  }
  const pct = (v: number): string => `${((v / total) * 100).toFixed(1).padStart(5)} %`;
  console.log(`${log}: ${events} events, core of ${what}; instructions per event of a warm replay (replays ${few + 1}..${many} of a process): ${Math.round(total)}`);
  for (const [k, v] of [...cats].sort((x, y) => y[1] - x[1])) console.log(`  ${String(Math.round(v)).padStart(7)} ${pct(v)}  ${k}`);
  console.log(`the ${top} largest:`);
  for (const [k, v] of [...diff].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`  ${String(Math.round(v)).padStart(7)} ${pct(v)}  ${k}`);
  if (values.callers) {
    const ca = callerCounts(a.file, values.callers, a.map, out);
    const cb = callerCounts(b.file, values.callers, b.map, out);
    console.log(`callers of functions named like ${values.callers}, instructions per event spent in them:`);
    const rows = [...new Set([...ca.keys(), ...cb.keys()])].map((k) => [k, ((cb.get(k) ?? 0) - (ca.get(k) ?? 0)) / per] as const);
    for (const [k, v] of rows.sort((x, y) => y[1] - x[1]).slice(0, top)) if (Math.round(v) > 0) console.log(`  ${String(Math.round(v)).padStart(7)}  ${k}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
