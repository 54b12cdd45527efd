// What a replay would cost without one of its parts: the outcome digest, dma-debug, the live-mapping
// bookkeeping (or the parts of it). A profile charges a function its own samples, but removing a
// part also frees the caches for the rest. On the direct-only log, removing the digest, dma-debug
// and the live mappings together more than halved a warm replay's time per event, where the three
// parts together were about a third of its samples (BENCHMARKS.md, eighteenth round). This tool
// measures what each part is worth before anyone rewrites it.
//
// The core of REF is extracted with `git archive` into a temporary directory (as bench/ab.ts does),
// and only that copy is edited: each edit puts a switch, read from DMASIM_ABLATE, in front of one
// part. Each variant then runs in a process of its own, and the variants take turns for ROUNDS
// rounds. A run interleaves the ceiling of figure 1 (the working tree's `timeCeiling`, three passes
// per replay) with REPLAYS replays. The report gives, per variant, the CPU time per event of every
// replay but the first two of each run, as a median with its range. That is the process's CPU time,
// GC threads included; on this shared VM it moves less than the wall clock. It also gives the
// wall-clock rate, and that rate over the fastest ceiling run, as figure 1 divides.
//
// Every variant except `real` also skips the replay's comparisons (outcome tags, batch chains,
// state marks, the final state), because removing a part changes what the digests hold; `base` is
// that alone, the reference the other variants are read against. A variant that removes a check
// no longer finds what the check finds: only a log in which the check never fires measures the
// same work otherwise. The bench's own logs are such logs; a log with findings is not.
//
// Variants (join parts with '+', e.g. nodig+nodebug):
//   real      the replay as it is (comparisons on)
//   base      the comparisons off, nothing else removed
//   nodig     the outcome digest not computed
//   nodebug   dma-debug off (the platform's dmaDebug.enabled, through replay's `machine` option), as
//             in a kernel built without it: the sync calls of a device that needs no sync are then
//             skipped as well (dma_dev_need_sync)
//   nolive    no live-mapping records, no index, no device-access check
//   nocpu     no CPU-side span index, so CPU accesses find no owner
//   nobusq    no bus-side queries: no device-access check, and syncs change no owner
// A tool for BENCHMARKS.md, not part of `pnpm bench`.
//   pnpm tsx bench/ablate.ts [--ref REF] [--rounds N] [--replays N] LOG [VARIANT,...]

import '../packages/cli/src/v8-tuning.ts'; // as dmasim and the bench run
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { extractCore, repoRoot } from './compile-core.ts';
import { timeCeiling } from './replay-figures.ts';
import { rate, summarize } from './stats.ts';

const PARTS = ['real', 'base', 'nodig', 'nodebug', 'nolive', 'nocpu', 'nobusq'] as const;
const DEFAULT_VARIANTS = 'real,base,nodig,nodebug,nolive,nodig+nodebug+nolive';

/** One edit of the extracted core: in `file`, `anchor` (which must occur exactly once) becomes `by`. */
interface Edit { file: string; anchor: string; by: string }

