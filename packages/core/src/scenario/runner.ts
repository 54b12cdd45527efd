// runScenario: builds a Machine from a loaded scenario, runs each step through Machine.apply (and
// nothing else) with the step script (script.ts), collects the run's log, and checks every expectation.

import type { MachineConfig, Profile } from '../config.ts';
import { FINDING_KINDS, type Event, type FindingKind, type Outcome, type TraceRec } from '../events.ts';
import { KernelBug, ModelInputError } from '../kernel.ts';
import { Machine } from '../machine.ts';
import { ScenarioError, type Loc } from './errors.ts';
import { checkRunExpect, type Failure } from './expect.ts';
import { StepScript, stepName, type Applied, type StepRun } from './script.ts';
import type { Scenario, Step } from './types.ts';

export type { StepRun };

export interface RunOptions {
  /** Model profile; overrides the file's `kernel:` (`--kernel`). */
  profile?: Profile;
  /** Builds the machine (default `new Machine(config)`): lets a caller record or instrument it. */
  machine?: (config: MachineConfig) => Machine;
}

export interface TraceEntry { step: number; dev?: string; cpu: number; timeNs: number; rec: TraceRec }
export interface DmesgEntry { step: number; timeNs: number; line: string }
export interface FindingEntry { step: number; kind: FindingKind; message: string }

export interface RunResult {
  file: string;
  name: string;
  description: string;
  profile: Profile;
  config: MachineConfig;
  passed: boolean;
  steps: StepRun[];
  /** Every failure, step ones first, then whole-run ones. */
  failures: Failure[];
  trace: TraceEntry[];
  dmesg: DmesgEntry[];
  findings: FindingEntry[];
  /** The step that crashed the kernel, if any (later steps did not run). */
  crashedAt?: number;
  final: { events: number; timeNs: number; errorCount: number; debugEntries: number; leaks: number; stateHash: string; debugDump: string[] };
}

/**
 * Runs a scenario's steps and checks its expectations. Throws ScenarioError (BAD_INPUT) when the
 * scenario has programs (device workers run those: @dmasim/workers' runScenarioPrograms, which
 * `dmasim run` uses) or the model refuses a request as bad input;
 * any other exception is a dmasim bug and propagates with the step's location in its message.
 */
export function runScenario(s: Scenario, opts: RunOptions = {}): RunResult {
  if (s.programs && s.programs.length > 0) {
    const p = s.programs[0]!;
    throw ScenarioError.at(s.file, p.loc, 'programs',
      `concurrent device programs run in device worker threads, not in this runner: run this file with \`dmasim run ${s.file}\` or \`dmasim stress ${s.file}\``);
  }
  const profile = opts.profile ?? s.kernel;
  const config: MachineConfig = { ...s.config, profile };
  const m = buildScenarioMachine(s, config, opts.machine);
  const res: RunResult = {
    file: s.file, name: s.name, description: s.description, profile, config, passed: false,
    steps: [], failures: [], trace: [], dmesg: [], findings: [],
    final: { events: 0, timeNs: 0, errorCount: 0, debugEntries: 0, leaks: 0, stateHash: '', debugDump: [] },
  };

  const script = new StepScript(s.file);
  const apply = (ev: Event, step: Step): Applied => {
    try {
      const out = m.apply(ev);
      // Machine.apply turns a kernel BUG into an error outcome and marks the machine crashed.
      return m.crashed !== null ? { outcome: out, bug: m.crashed } : { outcome: out };
    } catch (e) {
      if (e instanceof KernelBug) return { outcome: m.k.out, bug: e.message };
      if (e instanceof ModelInputError) throw ScenarioError.at(s.file, step.loc, step.path, `${step.args.op}: ${e.message}`);
      const err = e instanceof Error ? e : new Error(String(e));
      throw new Error(`${s.file}:${step.loc.line}:${step.loc.col}: ${stepName(step)}: ${err.message}`, { cause: err });
    }
  };
  for (const step of s.steps) {
    const run = script.run(step, apply);
    res.steps.push(run);
    if (run.event && run.outcome) collect(res, run, run.event, run.outcome);
    if (run.bug !== undefined) res.crashedAt ??= step.index;
  }

  const findingCounts = Object.fromEntries(FINDING_KINDS.map((k) => [k, 0])) as Record<FindingKind, number>;
  for (const f of res.findings) findingCounts[f.kind]++;
  res.final = {
    events: m.eventCount,
    timeNs: m.k.clock.nowNs,
    errorCount: m.k.debug.errorCount,
    debugEntries: m.k.debug.entryCount,
    leaks: m.leaks(),
    stateHash: m.stateHash(),
    debugDump: m.k.debug.dump(),
  };
  const runFailures: Failure[] = s.expect
    ? checkRunExpect(s.expect, { ...res.final, dmesg: res.dmesg.map((d) => d.line), findings: findingCounts }).map((f) => ({ file: s.file, where: 'expect', ...f }))
    : [];
  res.failures = [...res.steps.flatMap((r) => r.failures), ...runFailures];
  res.passed = res.failures.length === 0;
  return res;
}

/** The scenario's machine; a configuration the model refuses is bad input, located at its section. */
export function buildScenarioMachine(s: Scenario, config: MachineConfig, factory?: (config: MachineConfig) => Machine): Machine {
  try {
    return factory ? factory(config) : new Machine(config);
  } catch (e) {
    if (!(e instanceof ModelInputError)) throw e;
    const section = /^domain/.test(e.message) ? 'domains' : /^device/.test(e.message) ? 'devices' : 'platform';
    throw ScenarioError.at(s.file, s.sectionLocs[section] ?? { line: 1, col: 1 }, section, e.message);
  }
}

function collect(res: RunResult, run: StepRun, ev: Event, out: Outcome): void {
  const step = run.step.index;
  const dev = 'dev' in ev ? ev.dev : undefined;
  for (const rec of out.trace) {
    const t: TraceEntry = { step, cpu: ev.cpu, timeNs: out.timeNs, rec };
    if (dev !== undefined) t.dev = dev;
    res.trace.push(t);
  }
  for (const line of out.dmesg) res.dmesg.push({ step, timeNs: out.timeNs, line });
  for (const f of out.findings) res.findings.push({ step, kind: f.kind, message: f.message });
}

export type { Loc };
