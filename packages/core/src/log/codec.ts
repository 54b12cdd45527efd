// Batch codec, encoding side: turns a run of (event, outcome digest) records into one msgpack
// payload. Hot fields are packed as varints against per-batch predictors (docs/log-format.md,
// "Records"), so a map/unmap pair costs a few bytes beyond its 4-byte outcome tag. Every batch
// stands alone. decode.ts reads it back.

import type { Event, Path, Segment, SgList } from '../events.ts';
import { Lanes, type OutcomeDigest } from './digest.ts';
import { packr } from './format.ts';
import { SCHEMA, type BigField, type ComplexField, type OpSchema } from './schema.ts';
import { packableSegments, packableSg, SegEncoder, writeDma } from './sglist.ts';
import { ByteWriter, EXACT } from './varint.ts';

/** One logged event: the event as applied, its sequence number and its outcome digest. */
export interface LogRecord {
  seq: number;
  event: Event;
  result: bigint;
  error: boolean;
  path: Path;
  thrown?: string;
  /** Top 32 bits of the outcome's detail digest. */
  tag: number;
}

/** Machine.stateHash() taken right after event `seq`. */
export interface StateMark {
  seq: number;
  hash: string;
}

export interface DecodedBatch {
  records: LogRecord[];
  states: StateMark[];
  /** Lanes (digest.ts) over the full detail digests of the batch's events, in order. */
  chain: string;
}

export interface BatchPayload {
  strs: string[];
  shapes: Uint8Array;
  rec: Uint8Array;
  tags: Uint8Array;
  ext: unknown[];
  st: [number, string][];
  chain: string;
}

export const R_ZERO = 0;
export const R_PRIMARY = 1;
export const R_DELTA = 2;
export const R_SIGNED = 3;
export const R_UNSIGNED = 4;
const I63 = 1n << 63n;
export const U64 = 1n << 64n;
const NEG_I63 = -I63;
const NUM_LIMIT = 2 ** 51;

/** Predictor state of one device (or of the CPU side, key ""). Reset at every batch. */
export interface Scope {
  phys: bigint;
  addr: bigint;
  cpuAddr: bigint;
  byNs: number;
  /** Last successful non-zero result per path. */
  results: Map<string, bigint>;
  /** Count of mapping results remembered so far (map-like ops). */
  ord: number;
}

/** Encoder-side scope: also the mapping results by address and the scope's shapes, to find fast. */
interface EncScope extends Omit<Scope, 'results'> {
  /** Number(phys), Number(addr), Number(cpuAddr): the predictors as doubles, exact while below 2^52 (ByteWriter.sdeltaN). */
  physN: number;
  addrN: number;
  cpuAddrN: number;
  /** Last successful non-zero result by the batch's path string index (Scope.results by path, as the decoder keeps it), and as a double. */
  resB: (bigint | undefined)[];
  resN: number[];
  /** Keyed by Number(addr) (bigint keys hash slowly); entries keep the exact address to compare. */
  hist: Map<number, { addr: bigint; ord: number; size: number }>;
  /** Flattened [opI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI, id] groups. */
  shapes: number[];
  /** shapeHash() of a group's first nine words → the group's offset in `shapes` (checked word by word on every hit). */
  shapeAt: Map<number, number>;
  segs: SegEncoder;
}
const SHAPE_WORDS = 10;

/** Whether the group at `at` of a scope's `shapes` holds these nine words. */
function sameShape(ss: number[], at: number, opI: number, cpu: number, dir: number, attrs: number, extra: number, pathI: number, flags: number, rmode: number, thrownI: number): boolean {
  return ss[at] === opI && ss[at + 1] === cpu && ss[at + 2] === dir && ss[at + 3] === attrs && ss[at + 4] === extra &&
    ss[at + 5] === pathI && ss[at + 6] === flags && ss[at + 7] === rmode && ss[at + 8] === thrownI;
}

/**
 * A small-integer hash of a shape's words within a scope (BatchEncoder.add's shape lookup). Before,
 * the lookup scanned the scope's first 24 shapes, and a shape past those (or new in the batch)
 * built a string key: 16–18 % of a direct-only log's events, and the encoder's costliest line
 * (BENCHMARKS.md, twentieth round).
 */
