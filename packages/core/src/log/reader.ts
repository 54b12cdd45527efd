// LogReader: streams a log frame by frame with synchronous chunked reads (memory bounded by one
// batch, whatever the log's length), verifies every checksum and the sequence numbering, and
// stops at the first damage, reporting what it recovered and the byte offset where damage starts.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32c as crcOf } from './crc32c.ts';
import { decodeBatch, type DecodedBatch, type LogRecord, type StateMark } from './codec.ts';
import { BatchCursor } from './decode.ts';
import {
  checkPreamble, decodeFrameHeader, FRAME, FRAME_HEADER_BYTES, LogFormatError, MAX_FRAME_BYTES, packr, PREAMBLE_BYTES,
  type EndRecord, type FrameHeader, type LogHeader,
} from './format.ts';

export interface LogDamage {
  /** torn: the file ends inside a frame; corrupt: a checksum or structure check failed;
   *  unclosed: every frame is intact but the end frame is missing (the writer never closed). */
  kind: 'torn' | 'corrupt' | 'unclosed';
  /** Byte offset of the first frame that could not be used. */
  offset: number;
  message: string;
}

export interface LogStatus {
  /** The end frame was read, matched the events, and nothing follows it. */
  complete: boolean;
  /** Events in intact batches read so far (all of them once iteration finished). */
  events: number;
  batches: number;
  end?: EndRecord;
  damage?: LogDamage;
  fileBytes: number;
}

export interface BatchInfo extends DecodedBatch {
  firstSeq: number;
  count: number;
  /** Byte offset of the batch frame. */
  offset: number;
}

/** A batch as cursors() gives it: decoded a record at a time (its first event and count are the cursor's). */
export interface CursorBatch {
  cursor: BatchCursor;
  /** Byte offset of the batch frame. */
  offset: number;
}

export class LogReader {
  readonly header: LogHeader;
  /** The log format version (preamble; the header's `format` agrees): 1 or 2. */
  readonly version: number;
  readonly status: LogStatus;
  private fd: number;
  private readonly dataStart: number;
  private buf = new Uint8Array(1 << 16);
  private iterating = false;

  private constructor(readonly path: string, fd: number) {
    this.fd = fd;
    const size = fstatSync(fd).size;
    this.status = { complete: false, events: 0, batches: 0, fileBytes: size };
    const pre = this.read(0, Math.min(PREAMBLE_BYTES, size));
    if (size < PREAMBLE_BYTES) {
      const prefixOfMagic = [0x89, 0x44, 0x4d, 0x41, 0x4c, 0x4f, 0x47, 0x0a].slice(0, size).every((m, i) => pre[i] === m);
      throw new LogFormatError(prefixOfMagic ? `${path}: truncated log (${size} bytes, no header): nothing to recover` : `${path}: not a dmasim event log (bad magic)`);
    }
    this.version = checkPreamble(pre, path);
    const fh = this.frameAt(PREAMBLE_BYTES, size);
    if ('damage' in fh) throw new LogFormatError(`${path}: log header damaged at byte ${PREAMBLE_BYTES} (${fh.damage.message}): nothing to recover`);
    if (fh.header.kind !== FRAME.header) throw new LogFormatError(`${path}: first frame is not a header (kind ${fh.header.kind})`);
    this.header = checkHeader(packr.unpack(fh.payload), path);
    if (this.header.format !== this.version) {
      throw new LogFormatError(`${path}: log header is malformed (format ${String(this.header.format)}, the preamble says version ${this.version})`);
    }
    this.dataStart = PREAMBLE_BYTES + FRAME_HEADER_BYTES + fh.header.length;
  }

