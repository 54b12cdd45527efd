// The event-log container (docs/log-format.md): a 12-byte preamble (magic, format version), then
// frames — header, batches, end — each with a 28-byte frame header carrying its own CRC32C and
// the CRC32C of its msgpack payload.

import { Packr } from 'msgpackr';
import type { MachineConfig, Profile } from '../config.ts';
import { crc32c } from './crc32c.ts';

/** "\x89DMALOG\n": the high byte catches 7-bit transfers, the newline catches CRLF conversion. */
export const LOG_MAGIC = Uint8Array.from([0x89, 0x44, 0x4d, 0x41, 0x4c, 0x4f, 0x47, 0x0a]);
/**
 * The version new logs are written with. 2: read data is folded into the outcome digest a 32-bit
 * word per step and state hashes fold cached per-chunk memory digests. 3: the trace records the
 * model keeps as fields are folded by their fields, not their text. 4: read data is folded in four
 * lanes, a word per multiply, and state hashes are definition 3 (util/hash.ts: the Hasher in word
 * mode) (docs/log-format.md, "Version history"). Older logs are still read and replayed with their
 * version's definitions.
 */
export const LOG_FORMAT_VERSION = 4;
/** Every version this code reads (and replays with that version's digest and state-hash definitions). */
export const LOG_FORMAT_VERSIONS_READ: readonly number[] = [1, 2, 3, 4];
export const PREAMBLE_BYTES = 12;
export const FRAME_HEADER_BYTES = 28;
/** Refuse frames larger than this even when their header checks out (a writer never makes one). */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

export const FRAME = { header: 1, batch: 2, end: 3 } as const;
export type FrameKind = (typeof FRAME)[keyof typeof FRAME];

export interface LogHeader {
  format: number;
  /** Version of the dmasim that wrote the log. */
  dmasim: string;
  profile: Profile;
  seed: bigint;
  /** The full machine configuration; replay builds its fresh Machine from exactly this. */
  config: MachineConfig;
  scenario?: { name: string; file?: string; source?: string };
  /** How the events were ordered: script, free (worker arrival order) or a seeded scheduler. */
  schedule?: { mode: string; seed?: bigint; workers?: number; [key: string]: unknown };
  /** Wall-clock creation info. Never feeds the model. */
  created: { at: string; host?: string; pid?: number; argv?: string[]; cwd?: string };
  /** Events per batch frame (the writer's flush threshold). */
  batchEvents: number;
  /** A state hash is recorded after every N-th event (and at the end). */
  stateHashEvery: number;
}

export interface EndRecord {
  events: number;
  /** Machine.stateHash() after the last event. */
  state: string;
}

export class LogFormatError extends Error {
  readonly code: string = 'LOG_FORMAT';
}

export class LogVersionError extends LogFormatError {
  override readonly code = 'LOG_VERSION';
}

/** msgpack with bigints as int64/uint64 (wider ones as ext type 0x42), decoded back to bigint; no record extension. */
export const packr = new Packr({ useRecords: false, int64AsType: 'bigint', useBigIntExtension: true, mapsAsObjects: true });

export function preamble(): Uint8Array {
  const b = new Uint8Array(PREAMBLE_BYTES);
  b.set(LOG_MAGIC, 0);
  b[8] = LOG_FORMAT_VERSION & 0xff;
  b[9] = LOG_FORMAT_VERSION >>> 8;
  return b;
}

/** Checks the preamble: magic, a version this code reads, reserved bytes zero. Returns the version. */
export function checkPreamble(b: Uint8Array, what: string): number {
  if (b.length < PREAMBLE_BYTES || LOG_MAGIC.some((m, i) => b[i] !== m)) {
    throw new LogFormatError(`${what}: not a dmasim event log (bad magic)`);
  }
  const version = b[8]! | (b[9]! << 8);
  if (!LOG_FORMAT_VERSIONS_READ.includes(version)) {
    throw new LogVersionError(
      `${what}: log format version ${version} is not supported (this dmasim reads versions ${LOG_FORMAT_VERSIONS_READ.slice(0, -1).join(', ')} and ${LOG_FORMAT_VERSIONS_READ.at(-1)}); use the dmasim version that wrote it`,
    );
  }
  if (b[10] !== 0 || b[11] !== 0) throw new LogFormatError(`${what}: log preamble is damaged (reserved bytes are not zero)`);
  return version;
}

export interface FrameHeader {
  length: number;
  kind: number;
  firstSeq: number;
  count: number;
  payloadCrc: number;
}

export function encodeFrame(kind: FrameKind, payload: Uint8Array, firstSeq = 0, count = 0): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, payload.length, true);
  v.setUint8(4, kind);
  v.setUint32(8, firstSeq % 2 ** 32, true);
  v.setUint32(12, Math.floor(firstSeq / 2 ** 32), true);
  v.setUint32(16, count, true);
  v.setUint32(20, crc32c(payload), true);
  v.setUint32(24, crc32c(out, 0, 0, 24), true);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Decodes a frame header; null when its own checksum fails. */
export function decodeFrameHeader(b: Uint8Array): FrameHeader | null {
  const v = new DataView(b.buffer, b.byteOffset, FRAME_HEADER_BYTES);
  if (v.getUint32(24, true) !== crc32c(b, 0, 0, 24)) return null;
  return {
    length: v.getUint32(0, true),
    kind: v.getUint8(4),
    firstSeq: v.getUint32(8, true) + v.getUint32(12, true) * 2 ** 32,
    count: v.getUint32(16, true),
    payloadCrc: v.getUint32(20, true),
  };
}

/** Drops undefined-valued keys so optional fields are absent, not undefined, after a round trip. */
export function stripUndefined<T>(v: T): T {
  if (Array.isArray(v)) return v.map(stripUndefined) as T;
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = stripUndefined(x);
    return o as T;
  }
  return v;
}
