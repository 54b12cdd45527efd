// Batch codec, decoding side: one batch payload back into records, state marks and the outcome
// chain, mirroring codec.ts's predictors step for step.

import type { Event, Path } from '../events.ts';
import {
  R_DELTA, R_PRIMARY, R_SIGNED, R_UNSIGNED, R_ZERO, U64,
  type BatchPayload, type DecodedBatch, type LogRecord, type Scope, type StateMark,
} from './codec.ts';
import { LogFormatError, packr } from './format.ts';
import { schemaOf, type BigField, type OpSchema } from './schema.ts';
import { readDma, SegDecoder } from './sglist.ts';
import { ByteReader } from './varint.ts';
import { exactNum } from '../util/exact.ts';
import { internalized } from '../util/intern.ts';

/** Generic events come back from msgpack with Buffers where Uint8Arrays went in. */
function fixGeneric(v: unknown): Event {
  const ev = v as Record<string, unknown>;
  if (ev.data instanceof Uint8Array) ev.data = Uint8Array.from(ev.data);
  return ev as unknown as Event;
}

/**
 * The decoder's scope: also each address predictor as a number (exactNum: -1 when not exact), for
 * ByteReader.addDelta; and the batch's mapping results so far in this scope, in order (Scope.ord,
 * the encoder's count of them, is their length here), which an unmap's address may refer back to. Parallel arrays, not an object per mapping
 * in a Map: they live as long as the batch, through young-generation GCs.
 */
interface DecScope extends Scope {
  physN: number;
  addrN: number;
  cpuAddrN: number;
  histAddr: bigint[];
  histAddrN: number[];
  histSize: number[];
}
// One literal with every key (Scope's, then DecScope's), not a spread of a Scope followed by more
// keys: V8 gives every object made that way a map of its own, so each batch's scopes had new maps
// and every access to them in readBig and next() was a megamorphic lookup (BENCHMARKS.md,
// nineteenth round).
const newDecScope = (): DecScope => ({
  phys: 0n, addr: 0n, cpuAddr: 0n, byNs: 0, results: new Map(), ord: 0, physN: 0, addrN: 0, cpuAddrN: 0, histAddr: [], histAddrN: [], histSize: [],
});

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
  /** How next() builds the event: one of the L_* literal layouts, or L_DYNAMIC. */
  layout: number;
}

/**
 * Event layouts next() builds as one object literal: the hot ops, whose fields are an address, a
 * size and discrete fields from the shape. A literal puts every field in the object itself, where
 * adding them one by one to `{ op }` puts all but the first in a property array that is allocated
 * and then grown (72–78 bytes per event, BENCHMARKS.md, tenth round). Each literal has the keys, in
 * the order, the dynamic build gives them (the schema's order: op, dev, cpu, addresses, numbers,
 * fill, dir, attrs, then a write's data); the other ops are built field by field.
 */
const L_DYNAMIC = 0;
/** map-*: op dev cpu phys size dir attrs */
const L_MAP = 1;
/** unmap-*: op dev cpu addr size dir attrs */
const L_UNMAP = 2;
/** sync-for-*: op dev cpu addr size dir */
const L_SYNC = 3;
/** dev-read, dev-write: op dev cpu addr size [fill] [data] */
const L_DEV_ACCESS = 4;
/** cpu-read, cpu-write: op cpu phys size [fill] [data] */
const L_CPU_ACCESS = 5;

function layoutOf(op: string, sc: OpSchema | undefined): number {
  if (!sc) return L_DYNAMIC;
  switch (op) {
    case 'map-single': case 'map-page': case 'map-phys': case 'map-resource': return L_MAP;
    case 'unmap-single': case 'unmap-page': case 'unmap-phys': case 'unmap-resource': return L_UNMAP;
    case 'sync-for-cpu': case 'sync-for-device': return L_SYNC;
    case 'dev-read': case 'dev-write': return L_DEV_ACCESS;
    case 'cpu-read': case 'cpu-write': return L_CPU_ACCESS;
    default: return L_DYNAMIC;
  }
}

