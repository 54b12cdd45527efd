// A scenario file with `programs:` run as a test: its top-level steps first, then its programs in
// device worker threads under a schedule, with every `expect:` checked — top-level steps exactly as
// `dmasim run` checks them, each program step on every iteration it runs, the whole-run block at the
// end — as core's located failures (file:line:col, expected | actual).
// @see docs/workers.md ("Expectations in scenario programs")

import { rmSync } from 'node:fs';
import {
  buildScenarioMachine, checkRunExpect, FINDING_KINDS, ScenarioError, StepScript,
  type DmesgEntry, type Event, type Failure, type FindingKind, type MachineConfig, type Outcome, type Profile, type Scenario, type Step, type TraceEntry,
} from '@dmasim/core';
import type { DeviceStatus } from './coordinator.ts';
import { runStress, type Progress, type ProgramAssignment, type StressOptions, type StressResult } from './run.ts';
import { scenarioPrograms } from './scenario.ts';
import { describeSchedule, type ScheduleSpec } from './schedule.ts';
import type { ScriptStep } from './script.ts';

export interface ScenarioRunOptions {
  schedule: ScheduleSpec;
  /** Model profile; overrides the file's `kernel:`. */
  profile?: Profile;
  /** Run seed (machine and program PRNGs); default the file's `seed:`. */
  seed?: bigint;
  /** The programs to run instead of the file's (`dmasim stress --ops/--bug/--param`). */
  programs?: ProgramAssignment[];
  /** Event log path; no log when absent. */
  out?: string;
  /** The scenario file's text, kept in the log header. */
  source?: string;
  dmasimVersion?: string;
  threads?: number | 'inline';
  window?: number;
  deviceTimeoutMs?: number;
  /** Keep the run's trace and kernel log for printing (memory grows with the run). */
  keep?: { trace?: boolean; dmesg?: boolean };
  onProgress?: (p: Progress) => void;
  progressMs?: number;
  note?: StressOptions['note'];
  signal?: AbortSignal;
}

export interface ScenarioRunResult {
  file: string;
  name: string;
  description: string;
  profile: Profile;
  config: MachineConfig;
  /** The schedule as flags (`--schedule random --seed 1`). */
  schedule: string;
  passed: boolean;
  /** Top-level steps, program steps, program ends, whole-run expectations, in that order. */
  failures: Failure[];
  script: ScriptStep[];
  stress: StressResult;
  final: { events: number; errorCount: number; debugEntries: number; leaks: number; stateHash: string; findings: Record<FindingKind, number> };
  /** With keep.trace / keep.dmesg: the run's trace and kernel log (`step` holds the event's sequence number). */
  trace: TraceEntry[];
  dmesg: DmesgEntry[];
}

/** How many kernel log lines a failed whole-run `dmesg` expectation shows. */
const DMESG_SHOWN = 50;

/**
 * The expectations of one `{ steps: [...], repeat: N }` program. Its records reach the coordinator
 * in program order, so the k-th one (applied or dropped) is step k mod n of iteration k div n; each
 * is bound and checked like a top-level step. A failure is reported once per step and key, at its
 * first failing iteration, with how many iterations failed.
 */
class ProgramExpect {
  private k = 0;
  private readonly script: StepScript;
  private readonly seen: number[];
  private readonly bad = new Map<string, { f: Failure; iter: number; n: number; step: number }>();

  constructor(file: string, private readonly steps: readonly Step[], private readonly repeat: number) {
    this.script = new StepScript(file);
    this.seen = steps.map(() => 0);
  }

  private next(): [Step, number] {
    const n = this.steps.length;
    const i = this.k % n;
    const iter = Math.floor(this.k / n);
    this.k++;
    this.seen[i]!++;
    return [this.steps[i]!, iter];
  }

  event(ev: Event, out: Outcome, bug: string | undefined): void {
    const [step, iter] = this.next();
    this.record(step, iter, this.script.observe(step, ev, out, bug).failures);
  }

  /** A dropped call: the program checked with dma_mapping_error() that its buffer's map failed. */
  skip(): void {
    const [step, iter] = this.next();
    if (step.expect) this.record(step, iter, this.script.notRun(step, 'dropped: dma_mapping_error() said its buffer failed to map').failures);
  }