  /** Opens a log and reads its header. Throws LogFormatError (or LogVersionError) if unusable. */
  static open(path: string): LogReader {
    const fd = openSync(path, 'r');
    try {
      return new LogReader(path, fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /**
   * Every intact batch in order. Batches wholly before `fromSeq` are checksummed but not decoded.
   * Ends at the end frame or at the first damage (then `status.damage` says what and where).
   */
  *batches(fromSeq = 1): Generator<BatchInfo> {
    for (const { batch, firstSeq, count, offset } of this.walk(fromSeq, decodeBatch)) yield { ...batch, firstSeq, count, offset };
  }

  /**
   * batches(), each batch as a cursor that decodes its records one at a time (BatchCursor): what a
   * replay uses, applying each record as it is decoded. The constructor's checks (msgpack, shapes,
   * tags, state marks) are made here; a record or the batch's end that fails to decode throws from
   * the cursor, and the caller then hands the error to batchFailed(), which records the damage as
   * batches() would have, and stops iterating.
   */
  *cursors(fromSeq = 1): Generator<CursorBatch> {
    for (const { batch, offset } of this.walk(fromSeq, (p, f, n) => new BatchCursor(p, f, n))) yield { cursor: batch, offset };
  }

  /**
   * A cursor's batch turned out not to decode (`e`, thrown by its next() or finish()): its events
   * no longer count as read, and status.damage says where, with the message batches() would have
   * given. The caller stops iterating.
   */
  batchFailed(b: CursorBatch, e: unknown): void {
    const st = this.status;
    st.events -= b.cursor.count;
    st.batches--;
    st.damage = { kind: 'corrupt', offset: b.offset, message: (e as Error).message };
  }

  private *walk<T>(fromSeq: number, open: (payload: Uint8Array, firstSeq: number, count: number) => T): Generator<{ batch: T; firstSeq: number; count: number; offset: number }> {
    if (this.iterating) throw new Error('LogReader: one iteration at a time');
    this.iterating = true;
    const st = this.status;
    st.events = 0;
    st.batches = 0;
    st.complete = false;
    delete st.damage;
    delete st.end;
    try {
      const size = st.fileBytes;
      let pos = this.dataStart;
      let nextSeq = 1;
      for (;;) {
        if (pos === size) {
          st.damage = { kind: 'unclosed', offset: pos, message: `the log ends after ${st.events} events without an end frame (the writer was not closed)` };
          return;
        }
        const f = this.frameAt(pos, size);
        if ('damage' in f) {
          st.damage = f.damage;
          return;
        }
        const h = f.header;
        const frameEnd = pos + FRAME_HEADER_BYTES + h.length;
        if (h.kind === FRAME.batch) {
          if (h.firstSeq !== nextSeq) {
            st.damage = { kind: 'corrupt', offset: pos, message: `batch starts at event ${h.firstSeq}, expected ${nextSeq}` };
            return;
          }
          if (h.firstSeq + h.count - 1 >= fromSeq) {
            let b: T;
            try {
              b = open(f.payload, h.firstSeq, h.count);
            } catch (e) {
              st.damage = { kind: 'corrupt', offset: pos, message: (e as Error).message };
              return;
            }
            st.events += h.count;
            st.batches++;
            nextSeq += h.count;
            pos = frameEnd;
            yield { batch: b, firstSeq: h.firstSeq, count: h.count, offset: pos - FRAME_HEADER_BYTES - h.length };
            if (st.damage) return; // batchFailed() was called
            continue;
          }
          st.events += h.count;
          st.batches++;
          nextSeq += h.count;
        } else if (h.kind === FRAME.end) {
          let end: EndRecord;
          try {
            end = checkEnd(packr.unpack(f.payload));
          } catch (e) {
            st.damage = { kind: 'corrupt', offset: pos, message: (e as Error).message };
            return;
          }
          if (end.events !== st.events) {
            st.damage = { kind: 'corrupt', offset: pos, message: `end frame counts ${end.events} events, the batches hold ${st.events}` };
            return;
          }
          st.end = end;
          if (frameEnd !== size) {
            st.damage = { kind: 'corrupt', offset: frameEnd, message: `${size - frameEnd} bytes follow the end frame` };
            return;
          }
          st.complete = true;
          return;
        } else {
          st.damage = { kind: 'corrupt', offset: pos, message: `unexpected frame kind ${h.kind}` };
          return;
        }
        pos = frameEnd;
      }
    } finally {
      this.iterating = false;
    }
  }

  /** Every record and state mark of the intact prefix, in log order. */
  *items(fromSeq = 1): Generator<{ record: LogRecord } | { state: StateMark } | { batchEnd: BatchInfo }> {
    for (const b of this.batches(fromSeq)) {
      let s = 0;
      while (s < b.states.length && b.states[s]!.seq < b.firstSeq) yield { state: b.states[s++]! };
      for (const record of b.records) {
        yield { record };
        while (s < b.states.length && b.states[s]!.seq === record.seq) yield { state: b.states[s++]! };
      }
      yield { batchEnd: b };
    }
  }

  *records(fromSeq = 1): Generator<LogRecord> {
    for (const b of this.batches(fromSeq)) for (const r of b.records) if (r.seq >= fromSeq) yield r;
  }

  /** Reads the frame at `pos`: its header, payload and checksums. */
  private frameAt(pos: number, size: number): { header: FrameHeader; payload: Uint8Array } | { damage: LogDamage } {
    const left = size - pos;
    if (left < FRAME_HEADER_BYTES) {
      return { damage: { kind: 'torn', offset: pos, message: `only ${left} of a frame header's ${FRAME_HEADER_BYTES} bytes are present` } };
    }
    const hb = this.read(pos, FRAME_HEADER_BYTES);
    const h = decodeFrameHeader(hb);
    if (!h) {
      if (this.allZero(pos, size)) return { damage: { kind: 'torn', offset: pos, message: `${left} zero bytes where a frame should be` } };
      return { damage: { kind: 'corrupt', offset: pos, message: 'frame header checksum mismatch' } };
    }
    if (h.length > MAX_FRAME_BYTES) return { damage: { kind: 'corrupt', offset: pos, message: `frame length ${h.length} exceeds the limit` } };
    if (left - FRAME_HEADER_BYTES < h.length) {
      return { damage: { kind: 'torn', offset: pos, message: `only ${left - FRAME_HEADER_BYTES} of the frame's ${h.length} payload bytes are present` } };
    }
    const payload = this.read(pos + FRAME_HEADER_BYTES, h.length);
    if (crcOf(payload) !== h.payloadCrc) return { damage: { kind: 'corrupt', offset: pos, message: 'batch checksum (CRC32C) mismatch' } };
    return { header: h, payload };
  }

  /** Reads into the reused buffer: valid until the next read. */
  private read(pos: number, n: number): Uint8Array {
    if (this.buf.length < n) this.buf = new Uint8Array(Math.max(n, this.buf.length * 2));
    let got = 0;
    while (got < n) {
      const k = readSync(this.fd, this.buf, got, n - got, pos + got);
      if (k === 0) throw new LogFormatError(`${this.path}: file shrank while reading`);
      got += k;
    }
    return this.buf.subarray(0, n);
  }

  private allZero(pos: number, size: number): boolean {
    for (let p = pos; p < size; p += 1 << 16) {
      const b = this.read(p, Math.min(1 << 16, size - p));
      for (const x of b) if (x !== 0) return false;
    }
    return true;
  }
}

function checkHeader(v: unknown, path: string): LogHeader {
  const h = v as Partial<LogHeader> | null;
  const bad = (what: string): never => {
    throw new LogFormatError(`${path}: log header is malformed (${what})`);
  };
  if (!h || typeof h !== 'object') return bad('not a map');
  if (typeof h.dmasim !== 'string') bad('dmasim version');
  if (!h.config || typeof h.config !== 'object' || !Array.isArray(h.config.devices)) bad('config');
  if (typeof h.seed !== 'bigint') bad('seed');
  if (typeof h.batchEvents !== 'number' || typeof h.stateHashEvery !== 'number') bad('batch settings');
  return h as LogHeader;
}

function checkEnd(v: unknown): EndRecord {
  const e = v as Partial<EndRecord> | null;
  if (!e || typeof e.events !== 'number' || typeof e.state !== 'string') throw new LogFormatError('end frame is malformed');
  return { events: e.events, state: e.state };
}
