// Batch codec, decoding side: one batch payload back into records, state marks and the outcome
// chain, mirroring codec.ts's predictors step for step.

import type { Event, Path } from '../events.ts';
import {
  newScope, R_DELTA, R_PRIMARY, R_SIGNED, R_UNSIGNED, R_ZERO, U64,
  type BatchPayload, type DecodedBatch, type LogRecord, type Scope,
} from './codec.ts';
import { LogFormatError, packr } from './format.ts';
import { schemaOf, type OpSchema } from './schema.ts';
import { readDma, SegDecoder } from './sglist.ts';
import { ByteReader } from './varint.ts';

/** Generic events come back from msgpack with Buffers where Uint8Arrays went in. */
function fixGeneric(v: unknown): Event {
  const ev = v as Record<string, unknown>;
  if (ev.data instanceof Uint8Array) ev.data = Uint8Array.from(ev.data);
  return ev as unknown as Event;
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
  const segDecoders = new Map<string, SegDecoder>();
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
      if (sc.fill) {
        const f = r.uint();
        if (f > 0) ev.fill = f - 1;
      }
      if (sc.dir) ev.dir = sh.dir;
      if (sc.attrs) ev.attrs = sh.attrs;
      if (sc.extra === 'bits') ev.bits = sh.extra;
      else if (sc.extra === 'domain') {
        const d = p.strs[sh.extra];
        if (d === undefined) throw new LogFormatError('string index out of range in batch');
        ev.domain = d;
      }
      for (const f of sc.complex) {
        if (f === 'data') {
          const v = nextExt();
          if (v instanceof Uint8Array) ev.data = Uint8Array.from(v);
          else if (v !== null) throw new LogFormatError(`record ${i}: data is not a byte string`);
        } else {
          let sd = segDecoders.get(key);
          if (!sd) segDecoders.set(key, (sd = new SegDecoder()));
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