  private record(step: Step, iter: number, fs: Failure[]): void {
    for (const f of fs) {
      const key = `${step.index}\0${f.key}`;
      const b = this.bad.get(key);
      if (b) b.n++;
      else this.bad.set(key, { f, iter, n: 1, step: step.index });
    }
  }

  failures(): Failure[] {
    return [...this.bad.values()].sort((a, b) => a.step - b.step).map(({ f, iter, n, step }) => {
      const count = `failed in ${n} of ${this.seen[step]} iterations`;
      return { ...f, where: `${f.where}, iteration ${iter + 1} of ${this.repeat}`, note: f.note ? `${f.note}; ${count}` : count };
    });
  }
}

/** The run's kernel log as the whole-run `dmesg` expectation needs it, in bounded memory. */
class KernelLog {
  total = 0;
  private readonly first: string[] = [];
  private readonly matched: string[] = [];
  private readonly open: string[];

  constructor(want: readonly string[]) {
    this.open = [...want];
  }

  line(l: string): void {
    this.total++;
    if (this.first.length < DMESG_SHOWN) this.first.push(l);
    if (this.open.length === 0) return;
    const hit = this.open.filter((w) => l.includes(w));
    if (hit.length === 0) return;
    this.matched.push(l);
    for (const w of hit) this.open.splice(this.open.indexOf(w), 1);
  }

  /** The first lines plus one line matching each expected entry that appears: exact for matching. */
  lines(): string[] {
    return [...this.first, ...this.matched.filter((l) => !this.first.includes(l))];
  }
}

