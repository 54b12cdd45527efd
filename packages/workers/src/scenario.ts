// Turning a loaded scenario's `programs:` into device programs, refusing bad ones with the file,
// line and key (exit 2) before any thread starts.

import { ScenarioError, type Scenario } from '@dmasim/core';
import type { ProgramSpec } from './device-task.ts';
import type { ProgramAssignment } from './run.ts';
import { findWorkload, WORKLOADS } from './workloads/index.ts';
import { ParamError, resolveParams, type ParamValue } from './workloads/params.ts';
import { checkSteps, StepProgramError } from './workloads/steps.ts';

/** Programs of `s` in device-configuration order; `ops` overrides each workload's op budget. */
export function scenarioPrograms(s: Scenario, ops?: number): ProgramAssignment[] {
  const out: ProgramAssignment[] = [];
  for (const p of s.programs ?? []) {
    let program: ProgramSpec;
    if (p.kind === 'workload') {
      const w = findWorkload(p.workload);
      if (!w) throw ScenarioError.at(s.file, p.loc, `${p.path}.workload`, `unknown workload "${p.workload}" (known: ${WORKLOADS.map((x) => x.name).join(', ')}; see dmasim workloads)`);
      const params: Record<string, ParamValue> = {};
      for (const [k, v] of Object.entries(p.params)) params[k] = v.int ?? v.bool ?? v.text;
      if (ops !== undefined) params.ops = ops;
      try {
        const resolved = resolveParams(`workload ${w.name}`, w.params, params);
        w.check?.(`workload ${w.name}`, resolved);
      } catch (e) {
        if (!(e instanceof ParamError)) throw e;
        const key = Object.keys(p.params).find((k) => e.message.includes(`"${k}"`));
        const at = key ? p.params[key]! : p;
        throw ScenarioError.at(s.file, at.loc, key ? p.params[key]!.path : p.path, e.message);
      }
      program = { kind: 'workload', workload: w.name, params };
    } else {
      try {
        checkSteps(p.steps);
      } catch (e) {
        if (!(e instanceof StepProgramError)) throw e;
        throw ScenarioError.at(s.file, p.loc, p.path, e.message);
      }
      program = { kind: 'steps', steps: p.steps, repeat: p.repeat };
    }
    out.push({ dev: p.dev, program });
  }
  const order = new Map(s.config.devices.map((d, i) => [d.name, i]));
  return out.sort((a, b) => (order.get(a.dev) ?? 0) - (order.get(b.dev) ?? 0));
}
