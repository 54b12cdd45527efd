// Scenario schema, script part: `steps` (and a program's device-local steps) with their
// arguments and `expect:`. References are checked against earlier `as:` bindings here, so an
// unbound `$name` is refused at load time; the runner resolves them to values.

import { isMap, isScalar, type Node } from 'yaml';
import { ATTR_TABLE, DIR_SCENARIO_NAMES } from '../dma/defs.ts';
import { FINDING_KINDS, type FindingKind, type Path, type Ran } from '../events.ts';
import { U64_MAX } from '../util/hex.ts';
import type { Loc } from './errors.ts';
import { sub, type MapView, type Reader } from './reader.ts';
import type { AddrExpr, DataExpect, SgRef, Step, StepArgs, StepExpect, StepOp, WriteData } from './types.ts';
import { NAME_RE, parseHexBytes, parseRef, refText } from './values.ts';

/** What an `as:` binding holds, for checking how later references use it. */
export type BindingKind = 'map' | 'sg' | 'coherent' | 'value';

export interface StepContext {
  devices: ReadonlySet<string>;
  domains: ReadonlySet<string>;
  cpus: number;
  /** Set for a program's steps: the device every step acts as. */
  programDev?: string;
}

const MAX_SIZE = Number.MAX_SAFE_INTEGER;
/** Reads and writes materialise their bytes; keep them to a size a test machine holds easily. */
const MAX_ACCESS = 64 * 1024 * 1024;

const ARGS: Record<StepOp, readonly string[]> = {
  'map-single': ['phys', 'size', 'dir', 'attrs'],
  'map-page': ['phys', 'size', 'dir', 'attrs'],
  'map-phys': ['phys', 'size', 'dir', 'attrs'],
  'map-resource': ['phys', 'size', 'dir', 'attrs'],
  'unmap-single': ['addr', 'size', 'dir', 'attrs'],
  'unmap-page': ['addr', 'size', 'dir', 'attrs'],
  'unmap-phys': ['addr', 'size', 'dir', 'attrs'],
  'unmap-resource': ['addr', 'size', 'dir', 'attrs'],
  'map-sg': ['segments', 'dir', 'attrs'],
  'unmap-sg': ['sg', 'nents', 'dir', 'attrs'],
  'sync-for-cpu': ['addr', 'size', 'dir'],
  'sync-for-device': ['addr', 'size', 'dir'],
  'sync-sg-for-cpu': ['sg', 'nents', 'dir'],
  'sync-sg-for-device': ['sg', 'nents', 'dir'],
  'alloc-coherent': ['size', 'attrs'],
  'free-coherent': ['addr', 'size', 'attrs', 'phys'],
  'mapping-error': ['addr'],
  'set-mask': ['bits'],
  'max-mapping-size': [],
  unbind: [],
  'dev-read': ['addr', 'size'],
  'dev-write': ['addr', 'size', 'fill', 'data'],
  'cpu-read': ['phys', 'size'],
  'cpu-write': ['phys', 'size', 'fill', 'data'],
  'advance-time': ['by'],
  'flush-iotlb': ['domain'],
};
export const STEP_OPS = Object.keys(ARGS) as StepOp[];
/** Ops without an acting device. */
const NO_DEV: ReadonlySet<StepOp> = new Set(['cpu-read', 'cpu-write', 'advance-time', 'flush-iotlb']);

const EXPECT_KEYS = ['error', 'addr', 'value', 'path', 'trace', 'dmesg', 'fault', 'findings', 'data', 'fill', 'phys', 'bug', 'ran'] as const;
const PATHS: readonly Path[] = ['direct', 'swiotlb', 'iommu', 'iommu-swiotlb', 'ops', 'none'];
const FAULTS = ['none', 'unmapped', 'permission', 'stale-iotlb'] as const;
const RAN_KEYS = ['swiotlb', 'kmsan', 'trace', 'debug', 'cache'] as const;

