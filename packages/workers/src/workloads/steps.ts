// A scenario program's device-local script (`programs: { dev: { steps: [...], repeat: N } }`):
// each `as:` name becomes a device-local handle, each `$ref` a handle reference the coordinator
// resolves, so the script pipelines like any workload.

import type { AddrExpr, SgRef as StepSgRef, Step } from '@dmasim/core';
import { dma, physOf, sgEntry, sgList, type Addr, type DeviceDriver, type DeviceRequest, type IssueOptions, type SgRef } from '../driver.ts';

/** Handle number of each `as:` name, in order of first binding (the coordinator derives the same). */
export function stepHandles(steps: readonly Step[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of steps) if (s.as !== undefined && !m.has(s.as)) m.set(s.as, m.size);
  return m;
}

export class StepProgramError extends Error {
  readonly code = 'BAD_INPUT';
}

/** The request (and its options) a step issues; throws StepProgramError for what a program cannot express. */
export function stepRequest(s: Step, handles: ReadonlyMap<string, number>): [DeviceRequest, IssueOptions] {
  const a = s.args;
  const cpu = s.cpu;
  const o: IssueOptions = {};
  if (s.as !== undefined) o.bind = handles.get(s.as)!;
  const addr = (e: AddrExpr): Addr => {
    if (e.kind === 'lit') return e.value;
    const h = handles.get(e.ref.name);
    if (h === undefined) throw new StepProgramError(`${e.path}: unbound reference $${e.ref.name}`);
    const p = e.ref.part;
    if (p.kind === 'phys') return physOf(h, e.ref.offset);
    if (p.kind === 'index') return sgEntry(h, p.index, e.ref.offset);
    return dma(h, e.ref.offset);
  };
  const sg = (r: StepSgRef): SgRef => {
    const h = handles.get(r.name);
    if (h === undefined) throw new StepProgramError(`${r.path}: unbound reference $${r.name}`);
    return sgList(h, r.nents ?? 0);
  };
  switch (a.op) {
    case 'map-single': case 'map-page': case 'map-phys': case 'map-resource':
      return [{ op: a.op, cpu, phys: addr(a.phys), size: a.size, dir: a.dir, attrs: a.attrs }, o];
    case 'unmap-single': case 'unmap-page': case 'unmap-phys': case 'unmap-resource':
      return [{ op: a.op, cpu, addr: addr(a.addr), size: a.size, dir: a.dir, attrs: a.attrs }, o];
    case 'map-sg':
      return [{
        op: a.op, cpu, dir: a.dir, attrs: a.attrs,
        segments: a.segments.map((g) => {
          if (g.phys.kind !== 'lit') throw new StepProgramError(`${g.phys.path}: in a device program, map-sg segment addresses must be literal (references are supported in top-level steps)`);
          return { phys: g.phys.value, size: g.size };
        }),
      }, o];
    case 'unmap-sg':
      return [{ op: a.op, cpu, sg: sg(a.sg), dir: a.dir, attrs: a.attrs }, o];
    case 'sync-for-cpu': case 'sync-for-device':
      return [{ op: a.op, cpu, addr: addr(a.addr), size: a.size, dir: a.dir }, o];
    case 'sync-sg-for-cpu': case 'sync-sg-for-device':
      return [{ op: a.op, cpu, sg: sg(a.sg), dir: a.dir }, o];
    case 'alloc-coherent':
      // A script states its expectations explicitly; it does not implicitly skip on failure.
      return [{ op: a.op, cpu, size: a.size, attrs: a.attrs }, o];
    case 'free-coherent': {
      const at = addr(a.addr);
      if (a.phys !== undefined) {
        const ph = addr(a.phys);
        const same = typeof at !== 'bigint' && typeof ph !== 'bigint' && ph.kind === physOf(0).kind && ph.h === at.h && ph.offset === at.offset;
        if (!same) throw new StepProgramError(`${a.phys.path}: in a device program, free-coherent takes the CPU address from its $reference (phys: may only repeat $name.phys of the same allocation)`);
      }
      if (typeof at === 'bigint') throw new StepProgramError(`${s.path}.addr: in a device program, free-coherent needs a $reference to the allocation`);
      return [{ op: a.op, cpu, addr: at, size: a.size, attrs: a.attrs }, o];
    }
    case 'mapping-error':
      return [{ op: a.op, cpu, addr: addr(a.addr) }, o];
    case 'set-mask':
      return [{ op: a.op, cpu, bits: a.bits }, o];
    case 'max-mapping-size': case 'unbind':
      return [{ op: a.op, cpu }, o];
    case 'dev-read':
      return [{ op: a.op, cpu, addr: addr(a.addr), size: a.size }, o];
    case 'dev-write':
      return [{ op: a.op, cpu, addr: addr(a.addr), size: a.size, ...a.write }, o];
    case 'cpu-read':
      return [{ op: a.op, cpu, phys: addr(a.phys), size: a.size }, o];
    case 'cpu-write':
      return [{ op: a.op, cpu, phys: addr(a.phys), size: a.size, ...a.write }, o];
    case 'advance-time':
      return [{ op: a.op, cpu, byNs: a.byNs }, o];
    case 'flush-iotlb':
      return [{ op: a.op, cpu, domain: a.domain }, o];
  }
}

/** Checks every step converts (so a bad program is refused before any thread starts). */
export function checkSteps(steps: readonly Step[]): void {
  const h = stepHandles(steps);
  for (const s of steps) {
    const [req] = stepRequest(s, h);
    if ('size' in req && (req.size > 0xffffffff)) throw new StepProgramError(`${s.path}.size: ${req.size} is too large for a device program (at most 4 GiB - 1)`);
  }
}

export async function runSteps(drv: DeviceDriver, steps: readonly Step[], repeat: number): Promise<void> {
  const h = stepHandles(steps);
  const reqs = steps.map((s) => stepRequest(s, h));
  for (let r = 0; r < repeat; r++) {
    for (const [req, o] of reqs) await drv.issue(req, o);
  }
}
