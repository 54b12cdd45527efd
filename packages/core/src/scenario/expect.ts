// Checking expectations against outcomes: each failure carries the expected and the actual value
// as display lines, for a side-by-side report (report.ts).

import { FINDING_KINDS, traceLine, type FindingKind, type Outcome } from '../events.ts';
import { hex } from '../util/hex.ts';
import type { Loc } from './errors.ts';
import type { RunExpect, StepExpect } from './types.ts';
import { bytesToHex } from './values.ts';

export interface Failure {
  file: string;
  /** Where the expectation (or the step) is written. */
  loc: Loc;
  /** The step, e.g. `steps[3] map-resource`, or `expect` for whole-run expectations. */
  where: string;
  /** The expectation key, e.g. `trace`, `addr`, `error-count`. */
  key: string;
  expected: string[];
  actual: string[];
  /** Extra explanation (the dmesg matching rule, the first differing byte, ...). */
  note?: string;
}

type Partial_ = Omit<Failure, 'file' | 'where'>;

export const fmtAddr = (x: bigint): string => '0x' + hex(x);

function signed64(x: bigint): bigint {
  return BigInt.asIntN(64, x);
}

/**
 * `dmesg` matching: entry 1 must be a substring of some line; each later entry a substring of
 * the line the previous one matched or of a later line. Returns the index of the first entry that
 * cannot be matched, or -1.
 */
