// Test setups: the default stress platform with chosen workloads, and small program modules.

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll } from 'vitest';
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

const made: string[] = [];
// Removed when the importing test file is done (registered while the file is collected).
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh directory under the OS temp dir, removed after the test file that made it. */
export function tmpDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `dmasim-${tag}-`));
  made.push(d);
  return d;
}

/** URL of a test program module (testing/programs.ts) and the export a task should run. */
export const PROGRAMS_URL = new URL('./programs.ts', import.meta.url).href;