function readShapes(buf: Uint8Array, strs: string[]): Shape[] {
  const r = new ByteReader(buf);
  const str = (): string => {
    const s = strs[r.uint()];
    if (s === undefined) throw new LogFormatError('string index out of range in batch');
    return internalized(s); // compared with literals and looked up in Maps for every record (util/intern.ts)
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
    out.push({ generic, op, schema, dev, cpu, dir, attrs, extra, path, error: (flags & 1) !== 0, thrown, rmode, layout: generic ? L_DYNAMIC : layoutOf(op, schema) });
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

/**
 * One batch payload decoded a record at a time, in order: next() gives each record, finish() the
 * checks that the batch was used up exactly. The header part (msgpack, shape table, tag count and
 * state marks) is checked by the constructor. A replay applies each record as it is decoded, so a
 * record is garbage once applied instead of waiting, with the rest of a decoded batch, through the
 * young-generation GCs of the whole batch (BENCHMARKS.md, seventh round). Throws LogFormatError
 * when the payload is not a well-formed batch.
 */
export class BatchCursor {
  readonly states: StateMark[];
  readonly chain: string;
  /**
   * The op and CPU of the record next() gave last, as its event has them: from the batch's shape
   * table, so a caller that dispatches on them (replay: Machine.applyAs) does not load them from
   * objects of every event shape.
   */
  op: Event['op'] = 'unbind';
  cpu = 0;
  /** Records decoded so far. */
  private decoded = 0;
  private readonly p: BatchPayload;
  private readonly shapes: Shape[];
  private readonly r: ByteReader;
  private readonly tags: ByteReader;
  private readonly scopes = new Map<string, DecScope>();
  private readonly lastSize: number[] = [];
  private readonly segDecoders = new Map<string, SegDecoder>();
  private ext = 0;
  /** readBig()'s referred-back mapping size for the record being decoded, if any. */
  private refSize: number | undefined;

  constructor(payload: Uint8Array, readonly firstSeq: number, readonly count: number) {
    let p: BatchPayload;
    try {
      p = checkPayload(packr.unpack(payload));
    } catch (e) {
      if (e instanceof LogFormatError) throw e;
      throw new LogFormatError(`batch payload is not valid msgpack: ${(e as Error).message}`);
    }
    this.p = p;
    this.shapes = readShapes(p.shapes, p.strs);
    if (p.tags.length !== count * 4) throw new LogFormatError(`batch has ${p.tags.length / 4} outcome tags for ${count} events`);
    this.r = new ByteReader(p.rec);
    this.tags = new ByteReader(p.tags);
    this.states = p.st.map(([off, hash]) => {
      if (typeof off !== 'number' || off < -1 || off >= count || typeof hash !== 'string') throw new LogFormatError('malformed state-hash entry');
      return { seq: firstSeq + off, hash };
    });
    this.chain = p.chain;
  }

  private nextExt(): unknown {
    if (this.ext >= this.p.ext.length) throw new LogFormatError('batch has fewer msgpack values than its records need');
    return this.p.ext[this.ext++];
  }

  /**
   * Reads address field f into the scope's predictor. An unmap's `addr` may refer back to a mapping
   * of the batch: then `refSize` is that mapping's size (the size predictor), else it stays undefined.
   */
  private readBig(f: BigField, scope: DecScope, i: number): bigint {
    const r = this.r;
    if (f === 'addr') {
      const k = r.uint();
      if (k > 0) {
        const at = scope.histAddr.length - k;
        if (at < 0) throw new LogFormatError(`record ${i} refers to mapping ${k} back, which is not in the batch`);
        this.refSize = scope.histSize[at]!;
        scope.addrN = scope.histAddrN[at]!;
        return (scope.addr = scope.histAddr[at]!);
      }
      scope.addr = r.addDelta(scope.addr, scope.addrN);
      scope.addrN = r.lastN;
      return scope.addr;
    }
    if (f === 'phys') {
      scope.phys = r.addDelta(scope.phys, scope.physN);
      scope.physN = r.lastN;
      return scope.phys;
    }
    scope.cpuAddr = r.addDelta(scope.cpuAddr, scope.cpuAddrN);
    scope.cpuAddrN = r.lastN;
    return scope.cpuAddr;
  }

  /** The record's size: a delta from the referred-back mapping's size, else from the shape's last. */
  private readSize(shapeId: number): number {
    const v = (this.refSize ?? this.lastSize[shapeId] ?? 0) + this.r.sint();
    this.lastSize[shapeId] = v;
    return v;
  }

  /** A write's data: the next msgpack value, a byte string (copied) or null (none: undefined). */
  private readData(i: number): Uint8Array | undefined {
    const v = this.nextExt();
    if (v instanceof Uint8Array) return Uint8Array.from(v);
    if (v !== null) throw new LogFormatError(`record ${i}: data is not a byte string`);
    return undefined;
  }

  /** The next record (call it `count` times, then finish()). */
  next(): LogRecord {
    if (this.decoded >= this.count) throw new Error('BatchCursor: every record was decoded');
    const i = this.decoded++;
    const r = this.r;
      const shapeId = r.uint();
      const sh = this.shapes[shapeId];
      if (!sh) throw new LogFormatError(`record ${i} refers to shape ${shapeId} of ${this.shapes.length}`);
      const key = sh.dev ?? '';
      let scope = this.scopes.get(key);
      if (!scope) this.scopes.set(key, (scope = newDecScope()));
      let event: Event;
      let primary: bigint | undefined;
      if (sh.generic) {
        event = fixGeneric(this.nextExt());
        this.op = event.op;
        this.cpu = event.cpu;
      } else {
        this.op = sh.op as Event['op']; // a known op: readShapes checked it against the schema
        this.cpu = sh.cpu;
        const sc = sh.schema!;
        this.refSize = undefined;
        const layout = sh.layout;
        if (layout !== L_DYNAMIC) {
          // One address, a size, for writes a fill byte and maybe data: the stream's order.
          const a = primary = this.readBig(sc.big[0]!, scope, i);
          const size = this.readSize(shapeId);
          let fill = -1;
          if (sc.fill) fill = r.uint() - 1;
          const data = sc.complex.length !== 0 ? this.readData(i) : undefined;
          switch (layout) {
            case L_MAP: event = { op: sh.op, dev: sh.dev, cpu: sh.cpu, phys: a, size, dir: sh.dir, attrs: sh.attrs } as Event; break;
            case L_UNMAP: event = { op: sh.op, dev: sh.dev, cpu: sh.cpu, addr: a, size, dir: sh.dir, attrs: sh.attrs } as Event; break;
            case L_SYNC: event = { op: sh.op, dev: sh.dev, cpu: sh.cpu, addr: a, size, dir: sh.dir } as Event; break;
            case L_DEV_ACCESS:
              event = (fill >= 0 ? { op: sh.op, dev: sh.dev, cpu: sh.cpu, addr: a, size, fill } : { op: sh.op, dev: sh.dev, cpu: sh.cpu, addr: a, size }) as Event;
              break;
            default: // L_CPU_ACCESS
              event = (fill >= 0 ? { op: sh.op, cpu: sh.cpu, phys: a, size, fill } : { op: sh.op, cpu: sh.cpu, phys: a, size }) as Event;
          }
          // A write's data (rare: programs write fills) is the last key, as in the dynamic build.
          if (data !== undefined) (event as { data?: Uint8Array }).data = data;
        } else {
          const ev: Record<string, unknown> = { op: sh.op };
          if (sc.dev) ev.dev = sh.dev;
          ev.cpu = sh.cpu;
          for (const f of sc.big) {
            const v = this.readBig(f, scope, i);
            ev[f] = v;
            primary ??= v;
          }
          for (const f of sc.num) {
            if (f === 'size') ev.size = this.readSize(shapeId);
            else ev.byNs = scope.byNs += r.sint();
          }
          if (sc.fill) {
            const f = r.uint();
            if (f > 0) ev.fill = f - 1;
          }
          if (sc.dir) ev.dir = sh.dir;
          if (sc.attrs) ev.attrs = sh.attrs;
          if (sc.extra === 'bits') ev.bits = sh.extra;
          else if (sc.extra === 'domain') {
            const d = this.p.strs[sh.extra];
            if (d === undefined) throw new LogFormatError('string index out of range in batch');
            ev.domain = d;
          }
          for (const f of sc.complex) {
            if (f === 'data') {
              const v = this.readData(i);
              if (v !== undefined) ev.data = v;
            } else {
              let sd = this.segDecoders.get(key);
              if (!sd) this.segDecoders.set(key, (sd = new SegDecoder()));
              const segments = sd.read(r);
              ev[f] = f === 'segments' ? segments : { segments, dma: readDma(r, segments) };
            }
          }
          event = ev as unknown as Event;
        }
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
          result = r.addDelta(last, exactNum(last));
          break;
        }
        case R_SIGNED: result = r.sbig(); break;
        case R_UNSIGNED: result = r.sbig() + U64; break;
        default: throw new LogFormatError(`record ${i}: unknown result mode ${sh.rmode}`);
      }
      if (!sh.generic && !sh.error && result !== 0n) {
        scope.results.set(sh.path, result);
        if (sh.schema!.mapLike) {
          scope.histAddr.push(result);
          scope.histAddrN.push(exactNum(result));
          scope.histSize.push((event as { size: number }).size);
        }
      }
      const rec: LogRecord = { seq: this.firstSeq + i, event, result, error: sh.error, path: sh.path, tag: this.tags.u32() };
      if (sh.thrown !== undefined) rec.thrown = sh.thrown;
    return rec;
  }

  /** After the last record: the record stream and the msgpack values were used up exactly. */
  finish(): void {
    if (this.decoded !== this.count) throw new Error(`BatchCursor: ${this.decoded} of ${this.count} records decoded`);
    if (!this.r.done) throw new LogFormatError('batch record stream has trailing bytes');
    if (this.ext !== this.p.ext.length) throw new LogFormatError('batch has more msgpack values than its records use');
  }
}

/** Decodes one batch payload whole; throws LogFormatError when it is not a well-formed batch. */
export function decodeBatch(payload: Uint8Array, firstSeq: number, count: number): DecodedBatch {
  const c = new BatchCursor(payload, firstSeq, count);
  const records: LogRecord[] = new Array<LogRecord>(count);
  for (let i = 0; i < count; i++) records[i] = c.next();
  c.finish();
  return { records, states: c.states, chain: c.chain };
}