const FLAGS = "const ABLATE = (process.env.DMASIM_ABLATE ?? '').split('+');\n";
const EDITS: Edit[] = [
  // replay.ts: the comparisons, off in every variant but `real`.
  { file: 'replay.ts', anchor: 'const hex = (v: bigint)', by: `${FLAGS}const NOCMP = !ABLATE.includes('real');\nconst hex = (v: bigint)` },
  { file: 'replay.ts', anchor: 'if (s !== mark.hash) return diverge', by: 'if (!NOCMP && s !== mark.hash) return diverge' },
  { file: 'replay.ts', anchor: 'const diff = compare(rec, d);', by: 'const diff = NOCMP ? undefined : compare(rec, d);' },
  { file: 'replay.ts', anchor: 'if (got !== cursor.chain) {', by: 'if (!NOCMP && got !== cursor.chain) {' },
  { file: 'replay.ts', anchor: '  if (st.complete && st.end) {', by: '  if (NOCMP) return res;\n  if (st.complete && st.end) {' },
  // log/digest.ts: nodig.
  {
    file: 'log/digest.ts',
    anchor: 'export function outcomeDigest(o: Outcome, format: number = LOG_FORMAT_VERSION, into?: OutcomeDigest): OutcomeDigest {\n',
    by: `${FLAGS}const NODIG = ABLATE.includes('nodig');\n` +
      'export function outcomeDigest(o: Outcome, format: number = LOG_FORMAT_VERSION, into?: OutcomeDigest): OutcomeDigest {\n' +
      '  if (NODIG && into) {\n    into.result = o.result; into.error = o.error; into.path = o.path; into.hi = 0; into.lo = 0; into.thrown = undefined;\n    return into;\n  }\n',
  },
  // dma/live.ts: nolive, nocpu, nobusq.
  {
    file: 'dma/live.ts',
    anchor: 'export class LiveMappings {',
    by: `${FLAGS}const NOLIVE = ABLATE.includes('nolive');\nconst NOCPU = ABLATE.includes('nocpu');\nconst NOBUSQ = ABLATE.includes('nobusq');\n` +
      'const NO_RECORD = {} as LiveMapping;\nexport class LiveMappings {',
  },
  ...['addSingle(dev: number, devName: string, kind: \'single\' | \'coherent\', addr: bigint, size: number, phys: bigint, dir: number, path: Path, mmio: boolean): LiveMapping {\n',
    'addSg(dev: number, devName: string, sg: SgList, dir: number, path: Path): LiveMapping | null {\n'].map((sig): Edit => ({
    file: 'dma/live.ts', anchor: `  ${sig}`, by: `  ${sig}    if (NOLIVE) return NO_RECORD;\n`,
  })),
  ...['remove(dev: number, kind: LiveKind, addr: bigint, size: number): LiveMapping | null {\n', 'findSg(dev: number, sg: SgList): LiveMapping | null {\n'].map((sig): Edit => ({
    file: 'dma/live.ts', anchor: `  ${sig}`, by: `  ${sig}    if (NOLIVE) return null;\n`,
  })),
  {
    file: 'dma/live.ts',
    anchor: '  overlappingBus(dev: number, addr: bigint, size: number): LiveMapping[] {\n',
    by: '  overlappingBus(dev: number, addr: bigint, size: number): LiveMapping[] {\n    if (NOLIVE || NOBUSQ) return NO_MAPPINGS;\n',
  },
  {
    file: 'dma/live.ts',
    anchor: '  overlappingCpu(phys: bigint, size: number): LiveMapping[] {\n',
    by: '  overlappingCpu(phys: bigint, size: number): LiveMapping[] {\n    if (NOLIVE || NOCPU) return NO_MAPPINGS;\n',
  },
  {
    file: 'dma/live.ts',
    anchor: '    e.cpuNode = this.cpuIdx.add(e, e.cpuR ? granuleBoundsN(e.cpuR) : granuleBounds(e.cpu), e.cpuR);',
    by: '    if (!NOCPU) e.cpuNode = this.cpuIdx.add(e, e.cpuR ? granuleBoundsN(e.cpuR) : granuleBounds(e.cpu), e.cpuR);',
  },
  { file: 'dma/live.ts', anchor: '    this.cpuIdx.remove(m, m.cpuNode);', by: '    if (!NOCPU) this.cpuIdx.remove(m, m.cpuNode);' },
  // dma/access.ts: the device-access check (nolive, nobusq).
  {
    file: 'dma/access.ts',
    anchor: 'function checkDeviceAccess(k: Kernel, dev: Device, addr: bigint, size: number, write: boolean): AccessFinding | null {\n',
    by: `${FLAGS}const NOCHECK = ABLATE.includes('nolive') || ABLATE.includes('nobusq');\n` +
      'function checkDeviceAccess(k: Kernel, dev: Device, addr: bigint, size: number, write: boolean): AccessFinding | null {\n  if (NOCHECK) return null;\n',
  },
];

/** Applies EDITS to the core extracted under `dir`; an anchor that is missing or not unique stops the tool. */
function applyEdits(dir: string, commit: string): void {
  for (const e of EDITS) {
    const path = join(dir, 'packages/core/src', e.file);
    const text = readFileSync(path, 'utf8');
    const at = text.indexOf(e.anchor);
    if (at < 0 || text.indexOf(e.anchor, at + 1) >= 0) {
      throw new Error(`ablate: ${e.file} at ${commit} has ${at < 0 ? 'no' : 'more than one'} ${JSON.stringify(e.anchor.trim().slice(0, 70))}: the core changed; update EDITS in bench/ablate.ts`);
    }
    writeFileSync(path, text.slice(0, at) + e.by + text.slice(at + e.anchor.length));
  }
}

type Replay = (file: string, opts: object) => { verdict: string; events: number };
type MachineCtor = new (config: { platform: { dmaDebug: { enabled: boolean } } }) => unknown;

