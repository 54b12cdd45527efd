// A commit's packages/core for the tools that compare one with another: extracted as TypeScript
// for tsx (extractCore: bench/ab.ts, bench/ablate.ts), or compiled to plain JavaScript (tsc, one
// JavaScript line per source line), as an ES module package in `out` (`out/out/index.js`) that
// borrows the repository's dependencies: for the tools that run the core without tsx
// (bench/profile-lines.ts, whose profiles need real line numbers, and bench/instr-ab.ts, which runs
// it under valgrind, as does bench/instr-profile.ts: compileReplayRunner).

import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This repository's root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Extracts packages/core (sources and package.json) of `commit` into `dir`, borrowing this checkout's node_modules. */
export function extractCore(commit: string, dir: string): void {
  const tar = execFileSync('git', ['archive', commit, 'packages/core/src', 'packages/core/package.json'], { cwd: repoRoot, maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  symlinkSync(join(repoRoot, 'packages/core/node_modules'), join(dir, 'packages/core/node_modules'));
}

/**
 * Extracts packages/core of `commit` (with its tsconfig) into `dir` as a tree compileCore can
 * compile: `dir` borrows this checkout's node_modules and tsconfig.base.json. Returns `dir`.
 */
export function checkoutCore(commit: string, dir: string): string {
  const tar = execFileSync('git', ['archive', commit, 'packages/core'], { cwd: repoRoot, maxBuffer: 1 << 30 });
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  symlinkSync(join(repoRoot, 'tsconfig.base.json'), join(dir, 'tsconfig.base.json'));
  return dir;
}

/** Compiles `tree`'s packages/core (tree: a checkout's root, default this one) into `out`. */
export function compileCore(out: string, tree: string = repoRoot): void {
  mkdirSync(out, { recursive: true });
  const args = ['-p', join(tree, 'packages/core/tsconfig.json'), '--outDir', join(out, 'out'), '--rootDir', join(tree, 'packages/core/src'), '--noEmit', 'false', '--rewriteRelativeImportExtensions', '--declaration', 'false', '--sourceMap', 'false'];
  try {
    execFileSync(join(repoRoot, 'node_modules/.bin/tsc'), args, { stdio: 'pipe' });
  } catch {
    // tsc also reports the test files' type errors against a changed outDir; what matters is the emit.
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(repoRoot, 'packages/core/node_modules'), join(out, 'node_modules'));
}

/**
 * compileCore(out, tree), and `out/replay.mjs LOG N`: replays LOG N times in one process (V8 set as
 * packages/cli/src/v8-tuning.ts sets it) and prints `events E`; for the tools that count a warm
 * replay's instructions under valgrind (bench/instr-ab.ts, bench/instr-profile.ts).
 */
export function compileReplayRunner(out: string, tree: string = repoRoot): void {
  compileCore(out, tree);
  writeFileSync(join(out, 'replay.mjs'), [
    "import { setFlagsFromString } from 'node:v8';",
    "setFlagsFromString('--no-allocation-site-pretenuring'); // as packages/cli/src/v8-tuning.ts",
    "const { replay } = await import('./out/index.js');",
    'let events = 0;',
    'for (let i = 0; i < Number(process.argv[3]); i++) {',
    '  const r = replay(process.argv[2], {});',
    "  if (r.verdict !== 'identical') throw new Error(`replay: ${r.verdict}`);",
    '  events = r.events;',
    '}',
    'console.log(`events ${events}`);',
  ].join('\n'));
}

/**
 * Node's V8 options for a process that should do as nearly the same work as V8 allows from run to
 * run (for counting under valgrind): compilation and GC on the main thread, a GC schedule that does
 * not follow the clock, hashing and randomness seeded with `seed`.
 */
export function predictableV8(seed: number): string[] {
  return ['--predictable', '--predictable-gc-schedule', '--single-threaded', `--hash-seed=${seed}`, `--random-seed=${seed}`];
}
