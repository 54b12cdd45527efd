// Running scenario steps one at a time against any `apply`: builds each step's Event (references
// resolved from earlier `as:` bindings), binds its result and checks its `expect:`. runScenario
// drives it with a Machine; device workers drive it through their coordinator, and feed it the
// events of a program's steps (built on the device side) to check those steps' expectations.

import type { Event, Outcome, SgList } from '../events.ts';
import { U64_MAX } from '../util/hex.ts';
import { checkStepExpect, fmtAddr, type Failure } from './expect.ts';
import { bindingKind, type BindingKind } from './schema-steps.ts';
import type { AddrExpr, SgRef, Step } from './types.ts';

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

/** What applying one step's event gave: its outcome (and the BUG it hit), or why it did not run. */
export type Applied = { outcome: Outcome; bug?: string } | { notRun: string };

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

export const stepName = (s: Step): string => `${s.path} ${s.args.op}`;

function bind(step: Step, ev: Event, out: Outcome): Binding {
  const kind = bindingKind(step.args.op);
  const b: Binding = { kind, step, result: out.result };
  if (kind === 'sg' && out.sg) b.sg = out.sg;
  if (kind === 'coherent' && out.phys !== undefined) b.phys = out.phys;
  if (kind === 'map' && 'phys' in ev) b.phys = ev.phys;
  return b;
}

/**
 * One script's state: its `as:` bindings and whether a step crashed the kernel. Steps run (or are
 * observed) in order; each yields a StepRun whose failures name this file and the step.
 */
export class StepScript {
  private readonly b = new Bindings();
  /** The step whose call crashed the simulated kernel; later steps do not run. */
  crashed: Step | undefined;

  constructor(readonly file: string) {}

  /** Builds the step's event, hands it to `apply`, then binds and checks it (see observe). */
  run(step: Step, apply: (ev: Event, step: Step) => Applied): StepRun {
    if (this.crashed) return this.notRun(step, `the kernel crashed at ${this.crashed.path}`);
    let ev: Event;
    try {
      ev = toEvent(step, this.b);
    } catch (e) {
      if (!(e instanceof Unresolvable)) throw e;
      return this.notRun(step, e.message);
    }
    const a = apply(ev, step);
    if ('notRun' in a) {
      const r = this.notRun(step, a.notRun);
      r.event = ev;
      return r;
    }
    return this.observe(step, ev, a.outcome, a.bug);
  }

  /** A step whose event was applied elsewhere: binds its `as:` and checks its `expect:`. */
  observe(step: Step, ev: Event, out: Outcome, bug?: string): StepRun {
    const run: StepRun = { step, event: ev, outcome: out, failures: [] };
    if (bug !== undefined) {
      run.bug = bug;
      this.crashed ??= step;
    }
    if (step.as !== undefined) this.b.set(step.as, bind(step, ev, out));
    const resolve = (which: 'addr' | 'phys'): bigint | { problem: string } => {
      const expr = step.expect?.[which];
      if (!expr) return { problem: 'nothing to compare' };
      try {
        return this.b.addr(expr);
      } catch (e) {
        if (e instanceof Unresolvable) return { problem: e.message };
        throw e;
      }
    };
    const act = bug !== undefined ? { loc: step.loc, outcome: out, bug, resolve } : { loc: step.loc, outcome: out, resolve };
    for (const f of checkStepExpect(step.expect, act)) run.failures.push({ file: this.file, where: stepName(step), ...f });
    return run;
  }

  /** A step that did not run: a failure (`step`: expected runs). */
  notRun(step: Step, why: string): StepRun {
    return {
      step, notRun: why,
      failures: [{ file: this.file, where: stepName(step), loc: step.loc, key: 'step', expected: ['runs'], actual: [`not run: ${why}`] }],
    };
  }
}
