// runScenario: builds a Machine from a loaded scenario, turns each step into an Event for
// Machine.apply (and nothing else), keeps the `as:` bindings, and checks every expectation.

import type { MachineConfig, Profile } from '../config.ts';
import { FINDING_KINDS, type Event, type FindingKind, type Outcome, type SgList, type TraceRec } from '../events.ts';
import { KernelBug, ModelInputError } from '../kernel.ts';
import { Machine } from '../machine.ts';
import { U64_MAX } from '../util/hex.ts';
import { ScenarioError, type Loc } from './errors.ts';
import { checkRunExpect, checkStepExpect, fmtAddr, type Failure } from './expect.ts';
import { bindingKind, type BindingKind } from './schema-steps.ts';
import type { AddrExpr, Scenario, SgRef, Step } from './types.ts';

export interface RunOptions {
  /** Model profile; overrides the file's `kernel:` (`--kernel`). */
  profile?: Profile;
  /** Builds the machine (default `new Machine(config)`): lets a caller record or instrument it. */
  machine?: (config: MachineConfig) => Machine;
}

export interface StepRun {
  step: Step;
  /** The event given to Machine.apply (absent when the step could not be built or did not run). */
  event?: Event;
  /** The outcome (partial if the call hit a kernel BUG). */
  outcome?: Outcome;
  /** The kernel BUG the call hit. */
  bug?: string;
  /** Why the step did not run (an unresolvable reference, or a crash before it). */
  notRun?: string;
  failures: Failure[];
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
  final: { events: number; timeNs: number; errorCount: number; debugEntries: number; leaks: number; stateHash: string };
}

interface Binding { kind: BindingKind; step: Step; result: bigint; phys?: bigint; sg?: SgList }

/** Thrown inside the runner when a reference cannot be given a value; becomes a step failure. */
class Unresolvable extends Error {}

function within64(x: bigint, e: AddrExpr): bigint {
  if (x < 0n || x > U64_MAX) throw new Unresolvable(`${e.path}: ${e.kind === 'ref' ? e.text : ''} is ${x < 0n ? 'negative' : 'beyond 2^64-1'} (${x})`);
  return x;
}

class Bindings {
  private readonly map = new Map<string, Binding>();
  set(name: string, b: Binding): void {
    this.map.set(name, b);
  }
  get(name: string, where: string): Binding {
    const b = this.map.get(name);
    if (!b) throw new Unresolvable(`${where}: unbound reference $${name}`);
    return b;
  }

  addr(e: AddrExpr): bigint {
    if (e.kind === 'lit') return e.value;
    const b = this.get(e.ref.name, e.path);
    const p = e.ref.part;
    let base: bigint;
    if (p.kind === 'addr') {
      if (b.kind === 'sg') throw new Unresolvable(`${e.path}: $${e.ref.name} is a scatterlist; use $${e.ref.name}[i]`);
      base = b.result;
    } else if (p.kind === 'phys') {
      if (b.phys === undefined) throw new Unresolvable(`${e.path}: ${e.text}: ${b.step.path} (${b.step.args.op}) gave no CPU physical address${b.kind === 'coherent' ? ' (the allocation failed)' : ''}`);
      base = b.phys;
    } else {
      const ent = b.sg?.dma[p.index];
      if (!ent) throw new Unresolvable(`${e.path}: ${e.text}: ${b.step.path} mapped ${b.sg?.dma.length ?? 0} entries`);
      base = ent.addr;
    }
    return within64(base + e.ref.offset, e);
  }

  sg(r: SgRef): SgList {
    const b = this.get(r.name, r.path);
    if (!b.sg) throw new Unresolvable(`${r.path}: $${r.name}: ${b.step.path} returned no scatterlist`);
    if (r.nents === undefined) return b.sg;
    if (r.nents > b.sg.segments.length) throw new Unresolvable(`${r.path}: nents ${r.nents} is more than the ${b.sg.segments.length} entries mapped by ${b.step.path}`);
    // The driver passes a different nents than it mapped: the list as it would see it.
    return { segments: b.sg.segments.slice(0, r.nents), dma: b.sg.dma };
  }

