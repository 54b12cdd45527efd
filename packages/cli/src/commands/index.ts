// Every command registers itself here; each lives in its own file.
import type { Command } from 'commander';
import { registerRun } from './run.ts';
import { registerDiffKernels } from './diff-kernels.ts';
import { registerReplay } from './replay.ts';
import { registerLog } from './log.ts';
import { registerStress } from './stress.ts';
import { registerWorkloads } from './workloads.ts';

export type SetExit = (code: number) => void;

export function registerCommands(program: Command, setExit: SetExit): void {
  registerRun(program, setExit);
  registerDiffKernels(program, setExit);
  registerReplay(program, setExit);
  registerLog(program, setExit);
  registerStress(program, setExit);
  registerWorkloads(program, setExit);
}
