// Machine-readable form of a run result (`dmasim run --json`): bigints as 0x-hex strings,
// bytes as hex, locations as file:line:col.

import { traceLine } from '../events.ts';
import type { Failure } from './expect.ts';
import { ftraceLine, ftraceTask } from './ftrace.ts';
import type { RunResult } from './runner.ts';
import type { StepRun } from './script.ts';
import { bytesToHex } from './values.ts';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Plain JSON of any model value (bigint → "0x…", Uint8Array → hex, undefined dropped). */
export function toJson(v: unknown): Json {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return (v < 0n ? '-0x' + (-v).toString(16) : '0x' + v.toString(16));
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Uint8Array) return bytesToHex(v);
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'object') {
    const o: { [k: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = toJson(x);
    return o;
  }
  return String(v);
}

/** A failed expectation: where (file:line:col), which step and key, expected and actual. */
export function failureJson(f: Failure): Json {
  return toJson({ at: `${f.file}:${f.loc.line}:${f.loc.col}`, where: f.where, key: f.key, expected: f.expected, actual: f.actual, note: f.note });
}

/** One step of a run: where it is written, its event, outcome, and whether its expectations held. */
export function stepRunJson(file: string, s: StepRun): Json {
  return toJson({
    index: s.step.index,
    at: `${file}:${s.step.loc.line}:${s.step.loc.col}`,
    op: s.step.args.op,
    dev: s.step.dev,
    cpu: s.step.cpu,
    event: s.event,
    notRun: s.notRun,
    bug: s.bug,
    outcome: s.outcome && {
      result: s.outcome.result,
      error: s.outcome.error,
      path: s.outcome.path,
      trace: s.outcome.trace.map(traceLine),
      dmesg: s.outcome.dmesg,
      findings: s.outcome.findings,
      fault: s.outcome.fault,
      data: s.outcome.data,
      phys: s.outcome.phys,
      sg: s.outcome.sg,
      ran: s.outcome.ran,
      timeNs: s.outcome.timeNs,
    },
    passed: s.failures.length === 0,
  });
}

export function runResultJson(r: RunResult): Json {
  return toJson({
    file: r.file,
    name: r.name,
    profile: r.profile,
    status: r.passed ? 'pass' : 'fail',
    failures: r.failures.map(failureJson),
    steps: r.steps.map((s) => stepRunJson(r.file, s)),
    trace: r.trace.map((t) => ftraceLine(t.rec, { ...ftraceTask(r.config, t.dev), cpu: t.cpu, timeNs: t.timeNs })),
    dmesg: r.dmesg.map((d) => d.line),
    final: r.final,
  });
}