function shapeHash(opI: number, cpu: number, dir: number, attrs: number, extra: number, pathI: number, flags: number, rmode: number, thrownI: number): number {
  let h = Math.imul(opI ^ 0x2f1b3c4d, 0x01000193);
  h = Math.imul(h ^ cpu, 0x01000193);
  h = Math.imul(h ^ dir, 0x01000193);
  h = Math.imul(h ^ attrs, 0x01000193);
  h = Math.imul(h ^ extra, 0x01000193);
  h = Math.imul(h ^ pathI, 0x01000193);
  h = Math.imul(h ^ flags, 0x01000193);
  h = Math.imul(h ^ rmode, 0x01000193);
  h = Math.imul(h ^ thrownI, 0x01000193);
  return (h ^ (h >>> 15)) & 0x3fffffff; // a small integer: the Map hashes it without a heap number
}

const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && Math.abs(v) < NUM_LIMIT && !Object.is(v, -0);
const isBig = (v: unknown): v is bigint => typeof v === 'bigint' && v >= NEG_I63 && v < U64;
const abs = (v: bigint): bigint => (v < 0n ? -v : v);

/** The event fields the encoder reads, by name (an Event of any op). */
interface Fields {
  op: string;
  dev?: unknown;
  cpu?: unknown;
  dir?: unknown;
  attrs?: unknown;
  bits?: unknown;
  fill?: unknown;
  domain?: unknown;
  phys?: unknown;
  addr?: unknown;
  cpuAddr?: unknown;
  size?: unknown;
  byNs?: unknown;
  data?: unknown;
  segments?: unknown;
  sg?: unknown;
}

const B_NONE = 0;
const B_PHYS = 1;
const B_ADDR = 2;
const B_CPU_ADDR = 3;
const C_NONE = 0;
const C_DATA = 1;
const C_SEGMENTS = 2;
const C_SG = 3;

/**
 * An op's schema as small integer codes: its fields read by direct property loads in a switch
 * rather than by keyed loads over the schema's name lists (which every op shares, so they go
 * megamorphic). Same fields, same order: the schema has at most two bigints, one number and one
 * complex field per op (checked when the table is built).
 */
interface Plan {
  sc: OpSchema;
  big0: number;
  big1: number;
  /** 0 none, 1 size, 2 byNs. */
  num: number;
  complex: number;
  extra: number;
}

const BIG_CODE: Record<BigField, number> = { phys: B_PHYS, addr: B_ADDR, cpuAddr: B_CPU_ADDR };
const COMPLEX_CODE: Record<ComplexField, number> = { data: C_DATA, segments: C_SEGMENTS, sg: C_SG };

function planFor(sc: OpSchema): Plan {
  if (sc.big.length > 2 || sc.num.length > 1 || sc.complex.length > 1) throw new Error('log schema: an op has more fields than the encoder plan holds');
  return {
    sc,
    big0: sc.big[0] ? BIG_CODE[sc.big[0]] : B_NONE,
    big1: sc.big[1] ? BIG_CODE[sc.big[1]] : B_NONE,
    num: sc.num[0] === 'size' ? 1 : sc.num[0] === 'byNs' ? 2 : 0,
    complex: sc.complex[0] ? COMPLEX_CODE[sc.complex[0]] : C_NONE,
    extra: sc.extra === 'bits' ? 1 : sc.extra === 'domain' ? 2 : 0,
  };
}

const PLANS = new Map<string, Plan>(Object.entries(SCHEMA).map(([op, sc]) => [op, planFor(sc)]));

function bigOf(ev: Fields, code: number): unknown {
  switch (code) {
    case B_PHYS: return ev.phys;
    case B_ADDR: return ev.addr;
    default: return ev.cpuAddr;
  }
}

/**
 * The fields of the event add() is encoding that its op's plan uses, each loaded from the event
 * once. Events come in every op's shape, so each load from one is a megamorphic lookup, and
 * packable() and add() between them read most fields two or three times (BENCHMARKS.md, nineteenth
 * round); they read these instead, one object of one shape. add() is never re-entered: one serves.
 */
interface Loaded {
  dev: unknown;
  cpu: unknown;
  dir: unknown;
  attrs: unknown;
  /** set-mask's bits or flush-iotlb's domain (plan.extra). */
  extra: unknown;
  fill: unknown;
  big0: unknown;
  big1: unknown;
  /** size or byNs (plan.num). */
  num: unknown;
  /** data, segments or sg (plan.complex). */
  complex: unknown;
}
const LOADED: Loaded = { dev: undefined, cpu: undefined, dir: undefined, attrs: undefined, extra: undefined, fill: undefined, big0: undefined, big1: undefined, num: undefined, complex: undefined };

