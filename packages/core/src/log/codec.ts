// Batch codec, encoding side: turns a run of (event, outcome digest) records into one msgpack
// payload. Hot fields are packed as varints against per-batch predictors (docs/log-format.md,
// "Records"), so a map/unmap pair costs a few bytes beyond its 4-byte outcome tag. Every batch
// stands alone. decode.ts reads it back.

import type { Event, Path, Segment, SgList } from '../events.ts';
import { Lanes, type OutcomeDigest } from './digest.ts';
import { packr } from './format.ts';
import { schemaOf, type OpSchema } from './schema.ts';
import { packableSegments, packableSg, SegEncoder, writeDma } from './sglist.ts';
import { ByteWriter } from './varint.ts';

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
export const newScope = (): Scope => ({ phys: 0n, addr: 0n, cpuAddr: 0n, byNs: 0, results: new Map(), ord: 0 });

/** Encoder-side scope: also the mapping results by address and the scope's shapes, to find fast. */
interface EncScope extends Scope {
  /** Keyed by Number(addr) (bigint keys hash slowly); entries keep the exact address to compare. */
  hist: Map<number, { addr: bigint; ord: number; size: number }>;
  /** Flattened [opI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI, id] groups. */
  shapes: number[];
  segs: SegEncoder;
}
const SHAPE_WORDS = 10;
/** Beyond this many shapes in one scope, look shapes up by string key instead of scanning. */
const SCAN_LIMIT = 24;

const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && Math.abs(v) < NUM_LIMIT && !Object.is(v, -0);
const isBig = (v: unknown): v is bigint => typeof v === 'bigint' && v >= NEG_I63 && v < U64;
const abs = (v: bigint): bigint => (v < 0n ? -v : v);

