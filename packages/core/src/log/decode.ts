// Batch codec, decoding side: one batch payload back into records, state marks and the outcome
// chain, mirroring codec.ts's predictors step for step.

import type { Event, Path } from '../events.ts';
import {
  newScope, R_DELTA, R_PRIMARY, R_SIGNED, R_UNSIGNED, R_ZERO, U64,
  type BatchPayload, type DecodedBatch, type LogRecord, type Scope, type StateMark,
} from './codec.ts';
import { LogFormatError, packr } from './format.ts';
import { schemaOf, type OpSchema } from './schema.ts';
import { readDma, SegDecoder } from './sglist.ts';
import { ByteReader } from './varint.ts';
import { exactNum } from '../util/exact.ts';

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
const newDecScope = (): DecScope => ({ ...newScope(), physN: 0, addrN: 0, cpuAddrN: 0, histAddr: [], histAddrN: [], histSize: [] });

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
      if (sh.generic) event = fixGeneric(this.nextExt());
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
              const at = scope.histAddr.length - k;
              if (at < 0) throw new LogFormatError(`record ${i} refers to mapping ${k} back, which is not in the batch`);
              v = scope.histAddr[at]!;
              refSize = scope.histSize[at]!;
              scope.addrN = scope.histAddrN[at]!;
            } else {
              v = r.addDelta(scope.addr, scope.addrN);
              scope.addrN = r.lastN;
            }
            scope.addr = v;
          } else if (f === 'phys') {
            v = scope.phys = r.addDelta(scope.phys, scope.physN);
            scope.physN = r.lastN;
          } else {
            v = scope.cpuAddr = r.addDelta(scope.cpuAddr, scope.cpuAddrN);
            scope.cpuAddrN = r.lastN;
          }
          ev[f] = v;
          primary ??= v;
        }
        for (const f of sc.num) {
          if (f === 'size') {
            const v = (refSize ?? this.lastSize[shapeId] ?? 0) + r.sint();
            this.lastSize[shapeId] = v;
            ev.size = v;
          } else ev.byNs = scope.byNs += r.sint();
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
            const v = this.nextExt();
            if (v instanceof Uint8Array) ev.data = Uint8Array.from(v);
            else if (v !== null) throw new LogFormatError(`record ${i}: data is not a byte string`);
          } else {
            let sd = this.segDecoders.get(key);
            if (!sd) this.segDecoders.set(key, (sd = new SegDecoder()));
            const segments = sd.read(r);
            ev[f] = f === 'segments' ? segments : { segments, dma: readDma(r, segments) };
          }
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
