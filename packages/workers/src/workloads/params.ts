// Workload parameters: declared per workload (shown by `dmasim workloads`), parsed from scenario
// `programs:` values or CLI strings, with clear errors naming the workload and key.

export type ParamValue = number | bigint | string | boolean;
export type ParamKind = 'int' | 'size' | 'rate' | 'enum' | 'string';

export interface ParamSpec {
  name: string;
  kind: ParamKind;
  default: number | string;
  help: string;
  choices?: readonly string[];
  min?: number;
  max?: number;
}

/** The driver bugs a workload can inject, each at a seeded rate per buffer or I/O. */
export const BUG_KNOBS = {
  leak: 'forgotten unmap / free: the mapping is never released',
  'wrong-unmap-size': 'unmap (or free) with a size other than the mapped one',
  'wrong-unmap-dir': 'unmap with a direction other than the mapped one',
  'unchecked-map-error': 'no dma_mapping_error() check: a failed map is used anyway',
  'access-after-unmap': 'the device touches the buffer again after the driver unmapped it',
  'missing-sync': 'the CPU reads a from-device buffer the device still owns (no sync-for-cpu/unmap first)',
  'double-unmap': 'the buffer is unmapped (or freed) twice',
} as const;
export type BugKnob = keyof typeof BUG_KNOBS;
export const BUG_PREFIX = 'bug-';

export const OPS_PARAM: ParamSpec = { name: 'ops', kind: 'int', default: 10000, min: 1, help: 'DMA API calls to issue before draining (unmap everything, unbind)' };

export function bugParam(k: BugKnob): ParamSpec {
  return { name: BUG_PREFIX + k, kind: 'rate', default: 0, min: 0, max: 1, help: BUG_KNOBS[k] };
}

export class ParamError extends Error {
  readonly code = 'BAD_INPUT';
}

const UNITS: Record<string, number> = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "2KiB", "0x800", "2048" → 2048. */
export function parseSize(v: ParamValue): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'string') return NaN;
  const s = v.trim();
  if (/^0x[0-9a-f]+$/i.test(s)) return Number.parseInt(s, 16);
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(s);
  if (!m) return NaN;
  const u = UNITS[m[2]!];
  return u === undefined ? NaN : Number(m[1]) * u;
}

export type Resolved = Record<string, number | string>;

/** Validates `given` against `specs` (unknown keys are an error) and fills defaults. */
export function resolveParams(where: string, specs: readonly ParamSpec[], given: Record<string, ParamValue>): Resolved {
  const out: Resolved = {};
  const byName = new Map(specs.map((s) => [s.name, s]));
  for (const k of Object.keys(given)) {
    if (!byName.has(k)) throw new ParamError(`${where}: unknown parameter "${k}" (known: ${specs.map((s) => s.name).join(', ')})`);
  }
  for (const s of specs) {
    const raw = given[s.name];
    out[s.name] = parseOne(where, s, raw ?? s.default);
  }
  return out;
}

function parseOne(where: string, s: ParamSpec, raw: ParamValue): number | string {
  const bad = (why: string): never => {
    throw new ParamError(`${where}: parameter "${s.name}" = ${String(raw)}: ${why}`);
  };
  if (s.kind === 'string') return String(raw);
  if (s.kind === 'enum') {
    const v = String(raw);
    if (!s.choices?.includes(v)) bad(`expected one of ${s.choices?.join(', ')}`);
    return v;
  }
  const n = s.kind === 'size' ? parseSize(raw) : typeof raw === 'string' ? Number(raw.trim()) : Number(raw);
  if (!Number.isFinite(n)) bad(s.kind === 'size' ? 'expected a size such as 4096, 0x1000 or 2KiB' : 'expected a number');
  if ((s.kind === 'int' || s.kind === 'size') && !Number.isInteger(n)) bad('expected an integer');
  if (s.min !== undefined && n < s.min) bad(`must be at least ${s.min}`);
  if (s.max !== undefined && n > s.max) bad(`must be at most ${s.max}`);
  return n;
}

export function num(p: Resolved, k: string): number {
  const v = p[k];
  if (typeof v !== 'number') throw new Error(`parameter ${k} is not numeric`);
  return v;
}