const SIGNED_MIN = -(1n << 63n);

export function readSteps(r: Reader, node: Node | null, path: string, ctx: StepContext): Step[] {
  if (node === null || r.isNothing(r.deref(node))) return [];
  const bound = new Map<string, { kind: BindingKind; path: string }>();
  return r.seq(node, path).map(({ node: n, path: ip }, index) => readStep(r, n, ip, index, ctx, bound));
}

function readStep(r: Reader, node: Node | null, path: string, index: number, ctx: StepContext, bound: Map<string, { kind: BindingKind; path: string }>): Step {
  const n = r.deref(node);
  if (!isMap(n)) r.expected(n, path, 'a step (a map with op: ...)');
  // Read `op` first so the allowed keys can be the op's own.
  const opPair = n.items.find((p) => isScalar(p.key) && String(p.key.value) === 'op');
  if (!opPair) r.fail(n, sub(path, 'op'), `required key is missing (one of ${STEP_OPS.join(', ')})`);
  const op = r.oneOf(r.deref(opPair.value as Node | null), sub(path, 'op'), STEP_OPS);
  const common = NO_DEV.has(op) ? ['op', 'cpu', 'as', 'expect'] : ['op', 'dev', 'cpu', 'as', 'expect'];
  const m = r.map(n, path, [...common, ...ARGS[op]]);
  const loc = m.loc;

  let dev: string | undefined;
  if (!NO_DEV.has(op)) {
    if (ctx.programDev !== undefined) {
      dev = ctx.programDev;
      if (m.has('dev') && r.str(m.get('dev'), m.path_('dev')) !== dev) {
        r.fail(m.get('dev'), m.path_('dev'), `a program's steps act as its own device "${dev}"`);
      }
    } else {
      dev = r.str(m.need('dev'), m.path_('dev'), 'a device name');
      if (!ctx.devices.has(dev)) {
        const known = [...ctx.devices].map((d) => `"${d}"`).join(', ');
        r.fail(m.get('dev'), m.path_('dev'), `no device "${dev}" in devices (${known ? 'declared: ' + known : 'none declared'})`);
      }
    }
  }
  const cpu = m.has('cpu') ? r.int(m.get('cpu'), m.path_('cpu'), 0, ctx.cpus - 1, `a CPU number 0..${ctx.cpus - 1} (platform.cpus is ${ctx.cpus})`) : 0;

  const a = new Args(r, m, bound);
  const args = readArgs(a, op, ctx);

  let as: string | undefined;
  if (m.has('as')) {
    as = r.str(m.get('as'), m.path_('as'), 'a binding name');
    if (!NAME_RE.test(as)) r.fail(m.get('as'), m.path_('as'), `expected a name of letters, digits, _ and - (not before a digit), got "${as}"`);
  }
  // The step's own binding is visible to its expect (it is bound before expectations are checked).
  if (as !== undefined) bound.set(as, { kind: bindingKind(op), path });
  const expect = m.has('expect') ? readStepExpect(r, m.get('expect'), m.path_('expect'), bound) : undefined;

  const step: Step = { index, path, loc, cpu, args };
  if (dev !== undefined) step.dev = dev;
  if (as !== undefined) step.as = as;
  if (expect !== undefined) step.expect = expect;
  return step;
}

export function bindingKind(op: StepOp): BindingKind {
  if (op === 'map-sg') return 'sg';
  if (op === 'alloc-coherent') return 'coherent';
  if (op.startsWith('map-')) return 'map';
  return 'value';
}

/** Reads one op's arguments from its map, checking references against the bindings so far. */
class Args {
  constructor(
    readonly r: Reader,
    readonly m: MapView,
    readonly bound: Map<string, { kind: BindingKind; path: string }>,
  ) {}

  size(key = 'size', max = MAX_SIZE): number {
    const what = max === MAX_ACCESS ? 'a size from 0 to 64MiB (reads and writes carry their bytes)' : 'a size in bytes (0..2^53-1)';
    return this.r.int(this.m.need(key), this.m.path_(key), 0, max, what);
  }

