// The bus wire format: batches of fixed 32-byte binary records in transferable ArrayBuffers,
// device → coordinator, and the coordinator's answers (buffer returns, replies, stop).
// Chosen from measurements (docs/workers.md): ~10x msgpackr batches, no shared-memory polling.
//
// Batch layout (little-endian, as typed arrays see it on every platform Node runs on):
//   header  u32 magic | u32 count | u32 used (bytes, header + records + ext) | u32 batchNo
//   records count × 32 bytes, from byte 16
//   ext     variable payloads (segments, data bytes, strings), each u32 length + bytes
// Record:
//   0 u8 op | 1 u8 flags | 2 u8 dir (fill byte for writes) | 3 u8 cpu
//   4 u32 ref handle | 8 u32 bind handle | 12 u32 size | 16 u64 val (literal, offset or ns)
//   24 u16 attrs | 26 u16 index | 28 u32 ext offset (0 = none)

import type { EventOp } from '@dmasim/core';

export const BATCH_MAGIC = 0x31414d44; // "DMA1"
export const HEADER_BYTES = 16;
export const RECORD_BYTES = 32;
/** Records per batch: large enough to amortise postMessage, small enough to interleave. */
export const RECORDS_PER_BATCH = 256;
/** Initial ext-area bytes per batch; a buffer grows when a payload does not fit. */
export const EXT_BYTES = 4096;
/** Batches a device may have in flight (sent, not yet returned): the backpressure window. */
export const DEFAULT_WINDOW = 8;
export const NO_HANDLE = 0xffffffff;
/** Device-local handles are dense small integers (they index arrays at the coordinator). */
export const MAX_HANDLE = 1 << 22;

/** Opcodes: the Event ops, in events.ts order, then the two in-band control records. */
export const OPS: readonly EventOp[] = [
  'map-single', 'map-page', 'map-phys', 'map-resource',
  'unmap-single', 'unmap-page', 'unmap-phys', 'unmap-resource',
  'map-sg', 'unmap-sg',
  'sync-for-cpu', 'sync-for-device', 'sync-sg-for-cpu', 'sync-sg-for-device',
  'alloc-coherent', 'free-coherent',
  'mapping-error', 'set-mask', 'max-mapping-size', 'unbind',
  'dev-read', 'dev-write', 'cpu-read', 'cpu-write',
  'advance-time', 'flush-iotlb',
];
export const OPCODE = new Map<EventOp, number>(OPS.map((op, i) => [op, i + 1]));
/** The program finished; no record follows. */
export const OP_END = 250;
/** The program threw; ext holds the message (utf-8). */
export const OP_FAIL = 251;

/** Where the record's address field comes from. */
export const REF_LITERAL = 0;
/** The DMA address the bound call returned (+ val as a wrapping offset). */
export const REF_DMA = 1;
/** The CPU physical address of a coherent allocation (outcome.phys) (+ offset). */
export const REF_PHYS = 2;
/** The DMA address of mapped sg entry `index` (+ offset). */
export const REF_SG_ENTRY = 3;
/** A whole mapped scatterlist (unmap-sg, sync-sg); index > 0 passes only that many entries. */
export const REF_SG = 4;
export const REF_MASK = 0x7;

export const F_HAS_FILL = 1 << 3;
/** Device access whose size is the referenced sg entry's DMA length. */
export const F_SIZE_FROM_REF = 1 << 4;
/** Drop the record when the referenced sg entry does not exist (the list mapped shorter). */
export const F_SKIP_IF_MISSING = 1 << 5;
/** The device awaits this record's result (sent back with the batch's return). */
export const F_REPLY = 1 << 6;
/** The driver tests this bind call's result before using it (map-sg count, alloc NULL). */
export const F_CHECKED = 1 << 7;

export interface Reply {
  /** Record index in the batch. */
  rec: number;
  result: bigint;
  error: boolean;
  /** The record was dropped (its buffer's map failed and the driver checked). */
  skipped: boolean;
}

export type CoordinatorMessage =
  | { t: 'ret'; buf: ArrayBuffer; replies?: Reply[] }
  | { t: 'stop'; reason: string };

/** A batch buffer with its typed views. */
export class Batch {
  ab: ArrayBuffer;
  u8: Uint8Array;
  u16: Uint16Array;
  u32: Uint32Array;
  u64: BigUint64Array;
  dv: DataView;

  constructor(ab: ArrayBuffer) {
    this.ab = ab;
    this.u8 = new Uint8Array(ab);
    this.u16 = new Uint16Array(ab, 0, ab.byteLength >>> 1);
    this.u32 = new Uint32Array(ab, 0, ab.byteLength >>> 2);
    this.u64 = new BigUint64Array(ab, 0, ab.byteLength >>> 3);
    this.dv = new DataView(ab);
  }

  static alloc(extBytes = EXT_BYTES): Batch {
    const b = new Batch(new ArrayBuffer(HEADER_BYTES + RECORDS_PER_BATCH * RECORD_BYTES + align8(extBytes)));
    b.reset(0);
    return b;
  }

  get count(): number {
    return this.u32[1]!;
  }

  get used(): number {
    return this.u32[2]!;
  }

  get batchNo(): number {
    return this.u32[3]!;
  }

  reset(batchNo: number): void {
    this.u32[0] = BATCH_MAGIC;
    this.u32[1] = 0;
    this.u32[2] = HEADER_BYTES + RECORDS_PER_BATCH * RECORD_BYTES;
    this.u32[3] = batchNo;
  }

  get full(): boolean {
    return this.count >= RECORDS_PER_BATCH;
  }

  extFree(): number {
    return this.ab.byteLength - this.used;
  }
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Byte offset of record i. */
export function recOffset(i: number): number {
  return HEADER_BYTES + i * RECORD_BYTES;
}

/** Why a received message is not a valid batch, or null. */
export function checkBatch(msg: unknown): string | null {
  if (!(msg instanceof ArrayBuffer)) return `expected a batch ArrayBuffer, got ${describe(msg)}`;
  const len = msg.byteLength;
  if (len < HEADER_BYTES + RECORDS_PER_BATCH * RECORD_BYTES || len % 8 !== 0) return `batch of ${len} bytes is too short or misaligned`;
  const h = new Uint32Array(msg, 0, 4);
  if (h[0] !== BATCH_MAGIC) return `bad batch magic 0x${h[0]!.toString(16)}`;
  if (h[1]! > RECORDS_PER_BATCH) return `batch claims ${h[1]} records (max ${RECORDS_PER_BATCH})`;
  if (h[2]! > len || h[2]! < HEADER_BYTES + RECORDS_PER_BATCH * RECORD_BYTES) return `batch claims ${h[2]} used bytes of ${len}`;
  return null;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}

const utf8e = new TextEncoder();
const utf8d = new TextDecoder();

export function encodeUtf8(s: string): Uint8Array {
  return utf8e.encode(s);
}

export function decodeUtf8(b: Uint8Array): string {
  return utf8d.decode(b);
}