function load(ev: Fields, p: Plan): Loaded {
  const sc = p.sc;
  const f = LOADED;
  f.dev = sc.dev ? ev.dev : undefined;
  f.cpu = ev.cpu;
  f.dir = sc.dir ? ev.dir : undefined;
  f.attrs = sc.attrs ? ev.attrs : undefined;
  f.extra = p.extra === 1 ? ev.bits : p.extra === 2 ? ev.domain : undefined;
  f.fill = sc.fill ? ev.fill : undefined;
  f.big0 = p.big0 !== B_NONE ? bigOf(ev, p.big0) : undefined;
  f.big1 = p.big1 !== B_NONE ? bigOf(ev, p.big1) : undefined;
  f.num = p.num === 1 ? ev.size : p.num === 2 ? ev.byNs : undefined;
  f.complex = p.complex === C_DATA ? ev.data : p.complex === C_SEGMENTS ? ev.segments : p.complex === C_SG ? ev.sg : undefined;
  return f;
}

/** Whether the packed layout can carry this event (its fields `f`, load()ed) exactly; otherwise it goes whole into msgpack. */
function packable(f: Loaded, p: Plan): boolean {
  const sc = p.sc;
  if (sc.dev && typeof f.dev !== 'string') return false;
  if (!isNat(f.cpu) || (sc.dir && !isNat(f.dir)) || (sc.attrs && !isNat(f.attrs))) return false;
  if (p.extra === 1 && !isNat(f.extra)) return false;
  if (sc.fill && f.fill !== undefined && !(isNat(f.fill) && f.fill < NUM_LIMIT)) return false;
  if (p.extra === 2 && typeof f.extra !== 'string') return false;
  if (p.big0 !== B_NONE && !isBig(f.big0)) return false;
  if (p.big1 !== B_NONE && !isBig(f.big1)) return false;
  if (p.num !== 0 && !isNum(f.num)) return false;
  switch (p.complex) {
    case C_DATA: return f.complex === undefined || f.complex instanceof Uint8Array;
    case C_SEGMENTS: return packableSegments(f.complex);
    case C_SG: return packableSg(f.complex);
    default: return true;
  }
}

/** Feeds one event's full detail digest (both halves) into a batch's outcome chain; returns its tag. */
export function chainDetail(chain: Lanes, d: { hi: number; lo: number }): number {
  chain.w(d.hi);
  chain.w(d.lo);
  return d.hi;
}

export class BatchEncoder {
  private rec = new ByteWriter();
  private shapes = new ByteWriter(1024);
  private tags = new ByteWriter();
  private strs: string[] = [];
  private strIdx = new Map<string, number>();
  /** Shapes written to this batch so far (the next shape's number). */
  private shapeCount = 0;
  private lastSize: number[] = [];
  private scopes = new Map<string, EncScope>();
  private ext: unknown[] = [];
  private states: [number, string][] = [];
  private chain = new Lanes();
  count = 0;

  private str(s: string): number {
    let i = this.strIdx.get(s);
    if (i === undefined) {
      i = this.strs.length;
      this.strs.push(s);
      this.strIdx.set(s, i);
    }
    return i;
  }

  /** shapeHash(); a test overrides it to make shapes share hashes. */
  protected hashShape(opI: number, cpu: number, dir: number, attrs: number, extra: number, pathI: number, flags: number, rmode: number, thrownI: number): number {
    return shapeHash(opI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI);
  }

  private scope(key: string): EncScope {
    let s = this.scopes.get(key);
    if (!s) {
      s = {
        phys: 0n, addr: 0n, cpuAddr: 0n, byNs: 0, ord: 0, physN: 0, addrN: 0, cpuAddrN: 0,
        resB: [], resN: [], hist: new Map(), shapes: [], shapeAt: new Map(), segs: new SegEncoder(),
      };
      this.scopes.set(key, s);
    }
    return s;
  }