  dir(): number {
    const name = this.r.oneOf(this.m.need('dir'), this.m.path_('dir'), DIR_SCENARIO_NAMES);
    return DIR_SCENARIO_NAMES.indexOf(name);
  }

  attrs(): number {
    if (!this.m.has('attrs')) return 0;
    const n = this.m.get('attrs');
    const path = this.m.path_('attrs');
    const names = ATTR_TABLE.map((t) => t[2]);
    const items = this.r.isNothing(n) ? [] : isScalar(n) ? [{ node: n as Node | null, path }] : this.r.seq(n, path, 'a list of attribute names');
    let v = 0;
    for (const it of items) {
      const name = this.r.oneOf(it.node, it.path, names);
      v |= ATTR_TABLE.find((t) => t[2] === name)![0];
    }
    return v;
  }

  addr(key: string): AddrExpr {
    return readAddr(this.r, this.m.need(key), this.m.path_(key), this.bound);
  }

  sg(): SgRef {
    const node = this.m.need('sg');
    const path = this.m.path_('sg');
    const text = this.r.text(node, path, 'a reference to a map-sg binding, e.g. $sg');
    const p = parseRef(text);
    const loc = this.r.loc(node);
    if (!p.ok || p.value.part.kind !== 'addr' || p.value.offset !== 0n) this.r.expected(node, path, 'a reference to a map-sg binding, e.g. $sg');
    const b = this.bound.get(p.value.name);
    if (!b) this.r.fail(node, path, unboundText(p.value.name));
    if (b.kind !== 'sg') this.r.fail(node, path, `$${p.value.name} was bound by ${b.path}, which is not a map-sg step`);
    const ref: SgRef = { name: p.value.name, loc, path };
    if (this.m.has('nents')) ref.nents = this.r.int(this.m.get('nents'), this.m.path_('nents'), 1, 1 << 20, 'an entry count of at least 1');
    return ref;
  }

  write(size: number | undefined): { size: number; write: WriteData } {
    const r: Reader = this.r;
    const m: MapView = this.m;
    if (m.has('data') && m.has('fill')) r.fail(m.get('fill'), m.path_('fill'), 'give either data or fill, not both');
    if (m.has('data')) {
      const bytes = readHex(r, m.get('data'), m.path_('data'));
      if (size !== undefined && size !== bytes.length) r.fail(m.get('data'), m.path_('data'), `has ${bytes.length} bytes but size is ${size}`);
      if (bytes.length > MAX_ACCESS) r.fail(m.get('data'), m.path_('data'), 'more than 64MiB of data');
      return { size: bytes.length, write: { data: bytes } };
    }
    if (!m.has('fill')) r.failAt(m.loc, m.path_('data'), 'a write needs data: "<hex>" or fill: <byte>');
    const fill = r.int(m.get('fill'), m.path_('fill'), 0, 255, 'a byte value 0..255');
    if (size === undefined) r.failAt(m.loc, m.path_('size'), 'required key is missing (fill needs a size)');
    return { size, write: { fill } };
  }
}