/** The child: REPLAYS replays of LOG with the edited core under DIR, interleaved with the ceiling; one JSON line. */
async function child(dir: string, log: string, replays: number): Promise<void> {
  const core = (await import(pathToFileURL(join(dir, 'packages/core/src/index.ts')).href)) as { replay: Replay; Machine: MachineCtor };
  const parts = (process.env.DMASIM_ABLATE ?? '').split('+');
  const opts = parts.includes('nodebug')
    ? {
      machine: (config: { platform: { dmaDebug: { enabled: boolean } } }) => {
        const c = structuredClone(config);
        c.platform.dmaDebug.enabled = false;
        return new core.Machine(c);
      },
    }
    : {};
  const eps: number[] = [];
  const cpu: number[] = [];
  const ceiling: number[] = [];
  for (let i = 0; i < replays; i++) {
    const c = timeCeiling(log, 3);
    ceiling.push(rate(c.events, c.ms));
    const u = process.cpuUsage();
    const t = performance.now();
    const r = core.replay(log, opts);
    const ms = performance.now() - t;
    const used = process.cpuUsage(u);
    if (r.verdict !== 'identical') throw new Error(`replay of ${log} with ${process.env.DMASIM_ABLATE}: ${r.verdict}`);
    eps.push(rate(r.events, ms));
    cpu.push((used.user + used.system) / r.events);
  }
  console.log(JSON.stringify({ eps: eps.slice(2), cpu: cpu.slice(2), ceiling: Math.max(...ceiling) }));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { ref: { type: 'string', default: 'HEAD' }, rounds: { type: 'string', default: '3' }, replays: { type: 'string', default: '7' }, child: { type: 'string' } },
    allowPositionals: true,
  });
  const replays = Number(values.replays);
  if (values.child) return child(values.child, positionals[0]!, replays);
  const rounds = Number(values.rounds);
  const [log, list = DEFAULT_VARIANTS] = positionals;
  const variants = list.split(',');
  const bad = variants.flatMap((v) => v.split('+')).filter((p) => !(PARTS as readonly string[]).includes(p));
  if (!log || !(rounds >= 1) || !(Number.isInteger(replays) && replays >= 3) || bad.length > 0) {
    throw new Error(`usage: pnpm tsx bench/ablate.ts [--ref REF] [--rounds N] [--replays N≥3] LOG [VARIANT,...] (parts: ${PARTS.join(', ')}${bad.length ? `; unknown: ${bad.join(', ')}` : ''})`);
  }
  const commit = execFileSync('git', ['rev-parse', '--short', values.ref!], { cwd: repoRoot, encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-ablate-'));
  try {
    extractCore(commit, dir);
    applyEdits(dir, commit);
    const eps = new Map<string, number[]>(variants.map((v) => [v, []]));
    const cpu = new Map<string, number[]>(variants.map((v) => [v, []]));
    const ceilings = new Map<string, number[]>(variants.map((v) => [v, []]));
    for (let r = 0; r < rounds; r++) {
      for (const v of r % 2 ? [...variants].reverse() : variants) {
        const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', dir, '--replays', String(replays), resolve(log)], {
          cwd: repoRoot, encoding: 'utf8', env: { ...process.env, DMASIM_ABLATE: v }, maxBuffer: 1 << 24,
        });
        const res = JSON.parse(out.trim().split('\n').pop()!) as { eps: number[]; cpu: number[]; ceiling: number };
        eps.get(v)!.push(...res.eps);
        cpu.get(v)!.push(...res.cpu);
        ceilings.get(v)!.push(res.ceiling);
        process.stderr.write(`round ${r + 1}: ${v}\n`);
      }
    }
    const ref = variants.includes('base') ? 'base' : variants[0]!;
    console.log(`${log}: core of ${commit}, ${rounds} rounds of ${replays} replays a variant (the first two of each not counted)`);
    console.log(`  CPU µs per event (the process's, GC threads included): median (min–max), and the median's difference from ${ref}; wall-clock events/s; that median over the fastest ceiling run`);
    const refCpu = summarize(cpu.get(ref)!).median;
    for (const v of variants) {
      const c = summarize(cpu.get(v)!);
      const w = summarize(eps.get(v)!);
      const d = c.median - refCpu;
      console.log(
        `  ${v.padEnd(24)} ${c.median.toFixed(2)} (${c.min.toFixed(2)}–${c.max.toFixed(2)}) ${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(2)}` +
          `   ${Math.round(w.median).toString().padStart(7)} events/s   ${(w.median / Math.max(...ceilings.get(v)!)).toFixed(3)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
