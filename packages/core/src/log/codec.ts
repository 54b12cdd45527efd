// Batch codec: turns a run of (event, outcome digest) records into one msgpack payload and back.
// Hot fields are packed as varints against per-batch predictors (docs/log-format.md, "Records"),
// so a map/unmap pair costs a few bytes beyond its 4-byte outcome tag. Every batch stands alone.

import type { Event, Path } from '../events.ts';
import { Hasher } from '../util/hash.ts';
import { hex8, type OutcomeDigest } from './digest.ts';
import { LogFormatError, packr } from './format.ts';
import { schemaOf, type ComplexField, type OpSchema } from './schema.ts';
import { ByteReader, ByteWriter } from './varint.ts';

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
  /** Hasher over the full detail digests of the batch's events, in order. */
  chain: string;
}

interface BatchPayload {
  strs: string[];
  shapes: Uint8Array;
  rec: Uint8Array;
  tags: Uint8Array;
  ext: unknown[];
  st: [number, string][];
  chain: string;
}

const R_ZERO = 0;
const R_PRIMARY = 1;
const R_DELTA = 2;
const R_SIGNED = 3;
const R_UNSIGNED = 4;
const I63 = 1n << 63n;
const U64 = 1n << 64n;
const NEG_I63 = -I63;
const NUM_LIMIT = 2 ** 51;

/** Predictor state of one device (or of the CPU side, key ""). Reset at every batch. */
interface Scope {
  phys: bigint;
  addr: bigint;
  cpuAddr: bigint;
  byNs: number;
  /** Last successful non-zero result per path. */
  results: Map<string, bigint>;
  /** Count of mapping results remembered so far (map-like ops). */
  ord: number;
}
const newScope = (): Scope => ({ phys: 0n, addr: 0n, cpuAddr: 0n, byNs: 0, results: new Map(), ord: 0 });

/** Encoder-side scope: also the mapping results by address and the scope's shapes, to find fast. */
interface EncScope extends Scope {
  /** Keyed by Number(addr) (bigint keys hash slowly); entries keep the exact address to compare. */
  hist: Map<number, { addr: bigint; ord: number; size: number }>;
  /** Flattened [opI, cpu, dir, attrs, extra, pathI, flags, rmode, thrownI, id] groups. */
  shapes: number[];
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
  if (sc.extra === 'fill' && ev.fill !== undefined && !isNat(ev.fill)) return false;
  if (sc.extra === 'domain' && typeof ev.domain !== 'string') return false;
  for (const f of sc.big) if (!isBig(ev[f])) return false;
  for (const f of sc.num) if (!isNum(ev[f])) return false;
  for (const f of sc.complex) {
    const v = ev[f];
    if (f === 'data' ? v !== undefined && !(v instanceof Uint8Array) : typeof v !== 'object' || v === null) return false;
  }
  return true;
}

function packComplex(f: ComplexField, v: unknown): unknown {
  if (f === 'data') return v ?? null;
  if (f === 'segments') return (v as { phys: unknown; size: unknown }[]).flatMap((s) => [s.phys, s.size]);
  const sg = v as { segments: { phys: unknown; size: unknown }[]; dma: { addr: unknown; len: unknown }[] };
  return [sg.segments.flatMap((s) => [s.phys, s.size]), sg.dma.flatMap((d) => [d.addr, d.len])];
}

function unpackComplex(f: ComplexField, v: unknown): unknown {
  if (f === 'data') return v === null || v === undefined ? undefined : Uint8Array.from(v as Uint8Array);
  const pairs = <A extends string, B extends string>(flat: unknown, a: A, b: B): Record<A | B, unknown>[] => {
    if (!Array.isArray(flat) || flat.length % 2) throw new LogFormatError('malformed list in batch');
    const out: Record<A | B, unknown>[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ [a]: flat[i], [b]: flat[i + 1] } as Record<A | B, unknown>);
    return out;
  };
  if (f === 'segments') return pairs(v, 'phys', 'size');
  if (!Array.isArray(v) || v.length !== 2) throw new LogFormatError('malformed sg list in batch');
  return { segments: pairs(v[0], 'phys', 'size'), dma: pairs(v[1], 'addr', 'len') };
}

