// `dmasim diff-kernels FILE --a 6.17 --b 6.18`: runs one scenario under two model profiles and
// shows, step by step, where path, address, trace, dmesg or findings differ.

import type { Command } from 'commander';
import { diffRuns, formatDiff, runScenario, toJson } from '@dmasim/core';
import { EXIT } from '../errors.ts';
import type { SetExit } from './index.ts';
import { parseProfile, readScenario } from './scenario-io.ts';

export interface DiffFlags { a: string; b: string; json?: boolean }

/** Exit 1 when the profiles differ (a divergence found), 0 when they behave the same. */
export function diffKernels(file: string, flags: DiffFlags): number {
  const a = parseProfile('--a', flags.a);
  const b = parseProfile('--b', flags.b);
  const s = readScenario(file);
  const d = diffRuns(runScenario(s, { profile: a }), runScenario(s, { profile: b }));
  if (flags.json) {
    process.stdout.write(JSON.stringify(toJson({ file, a, b, steps: d.steps, run: d.run })) + '\n');
  } else {
    for (const l of formatDiff(d)) process.stdout.write(l + '\n');
  }
  return d.steps.length || d.run.length ? EXIT.FOUND : EXIT.OK;
}

export function registerDiffKernels(program: Command, setExit: SetExit): void {
  program
    .command('diff-kernels')
    .description('run one scenario under two kernel profiles and show where they differ (exit 1 if they do)')
    .argument('<file>', 'scenario file')
    .option('--a <profile>', 'first profile', '6.17')
    .option('--b <profile>', 'second profile', '6.18')
    .option('--json', 'print the differences as JSON')
    .action((file: string, flags: DiffFlags) => {
      setExit(diffKernels(file, flags));
    });
}
