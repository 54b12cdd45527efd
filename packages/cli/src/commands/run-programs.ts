// `dmasim run` of a scenario with `programs:`: the file runs through the device workers (top-level
// steps first, then the programs in worker threads) under a seeded schedule by default, so the
// run is reproducible; every expectation is checked and reported like a step-only scenario's.

import { readFileSync } from 'node:fs';
import { dmesgLine, failureJson, formatFailure, ftraceLine, ftraceTask, stepRunJson, toJson, type Profile, type Scenario } from '@dmasim/core';
import { runScenarioPrograms, type ScenarioRunResult, type ScheduleSpec } from '@dmasim/workers';
import { VERSION } from '../version.ts';
import { replayCommand } from './record-run.ts';
import type { RunFlags } from './run.ts';
import { traceText } from './run.ts';
import { parseSeed, schedSpec } from './stress.ts';

const out = (s: string): void => void process.stdout.write(s + '\n');

/** The schedule: `--schedule random --seed <the file's seed>` unless the flags say otherwise. */
export function programsSchedule(s: Scenario, flags: RunFlags): { schedule: ScheduleSpec; seed: bigint } {
  const seed = flags.seed !== undefined ? parseSeed(flags.seed) : s.config.seed;
  return { schedule: schedSpec({ schedule: flags.schedule ?? 'random', depth: flags.depth ?? '3' }, seed), seed };
}

/** Runs and prints one scenario with programs; returns whether it passed. */
export async function runProgramsFile(s: Scenario, file: string, flags: RunFlags, profile: Profile | undefined, logPath: string | undefined): Promise<boolean> {
  const { schedule, seed } = programsSchedule(s, flags);
  let source: string | undefined;
  try {
    source = readFileSync(file, 'utf8');
  } catch {
    source = undefined;
  }
  const r = await runScenarioPrograms(s, {
    schedule, seed, dmasimVersion: VERSION,
    ...(profile ? { profile } : {}),
    ...(logPath !== undefined ? { out: logPath } : {}),
    ...(source !== undefined ? { source } : {}),
    keep: { trace: flags.trace === true || flags.json === true, dmesg: flags.dmesg === true || flags.json === true },
  });
  printProgramsResult(r, s, flags, logPath);
  return r.passed;
}

function printProgramsResult(r: ScenarioRunResult, s: Scenario, flags: RunFlags, logPath?: string): void {
  if (flags.json) {
    out(JSON.stringify(toJson({
      file: r.file, name: r.name, profile: r.profile, status: r.passed ? 'pass' : 'fail', schedule: r.schedule,
      failures: r.failures.map(failureJson),
      steps: r.script.map((x) => stepRunJson(r.file, x)),
      programs: r.stress.devices.map((d) => ({ dev: d.name, status: d.status, events: d.events, errors: d.errors, faults: d.faults, findings: d.findings, skipped: d.skipped, message: d.message })),
      trace: r.trace.map((t) => ftraceLine(t.rec, { ...ftraceTask(r.config, t.dev), cpu: t.cpu, timeNs: t.timeNs })),
      dmesg: r.dmesg.map((d) => d.line),
      final: r.final,
      ...(logPath !== undefined ? { log: logPath, replay: replayCommand(logPath) } : {}),
    })));
    return;
  }
  const n = (k: number, what: string): string => `${k} ${what}${k === 1 ? '' : 's'}`;
  const what = `${n(s.steps.length, 'step')}, ${n(s.programs?.length ?? 0, 'program')}, ${n(r.final.events, 'event')}, ${r.schedule}`;
  out(`${r.passed ? 'PASS' : 'FAIL'}  ${r.file}  ${r.name} [${r.profile}]  ${what}${r.passed ? '' : `, ${n(r.failures.length, 'failed expectation')}`}`);
  if (logPath !== undefined) out(`  recorded: ${replayCommand(logPath)}`);
  for (const f of r.failures) for (const l of formatFailure(f)) out('  ' + l);
  if (flags.trace) for (const l of traceText(r)) out(l);
  if (flags.dmesg) for (const d of r.dmesg) out(dmesgLine(d.timeNs, d.line));
}