/** Generic events come back from msgpack with Buffers where Uint8Arrays went in. */
function fixGeneric(v: unknown): Event {
  const ev = v as Record<string, unknown>;
  if (ev.data instanceof Uint8Array) ev.data = Uint8Array.from(ev.data);
  return ev as unknown as Event;
}

/** Feeds one event's full detail digest into a batch's outcome chain; returns its tag. */
export function chainDetail(chain: Hasher, detail: string): number {
  const hi = hex8(detail, 0);
  chain.u32(hi).u32(hex8(detail, 8));
  return hi;
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
  private chain = new Hasher();
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
    if (!s) this.scopes.set(key, (s = { ...newScope(), hist: new Map(), shapes: [] }));
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
      else if (sc.extra === 'fill') extra = ev.fill === undefined ? 0 : (ev.fill as number) + 1;
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
            w.sbig(v - scope.addr);
          }
        } else w.sbig(v - scope[f]);
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
      for (const f of sc.complex) this.ext.push(packComplex(f, ev[f]));
    }
    if (rmode >= R_DELTA) w.sbig(rval);
    if (!generic && !d.error && r !== 0n) {
      scope.results.set(d.path, r);
      if (sc.mapLike) scope.hist.set(Number(r), { addr: r, ord: ++scope.ord, size: ev.size as number });
    }
    this.tags.u32(chainDetail(this.chain, d.detail));
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
      chain: this.chain.digest(),
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
    this.chain = new Hasher();
    this.count = 0;
  }
}

interface Shape {
  generic: boolean;
  op: string;
  schema: OpSchema | undefined;
  dev: string | undefined;
  cpu: number;
  dir: number;
  attrs: number;
  extra: number;
  path: Path;
  error: boolean;
  thrown: string | undefined;
  rmode: number;
}

function readShapes(buf: Uint8Array, strs: string[]): Shape[] {
  const r = new ByteReader(buf);
  const str = (): string => {
    const s = strs[r.uint()];
    if (s === undefined) throw new LogFormatError('string index out of range in batch');
    return s;
  };
  const out: Shape[] = [];
  while (!r.done) {
    const generic = r.uint() === 1;
    let op = '';
    let schema: OpSchema | undefined;
    let dev: string | undefined;
    let cpu = 0;
    let dir = 0;
    let attrs = 0;
    let extra = 0;
    if (!generic) {
      op = str();
      schema = schemaOf(op);
      if (!schema) throw new LogFormatError(`unknown op "${op}" in batch shape table`);
      if (schema.dev) dev = str();
      cpu = r.uint();
      if (schema.dir) dir = r.uint();
      if (schema.attrs) attrs = r.uint();
      if (schema.extra) extra = r.uint();
    }
    const path = str() as Path;
    const flags = r.uint();
    const rmode = r.uint();
    const thrown = flags & 2 ? str() : undefined;
    out.push({ generic, op, schema, dev, cpu, dir, attrs, extra, path, error: (flags & 1) !== 0, thrown, rmode });
  }
  return out;
}

function checkPayload(o: unknown): BatchPayload {
  const p = o as Partial<BatchPayload> | null;
  if (
    !p || !Array.isArray(p.strs) || !(p.shapes instanceof Uint8Array) || !(p.rec instanceof Uint8Array) ||
    !(p.tags instanceof Uint8Array) || !Array.isArray(p.ext) || !Array.isArray(p.st) || typeof p.chain !== 'string'
  ) {
    throw new LogFormatError('batch payload is missing fields');
  }
  return p as BatchPayload;
}

