// A commit's packages/core for the tools that compare one with another: extracted as TypeScript
// for tsx (extractCore: bench/ab.ts, bench/ablate.ts), or compiled to plain JavaScript (tsc, one
// JavaScript line per source line), as an ES module package in `out` (`out/out/index.js`) that
// borrows the repository's dependencies: for the tools that run the core without tsx
// (bench/profile-lines.ts, whose profiles need real line numbers, and bench/instr-ab.ts, which runs
// it under valgrind).

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