function readArgs(a: Args, op: StepOp, ctx: StepContext): StepArgs {
  const r: Reader = a.r;
  const m: MapView = a.m;
  switch (op) {
    case 'map-single':
    case 'map-page':
    case 'map-phys':
    case 'map-resource':
      return { op, phys: a.addr('phys'), size: a.size(), dir: a.dir(), attrs: a.attrs() };
    case 'unmap-single':
    case 'unmap-page':
    case 'unmap-phys':
    case 'unmap-resource':
      return { op, addr: a.addr('addr'), size: a.size(), dir: a.dir(), attrs: a.attrs() };
    case 'map-sg': {
      const segs = r.seq(m.need('segments'), m.path_('segments'), 'a list of { phys, size } segments').map(({ node, path }) => {
        const sm = r.map(node, path, ['phys', 'size']);
        const sa = new Args(r, sm, a.bound);
        return { phys: sa.addr('phys'), size: sa.size() };
      });
      if (segs.length === 0) r.fail(m.get('segments'), m.path_('segments'), 'expected at least one segment');
      return { op, segments: segs, dir: a.dir(), attrs: a.attrs() };
    }
    case 'unmap-sg':
      return { op, sg: a.sg(), dir: a.dir(), attrs: a.attrs() };
    case 'sync-for-cpu':
    case 'sync-for-device':
      return { op, addr: a.addr('addr'), size: a.size(), dir: a.dir() };
    case 'sync-sg-for-cpu':
    case 'sync-sg-for-device':
      return { op, sg: a.sg(), dir: a.dir() };
    case 'alloc-coherent':
      return { op, size: a.size(), attrs: a.attrs() };
    case 'free-coherent': {
      const out: StepArgs = { op, addr: a.addr('addr'), size: a.size(), attrs: a.attrs() };
      if (m.has('phys')) out.phys = a.addr('phys');
      return out;
    }
    case 'mapping-error':
      return { op, addr: a.addr('addr') };
    case 'set-mask':
      return { op, bits: r.int(m.need('bits'), m.path_('bits'), 0, 64, '0..64') };
    case 'max-mapping-size':
    case 'unbind':
      return { op };
    case 'dev-read':
      return { op, addr: a.addr('addr'), size: a.size('size', MAX_ACCESS) };
    case 'cpu-read':
      return { op, phys: a.addr('phys'), size: a.size('size', MAX_ACCESS) };
    case 'dev-write':
    case 'cpu-write': {
      const size = m.has('size') ? a.size('size', MAX_ACCESS) : undefined;
      const w = a.write(size);
      return op === 'dev-write' ? { op, addr: a.addr('addr'), ...w } : { op, phys: a.addr('phys'), ...w };
    }
    case 'advance-time':
      return { op, byNs: r.duration(m.need('by'), m.path_('by')) };
    case 'flush-iotlb': {
      const domain = r.str(m.need('domain'), m.path_('domain'), 'a domain name');
      if (!ctx.domains.has(domain)) r.fail(m.get('domain'), m.path_('domain'), `no domain "${domain}" in domains`);
      return { op, domain };
    }
  }
}

function unboundText(name: string): string {
  return `unbound reference $${name} (no earlier step has as: ${name})`;
}

/** A literal address or a reference, checked against the bindings so far. */
function readAddr(r: Reader, node: Node | null, path: string, bound: Map<string, { kind: BindingKind; path: string }>): AddrExpr {
  const text = r.text(node, path, 'an address or a reference such as $buf');
  const loc: Loc = r.loc(node);
  if (!text.trim().startsWith('$')) {
    const value = r.big(node, path, 0n, U64_MAX, 'an address (0..2^64-1) or a reference such as $buf');
    return { kind: 'lit', value, loc, path };
  }
  const p = parseRef(text);
  if (!p.ok) r.expected(node, path, p.problem);
  const ref = p.value;
  const b = bound.get(ref.name);
  if (!b) r.fail(node, path, unboundText(ref.name));
  if (ref.part.kind === 'index' && b.kind !== 'sg') r.fail(node, path, `$${ref.name}[${ref.part.index}] indexes a scatterlist, but ${b.path} is not a map-sg step`);
  if (ref.part.kind === 'addr' && b.kind === 'sg') r.fail(node, path, `$${ref.name} is a scatterlist (bound by ${b.path}): use $${ref.name}[i] for its i-th DMA address`);
  if (ref.part.kind === 'phys' && (b.kind === 'sg' || b.kind === 'value')) r.fail(node, path, `$${ref.name}.phys: ${b.path} has no CPU physical address (.phys is for alloc-coherent and map steps)`);
  return { kind: 'ref', ref, text: refText(ref), loc, path };
}

