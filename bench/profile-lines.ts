// Self time per source line of the hottest functions of a warm replay (BENCHMARKS.md, "Profiling").
// tsx compiles each module onto one line, so a profile taken under tsx says "line 1" for every
// tick; this compiles packages/core with tsc into a temporary directory (one JavaScript line per
// source line, give or take the types), replays LOG there TIMES times under `node --cpu-prof`, and
// prints each named function's hottest lines in percent of all samples, with the line's text.
// Where V8 inlined a callee, its ticks can land on lines of the function it was inlined into (a
// line the replay never runs may show ticks): read the lines as where the time is near, and check
// a surprise with a counter before acting on it.
//   pnpm tsx bench/profile-lines.ts LOG FUNCTION[,FUNCTION...] [TIMES=3] [LINES=12]
// A tool for BENCHMARKS.md, not part of `pnpm bench`.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileCore } from './compile-core.ts';

const [log, fns, timesArg = '3', linesArg = '12'] = process.argv.slice(2);
if (!log || !fns) throw new Error('usage: pnpm tsx bench/profile-lines.ts LOG FUNCTION[,FUNCTION...] [TIMES] [LINES]');
const dir = mkdtempSync(join(tmpdir(), 'dmasim-lines-'));
try {
  compileCore(dir);
  writeFileSync(join(dir, 'warm.mjs'), [
    "import { replay } from './out/index.js';",
    `for (let i = 0; i < ${Number(timesArg)}; i++) {`,
    '  const r = replay(process.argv[2], {});',
    "  if (r.verdict !== 'identical') throw new Error(`replay: ${r.verdict}`);",
    '}',
  ].join('\n'));
  execFileSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', join(dir, 'prof'), join(dir, 'warm.mjs'), resolve(log)], { stdio: 'inherit', cwd: dir });
  const profDir = join(dir, 'prof');
  const file = readdirSync(profDir).map((f) => join(profDir, f)).sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
  interface Node { hitCount: number; callFrame: { functionName: string; url: string }; positionTicks?: { line: number; ticks: number }[] }
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[] };
  let total = 0;
  for (const n of p.nodes) total += n.hitCount;
  for (const fn of fns.split(',')) {
    const lines = new Map<string, { ticks: number; url: string; line: number }>();
    for (const n of p.nodes) {
      if (n.callFrame.functionName !== fn) continue;
      for (const t of n.positionTicks ?? []) {
        const key = `${n.callFrame.url}:${t.line}`;
        const e = lines.get(key) ?? { ticks: 0, url: n.callFrame.url, line: t.line };
        e.ticks += t.ticks;
        lines.set(key, e);
      }
    }
    console.log(`${fn}:`);
    for (const e of [...lines.values()].sort((a, b) => b.ticks - a.ticks).slice(0, Number(linesArg))) {
      const src = readFileSync(fileURLToPath(e.url), 'utf8').split('\n')[e.line - 1] ?? '';
      const where = `${e.url.split('/').slice(-2).join('/')}:${e.line}`;
      console.log(`${((100 * e.ticks) / total).toFixed(2).padStart(6)}%  ${where.padEnd(28)} ${src.trim().slice(0, 100)}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