/** Runs `s` (top-level steps, then programs) and checks all of its expectations. */
export async function runScenarioPrograms(s: Scenario, o: ScenarioRunOptions): Promise<ScenarioRunResult> {
  const profile = o.profile ?? s.kernel;
  const config: MachineConfig = { ...s.config, profile, seed: o.seed ?? s.config.seed };
  const programs = o.programs ?? scenarioPrograms(s);
  const machine = buildScenarioMachine(s, config);

  const checks = new Map<number, ProgramExpect>();
  programs.forEach((a, i) => {
    const p = a.program;
    // Every script program is followed (not only those with expect:): a kernel BUG is located at its step.
    if (p.kind === 'steps') checks.set(i, new ProgramExpect(s.file, p.steps, p.repeat));
  });
  const klog = s.expect?.dmesg ? new KernelLog(s.expect.dmesg) : null;
  const trace: TraceEntry[] = [];
  const dmesg: DmesgEntry[] = [];
  const keepTrace = o.keep?.trace === true;
  const keepDmesg = o.keep?.dmesg === true;
  const observe = checks.size > 0 || klog !== null || keepTrace || keepDmesg;
  const onEvent = (seq: number, dev: number, ev: Event, out: Outcome): void => {
    if (klog) for (const l of out.dmesg) klog.line(l);
    if (keepDmesg) for (const line of out.dmesg) dmesg.push({ step: seq, timeNs: out.timeNs, line });
    if (keepTrace) {
      for (const rec of out.trace) trace.push('dev' in ev ? { step: seq, dev: ev.dev, cpu: ev.cpu, timeNs: out.timeNs, rec } : { step: seq, cpu: ev.cpu, timeNs: out.timeNs, rec });
    }
    checks.get(dev)?.event(ev, out, machine.crashed ?? undefined);
  };

  const r = await runStress({
    config, programs, schedule: o.schedule, script: s.steps, machine,
    scenario: { name: s.name, file: s.file, ...(o.source !== undefined ? { source: o.source } : {}) },
    ...(observe ? { onEvent } : {}),
    ...(checks.size ? { onSkip: (dev: number) => checks.get(dev)?.skip() } : {}),
    ...(o.out !== undefined ? { out: o.out } : {}),
    ...(o.dmasimVersion !== undefined ? { dmasimVersion: o.dmasimVersion } : {}),
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(o.window !== undefined ? { window: o.window } : {}),
    ...(o.deviceTimeoutMs !== undefined ? { deviceTimeoutMs: o.deviceTimeoutMs } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.progressMs !== undefined ? { progressMs: o.progressMs } : {}),
    ...(o.note ? { note: o.note } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });

  // A request the model refuses is bad input, as under `dmasim run` (and its log is not kept).
  const refused = r.script.find((x) => x.refused !== undefined);
  if (refused) {
    if (r.logPath) rmSync(r.logPath, { force: true });
    throw ScenarioError.at(s.file, refused.step.loc, refused.step.path, `${refused.step.args.op}: ${refused.refused}`);
  }

  const findings = Object.fromEntries(FINDING_KINDS.map((k) => [k, r.findingCounts[k] ?? 0])) as Record<FindingKind, number>;
  const final = {
    events: r.events, errorCount: machine.k.debug.errorCount, debugEntries: machine.k.debug.entryCount, leaks: machine.leaks(),
    stateHash: r.stateHash, findings,
  };
  const failures: Failure[] = [...r.script.flatMap((x) => x.failures), ...[...checks.values()].flatMap((c) => c.failures())];
  failures.push(...programEnds(s, r));
  if (s.expect) {
    for (const f of checkRunExpect(s.expect, { ...final, dmesg: klog ? klog.lines() : [] })) {
      const g: Failure = { file: s.file, where: 'expect', ...f };
      if (f.key === 'dmesg' && klog && klog.total > DMESG_SHOWN) g.note = `${f.note ?? ''}; the run logged ${klog.total} lines, the first ${DMESG_SHOWN} shown`;
      failures.push(g);
    }
  }
  return {
    file: s.file, name: s.name, description: s.description, profile, config, schedule: describeSchedule(o.schedule),
    passed: failures.length === 0, failures, script: r.script, stress: r, final, trace, dmesg,
  };
}

const RUN_ONLY = (k: string): boolean => !(FINDING_KINDS as readonly string[]).includes(k);

/**
 * Every program must run to its end: one that failed (threw, died, hung, sent garbage, was
 * refused) or was stopped (the kernel crashed, an invariant broke) fails the scenario, whatever
 * its expectations say; so does a run that did not complete.
 */
function programEnds(s: Scenario, r: StressResult): Failure[] {
  const out: Failure[] = [];
  const status = new Map<string, { status: DeviceStatus; message?: string }>(r.devices.map((d) => [d.name, d]));
  for (const p of s.programs ?? []) {
    const d = status.get(p.dev);
    if (!d || d.status === 'ended') continue;
    const why = r.findings.filter((f) => RUN_ONLY(f.kind) && (f.dev === p.dev || f.dev === null)).slice(0, 3).map((f) => `${f.kind} at event ${f.seq}: ${f.message}`);
    out.push({ file: s.file, loc: p.loc, where: p.path, key: 'program', expected: ['runs to its end'], actual: [`${d.status}${d.message ? `: ${d.message}` : ''}`, ...why] });
  }
  const first = s.programs?.[0];
  if (out.length === 0 && r.end !== 'completed' && first) {
    const why = r.findings.filter((f) => f.kind === 'invariant' || RUN_ONLY(f.kind)).slice(0, 3).map((f) => `${f.kind} at event ${f.seq}: ${f.message}`);
    out.push({ file: s.file, loc: first.loc, where: 'programs', key: 'run', expected: ['completed'], actual: [`run ${r.end}`, ...why] });
  }
  return out;
}

/**
 * Whether a worker run of a scenario fails: a failed expectation always does; otherwise
 * `--fail-on` decides, except that findings (and dma-debug errors) the scenario's whole-run
 * `expect:` counts (`findings:`, `error-count:`) are judged by that expectation, not by `--fail-on`.
 */
export function scenarioRunFailed(r: ScenarioRunResult, s: Scenario, failOn: 'findings' | 'debug' | 'none'): boolean {
  if (!r.passed) return true;
  if (failOn === 'none') return false;
  if (r.stress.end === 'crashed' || r.stress.end === 'invariant') return true;
  const counted = s.expect?.findings !== undefined;
  const findings = Object.entries(r.stress.findingCounts).reduce((n, [k, c]) => n + (counted && !RUN_ONLY(k) ? 0 : (c ?? 0)), 0);
  const debug = s.expect?.errorCount !== undefined ? 0 : r.stress.debugErrors;
  return findings > 0 || (failOn === 'debug' && debug > 0);
}