  /** dma_free_attrs's cpu_addr: given, or the CPU side of the allocation the handle refers to. */
  cpuAddr(step: Step, addr: bigint): bigint {
    const a = step.args;
    if (a.op !== 'free-coherent') return 0n;
    if (a.phys) return this.addr(a.phys);
    if (a.addr.kind === 'ref') {
      const b = this.get(a.addr.ref.name, a.addr.path);
      if (b.phys !== undefined) return b.phys + a.addr.ref.offset;
    }
    for (const b of [...this.map.values()].reverse()) if (b.kind === 'coherent' && b.result === addr && b.phys !== undefined) return b.phys;
    throw new Unresolvable(`${step.path}: free-coherent of ${fmtAddr(addr)}: no alloc-coherent returned it; give phys: (the CPU address passed to dma_free_attrs)`);
  }
}

/** The Event for a step (references resolved). */
function toEvent(step: Step, b: Bindings): Event {
  const a = step.args;
  const dev = step.dev ?? '';
  const cpu = step.cpu;
  switch (a.op) {
    case 'map-single':
    case 'map-page':
    case 'map-phys':
    case 'map-resource':
      return { op: a.op, dev, cpu, phys: b.addr(a.phys), size: a.size, dir: a.dir, attrs: a.attrs };
    case 'unmap-single':
    case 'unmap-page':
    case 'unmap-phys':
    case 'unmap-resource':
      return { op: a.op, dev, cpu, addr: b.addr(a.addr), size: a.size, dir: a.dir, attrs: a.attrs };
    case 'map-sg':
      return { op: a.op, dev, cpu, segments: a.segments.map((s) => ({ phys: b.addr(s.phys), size: s.size })), dir: a.dir, attrs: a.attrs };
    case 'unmap-sg':
      return { op: a.op, dev, cpu, sg: b.sg(a.sg), dir: a.dir, attrs: a.attrs };
    case 'sync-for-cpu':
    case 'sync-for-device':
      return { op: a.op, dev, cpu, addr: b.addr(a.addr), size: a.size, dir: a.dir };
    case 'sync-sg-for-cpu':
    case 'sync-sg-for-device':
      return { op: a.op, dev, cpu, sg: b.sg(a.sg), dir: a.dir };
    case 'alloc-coherent':
      return { op: a.op, dev, cpu, size: a.size, attrs: a.attrs };
    case 'free-coherent': {
      const addr = b.addr(a.addr);
      return { op: a.op, dev, cpu, addr, size: a.size, attrs: a.attrs, cpuAddr: b.cpuAddr(step, addr) };
    }
    case 'mapping-error':
      return { op: a.op, dev, cpu, addr: b.addr(a.addr) };
    case 'set-mask':
      return { op: a.op, dev, cpu, bits: a.bits };
    case 'max-mapping-size':
    case 'unbind':
      return { op: a.op, dev, cpu };
    case 'dev-read':
      return { op: a.op, dev, cpu, addr: b.addr(a.addr), size: a.size };
    case 'dev-write':
      return { op: a.op, dev, cpu, addr: b.addr(a.addr), size: a.size, ...a.write };
    case 'cpu-read':
      return { op: a.op, cpu, phys: b.addr(a.phys), size: a.size };
    case 'cpu-write':
      return { op: a.op, cpu, phys: b.addr(a.phys), size: a.size, ...a.write };
    case 'advance-time':
      return { op: a.op, cpu, byNs: a.byNs };
    case 'flush-iotlb':
      return { op: a.op, cpu, domain: a.domain };
  }
}

const stepName = (s: Step): string => `${s.path} ${s.args.op}`;

/**
 * Runs a scenario's steps and checks its expectations. Throws ScenarioError (BAD_INPUT) when the
 * scenario has programs (device workers run those) or the model refuses a request as bad input;
 * any other exception is a dmasim bug and propagates with the step's location in its message.
 */