export function matchDmesgOrdered(expected: readonly string[], lines: readonly string[]): number {
  let from = 0;
  for (let i = 0; i < expected.length; i++) {
    let j = from;
    while (j < lines.length && !lines[j]!.includes(expected[i]!)) j++;
    if (j >= lines.length) return i;
    from = j;
  }
  return -1;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const list = (xs: readonly string[]): string[] => (xs.length ? [...xs] : ['(none)']);

/** Values a step's expectations need from the runner. */
export interface StepActual {
  /** The step's location (for failures not tied to an expect key). */
  loc: Loc;
  outcome: Outcome;
  /** Message of the kernel BUG the call hit, if it did. */
  bug?: string;
  /** Resolves the address expressions of the expectation (references included). */
  resolve: (which: 'addr' | 'phys') => bigint | { problem: string };
}

export function checkStepExpect(e: StepExpect | undefined, act: StepActual): Partial_[] {
  const out: Partial_[] = [];
  const o = act.outcome;
  const at = (k: string): Loc => e?.keyLocs[k] ?? act.loc;
  const fail = (key: string, expected: string[], actual: string[], note?: string): void => {
    const f: Partial_ = { loc: at(key), key, expected, actual };
    if (note !== undefined) f.note = note;
    out.push(f);
  };
  const wantBug = e?.bug ?? false;
  if (wantBug !== (act.bug !== undefined)) {
    fail('bug', [wantBug ? 'kernel BUG' : 'no kernel BUG'], [act.bug !== undefined ? `kernel BUG: ${act.bug}` : 'returned normally']);
  }
  if (!e) return out;
  if (e.error !== undefined && e.error !== o.error) fail('error', [String(e.error)], [String(o.error)]);
  for (const k of ['addr', 'phys'] as const) {
    if (e[k] === undefined) continue;
    const want = act.resolve(k);
    const got = k === 'addr' ? o.result : o.phys;
    if (typeof want !== 'bigint') fail(k, [want.problem], [got === undefined ? '(none)' : fmtAddr(got)]);
    else if (got !== want) fail(k, [fmtAddr(want)], [got === undefined ? '(none)' : fmtAddr(got)]);
  }
  if (e.value !== undefined && signed64(e.value) !== signed64(o.result)) fail('value', [String(e.value)], [String(signed64(o.result))]);
  if (e.path !== undefined && e.path !== o.path) fail('path', [e.path], [o.path]);
  if (e.trace !== undefined) {
    const got = o.trace.map(traceLine);
    if (!sameList(e.trace, got)) fail('trace', list(e.trace), list(got));
  }
  if (e.dmesg !== undefined) {
    if (e.dmesg.length === 0) {
      if (o.dmesg.length > 0) fail('dmesg', ['(none)'], o.dmesg);
    } else {
      const bad = matchDmesgOrdered(e.dmesg, o.dmesg);
      if (bad >= 0) fail('dmesg', e.dmesg, list(o.dmesg), `entry ${bad + 1} ("${e.dmesg[bad]}") is not a substring of a line at or after the previous entry's match`);
    }
  }
  if (e.fault !== undefined && e.fault !== (o.fault ?? 'none')) fail('fault', [e.fault], [o.fault ?? 'none']);
  if (e.findings !== undefined) {
    const want = [...e.findings].sort();
    const got = o.findings.map((f) => f.kind).sort();
    if (!sameList(want, got)) fail('findings', list(want), o.findings.length ? o.findings.map((f) => `${f.kind}: ${f.message}`) : ['(none)']);
  }
  if (e.data !== undefined) {
    const got = o.data;
    if (got === undefined) fail('data', [describeData(e.data)], ['(no data: not a read)']);
    else if ('fill' in e.data) {
      const fill = e.data.fill;
      const i = got.findIndex((b) => b !== fill);
      if (i >= 0 || got.length === 0) fail('data', [describeData(e.data)], [shortHex(got)], got.length ? `byte ${i} is 0x${got[i]!.toString(16).padStart(2, '0')}` : 'read returned no bytes');
    } else {
      const want = e.data.data;
      let i = 0;
      while (i < want.length && i < got.length && want[i] === got[i]) i++;
      if (i < want.length || want.length !== got.length) fail('data', [shortHex(want)], [shortHex(got)], want.length !== got.length ? `length ${want.length} expected, ${got.length} read` : `first difference at byte ${i}`);
    }
  }
  if (e.ran !== undefined) {
    for (const [k, v] of Object.entries(e.ran) as [keyof Outcome['ran'], boolean][]) {
      if (o.ran[k] !== v) fail(`ran.${k}`, [String(v)], [String(o.ran[k])]);
    }
  }
  return out;
}

function describeData(d: { data: Uint8Array } | { fill: number }): string {
  return 'fill' in d ? `fill 0x${d.fill.toString(16).padStart(2, '0')}` : shortHex(d.data);
}

function shortHex(b: Uint8Array): string {
  const h = bytesToHex(b.length > 64 ? b.subarray(0, 64) : b);
  return b.length > 64 ? `${h}... (${b.length} bytes)` : h || '(empty)';
}

/** What the whole-run expectations compare with. */
export interface RunActual {
  errorCount: number;
  debugEntries: number;
  leaks: number;
  dmesg: readonly string[];
  findings: Record<FindingKind, number>;
}

export function checkRunExpect(e: RunExpect, act: RunActual): Partial_[] {
  const out: Partial_[] = [];
  const fail = (key: string, expected: string[], actual: string[], note?: string): void => {
    const f: Partial_ = { loc: e.keyLocs[key] ?? e.loc, key, expected, actual };
    if (note !== undefined) f.note = note;
    out.push(f);
  };
  if (e.errorCount !== undefined && e.errorCount !== act.errorCount) fail('error-count', [String(e.errorCount)], [String(act.errorCount)]);
  if (e.leaks !== undefined && e.leaks !== act.leaks) fail('leaks', [String(e.leaks)], [String(act.leaks)]);
  if (e.debugEntries !== undefined && e.debugEntries !== act.debugEntries) fail('debug-entries', [String(e.debugEntries)], [String(act.debugEntries)]);
  if (e.dmesg !== undefined) {
    const missing = e.dmesg.filter((s) => !act.dmesg.some((l) => l.includes(s)));
    if (missing.length) fail('dmesg', missing, list(act.dmesg), 'each entry must be a substring of some line of the run\'s kernel log');
  }
  if (e.findings !== undefined) {
    const want = FINDING_KINDS.map((k) => `${k}: ${e.findings![k] ?? 0}`);
    const got = FINDING_KINDS.map((k) => `${k}: ${act.findings[k]}`);
    if (!sameList(want, got)) fail('findings', want, got, 'kinds not named must be 0');
  }
  return out;
}