/** Decodes one batch payload; throws LogFormatError when it is not a well-formed batch. */
export function decodeBatch(payload: Uint8Array, firstSeq: number, count: number): DecodedBatch {
  let p: BatchPayload;
  try {
    p = checkPayload(packr.unpack(payload));
  } catch (e) {
    if (e instanceof LogFormatError) throw e;
    throw new LogFormatError(`batch payload is not valid msgpack: ${(e as Error).message}`);
  }
  const shapes = readShapes(p.shapes, p.strs);
  if (p.tags.length !== count * 4) throw new LogFormatError(`batch has ${p.tags.length / 4} outcome tags for ${count} events`);
  const r = new ByteReader(p.rec);
  const tags = new ByteReader(p.tags);
  const scopes = new Map<string, Scope>();
  const hist = new Map<string, Map<number, { addr: bigint; size: number }>>();
  const lastSize: number[] = [];
  let ext = 0;
  const nextExt = (): unknown => {
    if (ext >= p.ext.length) throw new LogFormatError('batch has fewer msgpack values than its records need');
    return p.ext[ext++];
  };
  const records: LogRecord[] = new Array<LogRecord>(count);
  for (let i = 0; i < count; i++) {
    const shapeId = r.uint();
    const sh = shapes[shapeId];
    if (!sh) throw new LogFormatError(`record ${i} refers to shape ${shapeId} of ${shapes.length}`);
    const key = sh.dev ?? '';
    let scope = scopes.get(key);
    if (!scope) scopes.set(key, (scope = newScope()));
    let event: Event;
    let primary: bigint | undefined;
    if (sh.generic) event = fixGeneric(nextExt());
    else {
      const sc = sh.schema!;
      const ev: Record<string, unknown> = { op: sh.op };
      if (sc.dev) ev.dev = sh.dev;
      ev.cpu = sh.cpu;
      let refSize: number | undefined;
      for (const f of sc.big) {
        let v: bigint;
        if (f === 'addr') {
          const k = r.uint();
          if (k > 0) {
            const h = hist.get(key)?.get(scope.ord - k + 1);
            if (!h) throw new LogFormatError(`record ${i} refers to mapping ${k} back, which is not in the batch`);
            v = h.addr;
            refSize = h.size;
          } else v = scope.addr + r.sbig();
        } else v = scope[f] + r.sbig();
        scope[f] = v;
        ev[f] = v;
        primary ??= v;
      }
      for (const f of sc.num) {
        if (f === 'size') {
          const v = (refSize ?? lastSize[shapeId] ?? 0) + r.sint();
          lastSize[shapeId] = v;
          ev.size = v;
        } else ev.byNs = scope.byNs += r.sint();
      }
      if (sc.dir) ev.dir = sh.dir;
      if (sc.attrs) ev.attrs = sh.attrs;
      if (sc.extra === 'bits') ev.bits = sh.extra;
      else if (sc.extra === 'fill' && sh.extra > 0) ev.fill = sh.extra - 1;
      else if (sc.extra === 'domain') {
        const d = p.strs[sh.extra];
        if (d === undefined) throw new LogFormatError('string index out of range in batch');
        ev.domain = d;
      }
      for (const f of sc.complex) {
        const v = unpackComplex(f, nextExt());
        if (v !== undefined) ev[f] = v;
      }
      event = ev as unknown as Event;
    }
    let result: bigint;
    switch (sh.rmode) {
      case R_ZERO: result = 0n; break;
      case R_PRIMARY:
        if (primary === undefined) throw new LogFormatError(`record ${i}: result refers to an address the event lacks`);
        result = primary;
        break;
      case R_DELTA: {
        const last = scope.results.get(sh.path);
        if (last === undefined) throw new LogFormatError(`record ${i}: result delta without a base`);
        result = last + r.sbig();
        break;
      }
      case R_SIGNED: result = r.sbig(); break;
      case R_UNSIGNED: result = r.sbig() + U64; break;
      default: throw new LogFormatError(`record ${i}: unknown result mode ${sh.rmode}`);
    }
    if (!sh.generic && !sh.error && result !== 0n) {
      scope.results.set(sh.path, result);
      if (sh.schema!.mapLike) {
        let h = hist.get(key);
        if (!h) hist.set(key, (h = new Map()));
        h.set(++scope.ord, { addr: result, size: (event as { size: number }).size });
      }
    }
    const rec: LogRecord = { seq: firstSeq + i, event, result, error: sh.error, path: sh.path, tag: tags.u32() };
    if (sh.thrown !== undefined) rec.thrown = sh.thrown;
    records[i] = rec;
  }
  if (!r.done) throw new LogFormatError('batch record stream has trailing bytes');
  if (ext !== p.ext.length) throw new LogFormatError('batch has more msgpack values than its records use');
  const states = p.st.map(([off, hash]) => {
    if (typeof off !== 'number' || off < -1 || off >= count || typeof hash !== 'string') throw new LogFormatError('malformed state-hash entry');
    return { seq: firstSeq + off, hash };
  });
  return { records, states, chain: p.chain };
}
