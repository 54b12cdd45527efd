// Test setups: the default stress platform with chosen workloads, and small program modules.

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import type { MachineConfig } from '@dmasim/core';
import { defaultStressPlatform } from '../platform.ts';
import type { ProgramAssignment } from '../run.ts';
import type { ParamValue } from '../workloads/params.ts';

export function platformWith(n: number, ops: number, extra: Record<string, ParamValue> = {}, seed = 1n): { config: MachineConfig; programs: ProgramAssignment[] } {
  const plat = defaultStressPlatform(n, seed);
  const programs: ProgramAssignment[] = plat.config.devices.map((d, i) => ({
    dev: d.name,
    program: { kind: 'workload', workload: plat.workloads[i]!, params: { ops, ...extra } },
  }));
  return { config: plat.config, programs };
}

export function tmpDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `dmasim-${tag}-`));
}

/** URL of a test program module (testing/programs.ts) and the export a task should run. */
export const PROGRAMS_URL = new URL('./programs.ts', import.meta.url).href;