  add(event: Event, d: OutcomeDigest): void {
    const op = event.op;
    const plan = PLANS.get(op);
    const f = plan === undefined ? undefined : load(event as unknown as Fields, plan);
    const generic = plan === undefined || !packable(f!, plan);
    const sc = generic ? undefined : plan.sc;
    const r = d.result;
    if (typeof r !== 'bigint') throw new RangeError(`outcome result ${String(r)} is not a 64-bit bigint`);
    // The result as a double: exact (and a valid 64-bit value) while below 2^52 in magnitude.
    const rN = Number(r);
    const rSmall = rN < EXACT && rN > -EXACT;
    if (!rSmall && !isBig(r)) throw new RangeError(`outcome result ${String(r)} is not a 64-bit bigint`);
    const scopeKey = sc !== undefined && sc.dev ? (f!.dev as string) : '';
    const scope = this.scope(scopeKey);
    const primary = sc !== undefined && plan!.big0 !== B_NONE ? (f!.big0 as bigint) : undefined;
    const flags = (d.error ? 1 : 0) | (d.thrown !== undefined ? 2 : 0);
    const pathI = this.str(d.path);
    const thrownI = d.thrown !== undefined ? this.str(d.thrown) : -1;
    // The result's mode and the value written for it: zero, the event's primary address, a
    // difference from the scope's last result on this path when that is smaller, else the value
    // (as signed below 2^63, else less 2^64).
    let rmode: number;
    let rvalN = 0;
    let rvalB = 0n;
    if (rN === 0) rmode = R_ZERO; // r === 0n: only 0n converts to 0
    else if (r === primary) rmode = R_PRIMARY;
    else {
      const lastN = sc !== undefined ? scope.resN[pathI] : undefined;
      if (rSmall && (lastN === undefined || (lastN < EXACT && lastN > -EXACT))) {
        rmode = R_SIGNED;
        rvalN = rN;
        if (lastN !== undefined && Math.abs(rN - lastN) < Math.abs(rN)) {
          rmode = R_DELTA;
          rvalN = rN - lastN;
        }
      } else {
        rvalN = NaN;
        rmode = r >= I63 ? R_UNSIGNED : R_SIGNED;
        rvalB = r >= I63 ? r - U64 : r;
        const last = sc !== undefined ? scope.resB[pathI] : undefined;
        if (last !== undefined && abs(r - last) < abs(rvalB)) {
          rmode = R_DELTA;
          rvalB = r - last;
        }
      }
    }
    let opI = -1;
    let extra = 0;
    let cpu = 0;
    let dir = 0;
    let attrs = 0;
    if (sc !== undefined) {
      cpu = f!.cpu as number;
      if (sc.dir) dir = f!.dir as number;
      if (sc.attrs) attrs = f!.attrs as number;
      opI = this.str(op);
      if (plan!.extra === 1) extra = f!.extra as number;
      else if (plan!.extra === 2) extra = this.str(f!.extra as string);
    }
    // Find the shape among this scope's: by hash, checked word by word; on a hash shared with
    // another shape, by a scan of the scope's shapes. None: a new shape, numbered in order.
    // (A scope is one device's, or the CPU side's with device index -1: a shape belongs to one
    // scope, so the scope's list is every shape of it this batch has written.)
    let shapeId = -1;
    const ss = scope.shapes;
    const hash = this.hashShape(opI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI);
    const at = scope.shapeAt.get(hash);
    if (at !== undefined) {
      if (sameShape(ss, at, opI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI)) shapeId = ss[at + 9]!;
      else {
        for (let j = 0; j < ss.length; j += SHAPE_WORDS) {
          if (sameShape(ss, j, opI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI)) {
            shapeId = ss[j + 9]!;
            break;
          }
        }
      }
    }
    if (shapeId < 0) {
      const devI = sc !== undefined && sc.dev ? this.str(scopeKey) : -1;
      shapeId = this.shapeCount++;
      this.writeShape(sc, generic, opI, devI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI);
      // (On a shared hash the later shape is the one looked up first.)
      scope.shapeAt.set(hash, ss.length);
      ss.push(opI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI, shapeId);
    }
    const w = this.rec;
    w.uint(shapeId);
    if (sc === undefined) this.ext.push(event);
    else {
      const p = plan!;
      let refSize: number | undefined;
      const fl = f!;
      if (p.big0 !== B_NONE) refSize = this.big(w, scope, p.big0, fl.big0 as bigint);
      if (p.big1 !== B_NONE) refSize = this.big(w, scope, p.big1, fl.big1 as bigint) ?? refSize;
      if (p.num === 1) {
        const v = fl.num as number;
        w.sint(v - (refSize ?? this.lastSize[shapeId] ?? 0));
        this.lastSize[shapeId] = v;
      } else if (p.num === 2) {
        const v = fl.num as number;
        w.sint(v - scope.byNs);
        scope.byNs = v;
      }
      if (sc.fill) w.uint(fl.fill === undefined ? 0 : (fl.fill as number) + 1);
      if (p.complex === C_DATA) this.ext.push(fl.complex ?? null);
      else if (p.complex === C_SEGMENTS) scope.segs.write(w, fl.complex as Segment[]);
      else if (p.complex === C_SG) {
        const sg = fl.complex as SgList;
        scope.segs.write(w, sg.segments);
        writeDma(w, sg.dma, sg.segments);
      }
    }
    if (rmode >= R_DELTA) {
      if (rvalN === rvalN) w.sint(rvalN); // |rvalN| < 2^52 here: the bytes sbig(BigInt(rvalN)) writes
      else w.sbig(rvalB);
    }
    if (sc !== undefined && !d.error && rN !== 0) {
      scope.resB[pathI] = r;
      scope.resN[pathI] = rN;
      if (sc.mapLike) scope.hist.set(rN, { addr: r, ord: ++scope.ord, size: f!.num as number });
    }
    this.tags.u32(chainDetail(this.chain, d));
    this.count++;
  }

