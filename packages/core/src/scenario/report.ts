// Text reports of a run: failures with expected and actual side by side, and the kernel diff of
// one scenario under two profiles.

import { traceLine } from '../events.ts';
import type { Failure } from './expect.ts';
import { fmtAddr } from './expect.ts';
import type { Loc } from './errors.ts';
import type { RunResult, StepRun } from './runner.ts';

const MAX_LEFT = 100;

/** Two columns with a header row; rows that differ are marked with `!`. */
export function sideBySide(leftTitle: string, rightTitle: string, left: readonly string[], right: readonly string[], indent = '    '): string[] {
  const width = Math.min(MAX_LEFT, Math.max(leftTitle.length, ...left.map((l) => l.length)));
  const pad = (s: string): string => (s.length > width ? s : s.padEnd(width));
  const out = [`${indent}  ${pad(leftTitle)} | ${rightTitle}`];
  const n = Math.max(left.length, right.length);
  for (let i = 0; i < n; i++) {
    const l = left[i] ?? '';
    const r = right[i] ?? '';
    out.push(`${indent}${l === r ? ' ' : '!'} ${pad(l)} | ${r}`);
  }
  return out;
}

const at = (file: string, loc: Loc): string => `${file}:${loc.line}:${loc.col}`;

/** `file:line:col: steps[3] map-resource: trace` followed by expected | actual. */
export function formatFailure(f: Failure): string[] {
  const head = `${at(f.file, f.loc)}: ${f.where}: ${f.key}${f.note ? ` (${f.note})` : ''}`;
  const list = f.key === 'trace' || f.key === 'dmesg' || f.key === 'findings';
  if (!list && f.expected.length === 1 && f.actual.length === 1 && f.expected[0]!.length + f.actual[0]!.length < 90) {
    return [`${head}: expected ${f.expected[0]}, actual ${f.actual[0]}`];
  }
  return [head, ...sideBySide('expected', 'actual', f.expected, f.actual)];
}

// ---- diff-kernels -------------------------------------------------------------------------

export interface FieldDiff { field: string; a: string[]; b: string[] }
export interface StepDiff { index: number; path: string; op: string; loc: Loc; fields: FieldDiff[] }
export interface KernelDiff {
  file: string;
  a: RunResult;
  b: RunResult;
  steps: StepDiff[];
  /** Whole-run differences (error-count, leaks, debug-entries). */
  run: FieldDiff[];
}

const isAddrOp = (op: string): boolean => (op.startsWith('map-') && op !== 'map-sg') || op === 'alloc-coherent';

function stepView(s: StepRun): Record<string, string[]> {
  const o = s.outcome;
  if (s.notRun !== undefined) return { run: [`not run: ${s.notRun}`] };
  if (!o) return { run: ['not run'] };
  const op = s.step.args.op;
  const v: Record<string, string[]> = {
    path: [o.path],
    result: [isAddrOp(op) ? fmtAddr(o.result) : String(BigInt.asIntN(64, o.result))],
    error: [String(o.error)],
    trace: o.trace.map(traceLine),
    dmesg: [...o.dmesg],
    findings: o.findings.map((f) => f.kind),
    fault: [o.fault ?? 'none'],
    bug: [s.bug ?? 'none'],
  };
  if (o.phys !== undefined) v.phys = [fmtAddr(o.phys)];
  return v;
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Where two runs of the same scenario differ, step by step. */
export function diffRuns(a: RunResult, b: RunResult): KernelDiff {
  const steps: StepDiff[] = [];
  const n = Math.max(a.steps.length, b.steps.length);
  for (let i = 0; i < n; i++) {
    const sa = a.steps[i];
    const sb = b.steps[i];
    const step = (sa ?? sb)!.step;
    const va = sa ? stepView(sa) : { run: ['not run'] };
    const vb = sb ? stepView(sb) : { run: ['not run'] };
    const fields: FieldDiff[] = [];
    for (const k of new Set([...Object.keys(va), ...Object.keys(vb)])) {
      const x = va[k] ?? [];
      const y = vb[k] ?? [];
      if (!same(x, y)) fields.push({ field: k, a: x, b: y });
    }
    if (fields.length) steps.push({ index: i, path: step.path, op: step.args.op, loc: step.loc, fields });
  }
  const run: FieldDiff[] = [];
  for (const k of ['errorCount', 'debugEntries', 'leaks'] as const) {
    if (a.final[k] !== b.final[k]) run.push({ field: { errorCount: 'error-count', debugEntries: 'debug-entries', leaks: 'leaks' }[k], a: [String(a.final[k])], b: [String(b.final[k])] });
  }
  return { file: a.file, a, b, steps, run };
}

export function formatDiff(d: KernelDiff): string[] {
  const pa = d.a.profile;
  const pb = d.b.profile;
  const out = [`${d.file}: ${d.a.name}: kernel ${pa} vs ${pb}`];
  for (const s of d.steps) {
    out.push('', `${s.path} ${s.op} (${at(d.file, s.loc)})`);
    for (const f of s.fields) {
      if (f.a.length <= 1 && f.b.length <= 1 && (f.a[0] ?? '').length + (f.b[0] ?? '').length < 90) {
        out.push(`  ${f.field}: ${pa}: ${f.a[0] ?? '(none)'}  ${pb}: ${f.b[0] ?? '(none)'}`);
      } else {
        out.push(`  ${f.field}:`, ...sideBySide(pa, pb, f.a.length ? f.a : ['(none)'], f.b.length ? f.b : ['(none)']));
      }
    }
  }
  if (d.run.length) {
    out.push('', 'whole run');
    for (const f of d.run) out.push(`  ${f.field}: ${pa}: ${f.a[0]}  ${pb}: ${f.b[0]}`);
  }
  const total = Math.max(d.a.steps.length, d.b.steps.length);
  out.push('', d.steps.length || d.run.length
    ? `${d.steps.length} of ${total} steps differ between ${pa} and ${pb}`
    : `no difference between ${pa} and ${pb} in ${total} steps`);
  return out;
}
