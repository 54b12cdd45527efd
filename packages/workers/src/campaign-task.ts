// One seed of a campaign, run on a campaign pool thread: the device programs run inline on this
// thread (a seeded schedule makes the order independent of threads), the log goes to its own file.

import { rmSync } from 'node:fs';
import { formatFailure, type MachineConfig, type Scenario, type Step } from '@dmasim/core';
import type { RunFinding, RunFindingKind } from './coordinator.ts';
import { runStress, type ProgramAssignment, type StressResult } from './run.ts';
import { runScenarioPrograms, scenarioRunFailed } from './scenario-run.ts';
import type { ScheduleSpec } from './schedule.ts';

export type FailOn = 'findings' | 'debug' | 'none';

export interface SeedTask {
  config: MachineConfig;
  programs: ProgramAssignment[];
  script?: Step[];
  mode: 'random' | 'pct';
  depth: number;
  seed: bigint;
  logPath: string;
  keepLog: boolean;
  failOn: FailOn;
  window?: number;
  deviceTimeoutMs?: number;
  scenario?: { name: string; file?: string };
  /** The loaded scenario file: each seed runs its steps and programs and checks its `expect:` blocks (`script` is then unused). */
  checks?: Scenario;
  dmasimVersion?: string;
}

export interface SeedResult {
  seed: bigint;
  failed: boolean;
  end: string;
  events: number;
  findingCounts: Partial<Record<RunFindingKind, number>>;
  firstFindings: RunFinding[];
  debugErrors: number;
  logPath?: string;
  logHash?: string;
  stateHash: string;
  /** Failed expectations of the scenario (formatted, first few). */
  failures?: string[];
}

export function seedFailed(failOn: FailOn, findings: number, debugErrors: number, end: string): boolean {
  if (failOn === 'none') return false;
  if (end === 'crashed' || end === 'invariant') return true;
  return findings > 0 || (failOn === 'debug' && debugErrors > 0);
}

export default async function seedTask(t: SeedTask): Promise<SeedResult> {
  const schedule: ScheduleSpec = t.mode === 'random' ? { mode: 'random', seed: t.seed } : { mode: 'pct', seed: t.seed, depth: t.depth };
  if (t.checks) return seedOfScenario(t, t.checks, schedule);
  const r = await runStress({
    config: { ...t.config, seed: t.seed },
    programs: t.programs,
    ...(t.script ? { script: t.script } : {}),
    schedule,
    threads: 'inline',
    out: t.logPath,
    ...(t.window !== undefined ? { window: t.window } : {}),
    ...(t.deviceTimeoutMs !== undefined ? { deviceTimeoutMs: t.deviceTimeoutMs } : {}),
    ...(t.scenario ? { scenario: t.scenario } : {}),
    ...(t.dmasimVersion ? { dmasimVersion: t.dmasimVersion } : {}),
  });
  const findings = Object.values(r.findingCounts).reduce((a, b) => a + (b ?? 0), 0);
  return result(t, r, seedFailed(t.failOn, findings, r.debugErrors, r.end));
}

async function seedOfScenario(t: SeedTask, s: Scenario, schedule: ScheduleSpec): Promise<SeedResult> {
  const r = await runScenarioPrograms(s, {
    schedule, seed: t.seed, programs: t.programs, profile: t.config.profile, threads: 'inline', out: t.logPath,
    ...(t.window !== undefined ? { window: t.window } : {}),
    ...(t.deviceTimeoutMs !== undefined ? { deviceTimeoutMs: t.deviceTimeoutMs } : {}),
    ...(t.dmasimVersion ? { dmasimVersion: t.dmasimVersion } : {}),
  });
  const res = result(t, r.stress, scenarioRunFailed(r, s, t.failOn));
  if (!r.passed) res.failures = r.failures.slice(0, 3).flatMap(formatFailure);
  return res;
}

function result(t: SeedTask, r: StressResult, failed: boolean): SeedResult {
  const res: SeedResult = {
    seed: t.seed, failed, end: r.end, events: r.events, findingCounts: r.findingCounts, firstFindings: r.firstFindings,
    debugErrors: r.debugErrors, stateHash: r.stateHash,
  };
  if (r.logHash) res.logHash = r.logHash;
  if (failed || t.keepLog) res.logPath = t.logPath;
  else rmSync(t.logPath, { force: true });
  return res;
}