  /**
   * Writes one address field against the scope's predictor and makes it the predictor; returns the
   * size remembered with it when it is an `addr` that refers back to a mapping result.
   */
  private big(w: ByteWriter, scope: EncScope, code: number, v: bigint): number | undefined {
    const vN = Number(v);
    let refSize: number | undefined;
    switch (code) {
      case B_PHYS:
        w.sdeltaN(v, vN, scope.phys, scope.physN);
        scope.phys = v;
        scope.physN = vN;
        break;
      case B_ADDR: {
        const h = scope.hist.get(vN);
        // Equal keys below 2^53 mean equal addresses (a stored address at or above 2^53 converts to at least 2^53).
        if (h !== undefined && (Math.abs(vN) < 2 ** 53 || h.addr === v)) {
          w.uint(scope.ord - h.ord + 1);
          refSize = h.size;
        } else {
          w.uint(0);
          w.sdeltaN(v, vN, scope.addr, scope.addrN);
        }
        scope.addr = v;
        scope.addrN = vN;
        break;
      }
      default:
        w.sdeltaN(v, vN, scope.cpuAddr, scope.cpuAddrN);
        scope.cpuAddr = v;
        scope.cpuAddrN = vN;
    }
    return refSize;
  }

  private writeShape(sc: OpSchema | undefined, generic: boolean, opI: number, devI: number, cpu: number, dir: number, attrs: number,
    extra: number, pathI: number, flags: number, rmode: number, thrownI: number): void {
    const w = this.shapes;
    w.uint(generic ? 1 : 0);
    if (!generic && sc) {
      w.uint(opI);
      if (sc.dev) w.uint(devI);
      w.uint(cpu);
      if (sc.dir) w.uint(dir);
      if (sc.attrs) w.uint(attrs);
      if (sc.extra) w.uint(extra);
    }
    w.uint(pathI);
    w.uint(flags);
    w.uint(rmode);
    if (thrownI >= 0) w.uint(thrownI);
  }

  /** A state hash taken after the most recently added event (offset -1: the previous batch's last). */
  addState(hash: string): void {
    this.states.push([this.count - 1, hash]);
  }

  get hasStates(): boolean {
    return this.states.length > 0;
  }

  /** The batch's msgpack payload; the encoder is reset for the next batch. */
  finish(): Uint8Array {
    const payload: BatchPayload = {
      strs: this.strs,
      shapes: this.shapes.bytes(),
      rec: this.rec.bytes(),
      tags: this.tags.bytes(),
      ext: this.ext,
      st: this.states,
      chain: this.chain.hex(),
    };
    const out = packr.pack(payload);
    this.reset();
    return out;
  }

  reset(): void {
    this.rec.reset();
    this.shapes.reset();
    this.tags.reset();
    this.strs = [];
    this.strIdx.clear();
    this.shapeCount = 0;
    this.lastSize = [];
    this.scopes.clear();
    this.ext = [];
    this.states = [];
    this.chain = new Lanes();
    this.count = 0;
  }
}

export { decodeBatch } from './decode.ts';