/** Whether the packed layout can carry this event exactly; otherwise it goes whole into msgpack. */
function packable(ev: Record<string, unknown>, sc: OpSchema): boolean {
  if (sc.dev && typeof ev.dev !== 'string') return false;
  if (!isNat(ev.cpu) || (sc.dir && !isNat(ev.dir)) || (sc.attrs && !isNat(ev.attrs))) return false;
  if (sc.extra === 'bits' && !isNat(ev.bits)) return false;
  if (sc.fill && ev.fill !== undefined && !(isNat(ev.fill) && ev.fill < NUM_LIMIT)) return false;
  if (sc.extra === 'domain' && typeof ev.domain !== 'string') return false;
  for (const f of sc.big) if (!isBig(ev[f])) return false;
  for (const f of sc.num) if (!isNum(ev[f])) return false;
  for (const f of sc.complex) {
    const v = ev[f];
    if (f === 'data' ? v !== undefined && !(v instanceof Uint8Array) : f === 'segments' ? !packableSegments(v) : !packableSg(v)) return false;
  }
  return true;
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
  private shapeIds = new Map<string, number>();
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

  private scope(key: string): EncScope {
    let s = this.scopes.get(key);
    if (!s) this.scopes.set(key, (s = { ...newScope(), hist: new Map(), shapes: [], segs: new SegEncoder() }));
    return s;
  }

  add(event: Event, d: OutcomeDigest): void {
    const ev = event as unknown as Record<string, unknown>;
    const sc = schemaOf(event.op);
    const generic = !sc || !packable(ev, sc);
    const r = d.result;
    if (!isBig(r)) throw new RangeError(`outcome result ${String(r)} is not a 64-bit bigint`);
    const scopeKey = !generic && sc.dev ? (ev.dev as string) : '';
    const scope = this.scope(scopeKey);
    const primary = !generic && sc.big.length > 0 ? (ev[sc.big[0]!] as bigint) : undefined;
    let rmode = r >= I63 ? R_UNSIGNED : R_SIGNED;
    let rval = r >= I63 ? r - U64 : r;
    if (r === 0n) rmode = R_ZERO;
    else if (r === primary) rmode = R_PRIMARY;
    else if (!generic) {
      const last = scope.results.get(d.path);
      if (last !== undefined && abs(r - last) < abs(rval)) {
        rmode = R_DELTA;
        rval = r - last;
      }
    }
    const flags = (d.error ? 1 : 0) | (d.thrown !== undefined ? 2 : 0);
    const pathI = this.str(d.path);
    const thrownI = d.thrown !== undefined ? this.str(d.thrown) : -1;
    let opI = -1;
    let extra = 0;
    const cpu = generic ? 0 : (ev.cpu as number);
    const dir = !generic && sc.dir ? (ev.dir as number) : 0;
    const attrs = !generic && sc.attrs ? (ev.attrs as number) : 0;
    if (!generic) {
      opI = this.str(event.op);
      if (sc.extra === 'bits') extra = ev.bits as number;
      else if (sc.extra === 'domain') extra = this.str(ev.domain as string);
    }
    // Find the shape among this scope's (a device has a handful), else by key, else add it.
    let shapeId = -1;
    const ss = scope.shapes;
    if (ss.length <= SCAN_LIMIT * SHAPE_WORDS) {
      for (let i = 0; i < ss.length; i += SHAPE_WORDS) {
        if (ss[i] === opI && ss[i + 1] === cpu && ss[i + 2] === dir && ss[i + 3] === attrs && ss[i + 4] === extra &&
            ss[i + 5] === pathI && ss[i + 6] === flags && ss[i + 7] === rmode && ss[i + 8] === thrownI) {
          shapeId = ss[i + 9]!;
          break;
        }
      }
    }
    if (shapeId < 0) {
      const devI = !generic && sc.dev ? this.str(scopeKey) : -1;
      const key = `${opI},${devI},${cpu},${dir},${attrs},${extra},${pathI},${flags},${rmode},${thrownI}`;
      shapeId = this.shapeIds.get(key) ?? -1;
      if (shapeId < 0) {
        shapeId = this.shapeIds.size;
        this.shapeIds.set(key, shapeId);
        this.writeShape(sc, generic, opI, devI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI);
      }
      if (ss.length <= SCAN_LIMIT * SHAPE_WORDS) ss.push(opI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI, shapeId);
    }
    const w = this.rec;
    w.uint(shapeId);
    if (generic) this.ext.push(event);
    else {
      let refSize: number | undefined;
      for (const f of sc.big) {
        const v = ev[f] as bigint;
        if (f === 'addr') {
          const h = scope.hist.get(Number(v));
          if (h && h.addr === v) {
            w.uint(scope.ord - h.ord + 1);
            refSize = h.size;
          } else {
            w.uint(0);
            w.sdelta(v, scope.addr);
          }
        } else w.sdelta(v, scope[f]);
        scope[f] = v;
      }
      for (const f of sc.num) {
        const v = ev[f] as number;
        if (f === 'size') {
          w.sint(v - (refSize ?? this.lastSize[shapeId] ?? 0));
          this.lastSize[shapeId] = v;
        } else {
          w.sint(v - scope.byNs);
          scope.byNs = v;
        }
      }
      if (sc.fill) w.uint(ev.fill === undefined ? 0 : (ev.fill as number) + 1);
      for (const f of sc.complex) {
        if (f === 'data') this.ext.push(ev.data ?? null);
        else if (f === 'segments') scope.segs.write(w, ev.segments as Segment[]);
        else {
          const sg = ev.sg as SgList;
          scope.segs.write(w, sg.segments);
          writeDma(w, sg.dma, sg.segments);
        }
      }
    }
    if (rmode >= R_DELTA) w.sbig(rval);
    if (!generic && !d.error && r !== 0n) {
      scope.results.set(d.path, r);
      if (sc.mapLike) scope.hist.set(Number(r), { addr: r, ord: ++scope.ord, size: ev.size as number });
    }
    this.tags.u32(chainDetail(this.chain, d));
    this.count++;
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
    this.shapeIds.clear();
    this.lastSize = [];
    this.scopes.clear();
    this.ext = [];
    this.states = [];
    this.chain = new Lanes();
    this.count = 0;
  }
}

export { decodeBatch } from './decode.ts';