export function runScenario(s: Scenario, opts: RunOptions = {}): RunResult {
  if (s.programs && s.programs.length > 0) {
    const p = s.programs[0]!;
    throw ScenarioError.at(s.file, p.loc, 'programs',
      `concurrent device programs run in device worker threads, not in \`dmasim run\`: run this file with \`dmasim stress ${s.file}\``);
  }
  const profile = opts.profile ?? s.kernel;
  const config: MachineConfig = { ...s.config, profile };
  const m = buildMachine(s, config, opts);
  const bindings = new Bindings();
  const res: RunResult = {
    file: s.file, name: s.name, description: s.description, profile, config, passed: false,
    steps: [], failures: [], trace: [], dmesg: [], findings: [],
    final: { events: 0, timeNs: 0, errorCount: 0, debugEntries: 0, leaks: 0, stateHash: '' },
  };

  for (const step of s.steps) {
    const run: StepRun = { step, failures: [] };
    res.steps.push(run);
    const fail = (f: Omit<Failure, 'file' | 'where'>): void => {
      run.failures.push({ file: s.file, where: stepName(step), ...f });
    };
    if (res.crashedAt !== undefined) {
      run.notRun = `the kernel crashed at ${res.steps[res.crashedAt]!.step.path}`;
      fail({ loc: step.loc, key: 'step', expected: ['runs'], actual: [`not run: ${run.notRun}`] });
      continue;
    }
    let ev: Event;
    try {
      ev = toEvent(step, bindings);
    } catch (e) {
      if (!(e instanceof Unresolvable)) throw e;
      run.notRun = e.message;
      fail({ loc: step.loc, key: 'step', expected: ['runs'], actual: [`not run: ${e.message}`] });
      continue;
    }
    run.event = ev;
    let out: Outcome;
    try {
      out = m.apply(ev);
      // Machine.apply turns a kernel BUG into an error outcome and marks the machine crashed.
      if (m.crashed !== null) {
        run.bug = m.crashed;
        res.crashedAt = run.step.index;
      }
    } catch (e) {
      if (e instanceof KernelBug) {
        run.bug = e.message;
        out = m.k.out;
        res.crashedAt = run.step.index;
      } else if (e instanceof ModelInputError) {
        throw ScenarioError.at(s.file, step.loc, step.path, `${step.args.op}: ${e.message}`);
      } else {
        const err = e instanceof Error ? e : new Error(String(e));
        throw new Error(`${s.file}:${step.loc.line}:${step.loc.col}: ${stepName(step)}: ${err.message}`, { cause: err });
      }
    }
    run.outcome = out;
    collect(res, run, ev, out);
    if (step.as !== undefined) bindings.set(step.as, bind(step, ev, out));
    const resolve = (which: 'addr' | 'phys'): bigint | { problem: string } => {
      const expr = step.expect?.[which];
      if (!expr) return { problem: 'nothing to compare' };
      try {
        return bindings.addr(expr);
      } catch (e) {
        if (e instanceof Unresolvable) return { problem: e.message };
        throw e;
      }
    };
    const act = run.bug !== undefined ? { loc: step.loc, outcome: out, bug: run.bug, resolve } : { loc: step.loc, outcome: out, resolve };
    for (const f of checkStepExpect(step.expect, act)) fail(f);
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
  };
  const runFailures: Failure[] = s.expect
    ? checkRunExpect(s.expect, { ...res.final, dmesg: res.dmesg.map((d) => d.line), findings: findingCounts }).map((f) => ({ file: s.file, where: 'expect', ...f }))
    : [];
  res.failures = [...res.steps.flatMap((r) => r.failures), ...runFailures];
  res.passed = res.failures.length === 0;
  return res;
}

/** The machine; a configuration the model refuses is bad input, located at its section. */
function buildMachine(s: Scenario, config: MachineConfig, opts: RunOptions): Machine {
  try {
    return opts.machine ? opts.machine(config) : new Machine(config);
  } catch (e) {
    if (!(e instanceof ModelInputError)) throw e;
    const section = /^domain/.test(e.message) ? 'domains' : /^device/.test(e.message) ? 'devices' : 'platform';
    throw ScenarioError.at(s.file, s.sectionLocs[section] ?? { line: 1, col: 1 }, section, e.message);
  }
}

function bind(step: Step, ev: Event, out: Outcome): Binding {
  const kind = bindingKind(step.args.op);
  const b: Binding = { kind, step, result: out.result };
  if (kind === 'sg' && out.sg) b.sg = out.sg;
  if (kind === 'coherent' && out.phys !== undefined) b.phys = out.phys;
  if (kind === 'map' && 'phys' in ev) b.phys = ev.phys;
  return b;
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