function readHex(r: Reader, node: Node | null, path: string): Uint8Array {
  const text = r.text(node, path, 'hex bytes such as "deadbeef"');
  const p = parseHexBytes(text);
  if (!p.ok) r.expected(node, path, p.problem);
  return p.value;
}

function readStrings(r: Reader, node: Node | null, path: string, what: string): string[] {
  return r.seq(node, path, `a list of ${what}`).map(({ node: n, path: ip }) => r.text(n, ip, what));
}

function readStepExpect(r: Reader, node: Node | null, path: string, bound: Map<string, { kind: BindingKind; path: string }>): StepExpect {
  const m = r.map(node, path, EXPECT_KEYS);
  const keyLocs: Record<string, Loc> = {};
  for (const k of m.keys()) keyLocs[k] = m.keyLoc(k);
  const e: StepExpect = { loc: m.loc, keyLocs };
  if (m.has('error')) e.error = r.bool(m.get('error'), m.path_('error'));
  if (m.has('addr')) e.addr = readAddr(r, m.get('addr'), m.path_('addr'), bound);
  if (m.has('phys')) e.phys = readAddr(r, m.get('phys'), m.path_('phys'), bound);
  if (m.has('value')) e.value = r.big(m.get('value'), m.path_('value'), SIGNED_MIN, U64_MAX, 'an integer (negative for an errno, e.g. -5)', true);
  if (m.has('path')) e.path = r.oneOf(m.get('path'), m.path_('path'), PATHS);
  if (m.has('trace')) e.trace = r.isNothing(m.get('trace')) ? [] : readStrings(r, m.get('trace'), m.path_('trace'), 'trace lines "<event>: <text>"');
  if (m.has('dmesg')) e.dmesg = r.isNothing(m.get('dmesg')) ? [] : readStrings(r, m.get('dmesg'), m.path_('dmesg'), 'kernel log substrings');
  if (m.has('fault')) e.fault = r.oneOf(m.get('fault'), m.path_('fault'), FAULTS);
  if (m.has('findings')) {
    e.findings = r.isNothing(m.get('findings')) ? [] : r.seq(m.get('findings'), m.path_('findings'), 'a list of finding kinds').map(({ node: n, path: ip }) => r.oneOf(n, ip, FINDING_KINDS));
  }
  if (m.has('data') && m.has('fill')) r.fail(m.get('fill'), m.path_('fill'), 'give either data or fill, not both');
  if (m.has('data')) e.data = readDataExpect(r, m.get('data'), m.path_('data'));
  if (m.has('fill')) e.data = { fill: r.int(m.get('fill'), m.path_('fill'), 0, 255, 'a byte value 0..255') };
  if (m.has('bug')) e.bug = r.bool(m.get('bug'), m.path_('bug'));
  if (m.has('ran')) {
    const rm = r.map(m.get('ran'), m.path_('ran'), RAN_KEYS);
    const ran: Partial<Ran> = {};
    for (const k of RAN_KEYS) if (rm.has(k)) ran[k] = r.bool(rm.get(k), rm.path_(k));
    e.ran = ran;
  }
  return e;
}

function readDataExpect(r: Reader, node: Node | null, path: string): DataExpect {
  const n = r.deref(node);
  if (isMap(n)) {
    const m = r.map(n, path, ['fill']);
    return { fill: r.int(m.need('fill'), m.path_('fill'), 0, 255, 'a byte value 0..255') };
  }
  return { data: readHex(r, n, path) };
}

export function readFindingCounts(r: Reader, node: Node | null, path: string): Partial<Record<FindingKind, number>> {
  const m = r.map(node, path, FINDING_KINDS, 'a map of finding kind to count');
  const out: Partial<Record<FindingKind, number>> = {};
  for (const k of FINDING_KINDS) if (m.has(k)) out[k] = r.int(m.get(k), m.path_(k), 0, Number.MAX_SAFE_INTEGER, 'a count');
  return out;
}

export { readStrings };
