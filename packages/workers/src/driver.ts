// The device side of the bus: a device program issues DMA API calls shaped as core `Event`s,
// naming its own buffers by device-local handles, and never waits for a round trip except in
// `call()`. Records are pipelined in batches; at most `window` batches are in flight.

import type { MessagePort } from 'node:worker_threads';
import type { MapOp, Segment, UnmapOp } from '@dmasim/core';
import {
  Batch, EXT_BYTES, F_CHECKED, F_HAS_FILL, F_REPLY, F_SIZE_FROM_REF, F_SKIP_IF_MISSING, MAX_HANDLE, NO_HANDLE, OPCODE,
  OP_END, OP_FAIL, RECORDS_PER_BATCH, REF_DMA, REF_PHYS, REF_SG, REF_SG_ENTRY, align8, encodeUtf8, recOffset,
  type CoordinatorMessage, type Reply,
} from './protocol.ts';

/** A reference to something the coordinator knows about a bound handle. */
export interface HandleRef {
  readonly h: number;
  readonly kind: typeof REF_DMA | typeof REF_PHYS | typeof REF_SG_ENTRY;
  readonly index: number;
  readonly offset: bigint;
}
export interface SgRef { readonly h: number; readonly kind: typeof REF_SG; readonly nents: number }
export type Addr = bigint | HandleRef;

/** The DMA address that the call bound to handle `h` returned, plus `offset`. */
export function dma(h: number, offset = 0n): HandleRef {
  return { h, kind: REF_DMA, index: 0, offset };
}
/** The CPU physical address of coherent allocation `h` (outcome.phys), plus `offset`. */
export function physOf(h: number, offset = 0n): HandleRef {
  return { h, kind: REF_PHYS, index: 0, offset };
}
/** sg_dma_address() of entry `i` of the list mapped into handle `h`. */
export function sgEntry(h: number, i: number, offset = 0n): HandleRef {
  return { h, kind: REF_SG_ENTRY, index: i, offset };
}
/** The scatterlist mapped into `h`; `nents` > 0 passes only that many entries (a driver bug). */
export function sgList(h: number, nents = 0): SgRef {
  return { h, kind: REF_SG, nents };
}

/** A core `Event` as a device issues it: no `dev` (the port says who), addresses may be refs. */
export type DeviceRequest =
  | { op: MapOp; cpu: number; phys: Addr; size: number; dir: number; attrs: number }
  | { op: UnmapOp; cpu: number; addr: Addr; size: number; dir: number; attrs: number }
  | { op: 'map-sg'; cpu: number; segments: Segment[]; dir: number; attrs: number }
  | { op: 'unmap-sg'; cpu: number; sg: SgRef; dir: number; attrs: number }
  | { op: 'sync-for-cpu' | 'sync-for-device'; cpu: number; addr: Addr; size: number; dir: number }
  | { op: 'sync-sg-for-cpu' | 'sync-sg-for-device'; cpu: number; sg: SgRef; dir: number }
  | { op: 'alloc-coherent'; cpu: number; size: number; attrs: number }
  | { op: 'free-coherent'; cpu: number; addr: Addr; size: number; attrs: number }
  | { op: 'mapping-error'; cpu: number; addr: Addr }
  | { op: 'set-mask'; cpu: number; bits: number }
  | { op: 'max-mapping-size'; cpu: number }
  | { op: 'unbind'; cpu: number }
  | { op: 'dev-read'; cpu: number; addr: Addr; size: number }
  | { op: 'dev-write'; cpu: number; addr: Addr; size: number; data?: Uint8Array; fill?: number }
  | { op: 'cpu-read'; cpu: number; phys: Addr; size: number }
  | { op: 'cpu-write'; cpu: number; phys: Addr; size: number; data?: Uint8Array; fill?: number }
  | { op: 'advance-time'; cpu: number; byNs: number }
  | { op: 'flush-iotlb'; cpu: number; domain: string };

export interface IssueOptions {
  /** Bind this call's result (DMA address, coherent phys, mapped sg) to a device-local handle. */
  bind?: number;
  /** The driver tests the bound result before use (map-sg count, alloc NULL): failures drop later uses. */
  checked?: boolean;
  /** Device access sized by the referenced sg entry's DMA length. */
  sizeFromEntry?: boolean;
  /** Drop the access when the referenced sg entry does not exist. */
  skipIfMissing?: boolean;
}

/**
 * What a workload issues its calls through: the device's `DeviceDriver`, or one queue's view of it
 * in a multi-queue program (which takes turns with the device's other queues).
 */
export interface DmaIssuer {
  issue(req: DeviceRequest, o?: IssueOptions): Promise<void> | undefined;
  call(req: DeviceRequest, o?: IssueOptions): Promise<Reply>;
}

/** Thrown inside a program when the coordinator stopped it. */
export class StopSignal extends Error {
  override readonly name = 'StopSignal';
}

/** The device's end of the bus: a MessagePort, or a synchronous local channel (top-level scripts). */
export interface Channel {
  post(ab: ArrayBuffer): void;
  onMessage(cb: (m: CoordinatorMessage) => void): void;
  close(): void;
}

export function portChannel(port: MessagePort): Channel {
  return {
    post: (ab) => port.postMessage(ab, [ab]),
    onMessage: (cb) => port.on('message', cb),
    close: () => port.close(),
  };
}

export class DeviceDriver implements DmaIssuer {
  private cur: Batch;
  private readonly free: Batch[] = [];
  private allocated = 1;
  private batchNo = 0;
  private inFlight = 0;
  private stopped: string | null = null;
  private waitBuf: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private waitIdle: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private readonly calls = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  /** Records issued so far (for the program's op budget). */
  issued = 0;

  readonly ch: Channel;

  constructor(port: MessagePort | Channel, readonly window: number) {
    this.ch = 'post' in port ? port : portChannel(port);
    this.cur = Batch.alloc();
    this.ch.onMessage((m) => this.onMessage(m));
  }

  get isStopped(): boolean {
    return this.stopped !== null;
  }

  /** Issues one call. Returns a promise only when the program must wait for window space. */
  issue(req: DeviceRequest, o?: IssueOptions): Promise<void> | undefined {
    if (this.stopped !== null) throw new StopSignal(this.stopped);
    const wait = this.makeRoom(extNeed(req));
    if (wait) return wait.then(() => this.issue(req, o));
    this.write(req, o, 0);
    this.issued++;
    return this.cur.full ? this.flush() : undefined;
  }

  /** Issues one call and waits for its result (flushes the pipeline: use sparingly). */
  async call(req: DeviceRequest, o?: IssueOptions): Promise<Reply> {
    if (this.stopped !== null) throw new StopSignal(this.stopped);
    await this.makeRoom(extNeed(req));
    this.write(req, o, F_REPLY);
    this.issued++;
    const key = this.cur.batchNo;
    const p = new Promise<Reply>((resolve, reject) => this.calls.set(key, { resolve, reject }));
    await this.flush();
    return p;
  }

  /** Ends the program: an END record, then waits until the coordinator consumed everything. */
  async end(info = ''): Promise<void> {
    await this.control(OP_END, info);
  }

  /** Reports a program failure in-band (so it lands at a fixed point of the device's stream). */
  async fail(message: string): Promise<void> {
    await this.control(OP_FAIL, message);
  }

  close(): void {
    this.ch.close();
  }

  private async control(op: number, message: string): Promise<void> {
    if (this.stopped !== null) return;
    const bytes = encodeUtf8(message.slice(0, 4000));
    await this.makeRoom(bytes.length ? align8(4 + bytes.length) : 0);
    if (this.cur.full) await this.flush();
    const ext = bytes.length ? this.extBytes(bytes) : 0;
    const b = this.cur;
    const i = b.count;
    const o = recOffset(i);
    b.u8.fill(0, o, o + 32);
    b.u8[o] = op;
    b.u32[(o + 4) >>> 2] = NO_HANDLE;
    b.u32[(o + 8) >>> 2] = NO_HANDLE;
    b.u32[(o + 28) >>> 2] = ext;
    b.u32[1] = i + 1;
    await this.flush();
    await this.idle();
  }

  /** Flushes first when a payload of `need` bytes does not fit beside the records already batched. */
  private makeRoom(need: number): Promise<void> | undefined {
    if (need === 0 || this.cur.extFree() >= need || this.cur.count === 0) return undefined;
    return this.flush();
  }

  private write(req: DeviceRequest, o: IssueOptions | undefined, extraFlags: number): void {
    const code = OPCODE.get(req.op);
    if (code === undefined) throw new Error(`unknown DMA API op "${(req as { op: string }).op}"`);
    // No closures here: tsx keeps function names, which makes every closure creation costly.
    const A = scratch;
    A.flags = extraFlags;
    A.ref = NO_HANDLE;
    A.index = 0;
    A.val = 0n;
    let size = 0;
    let dir = 0;
    let attrs = 0;
    let ext = 0;
    switch (req.op) {
      case 'map-single': case 'map-page': case 'map-phys': case 'map-resource':
        encAddr(req.phys); size = req.size; dir = req.dir; attrs = req.attrs; break;
      case 'unmap-single': case 'unmap-page': case 'unmap-phys': case 'unmap-resource':
        encAddr(req.addr); size = req.size; dir = req.dir; attrs = req.attrs; break;
      case 'map-sg':
        ext = this.extSegments(req.segments); dir = req.dir; attrs = req.attrs; break;
      case 'unmap-sg': case 'sync-sg-for-cpu': case 'sync-sg-for-device':
        checkHandle(req.sg.h);
        A.flags |= REF_SG; A.ref = req.sg.h; A.index = req.sg.nents; dir = req.dir;
        if (req.op === 'unmap-sg') attrs = req.attrs;
        break;
      case 'sync-for-cpu': case 'sync-for-device':
        encAddr(req.addr); size = req.size; dir = req.dir; break;
      case 'alloc-coherent':
        size = req.size; attrs = req.attrs; break;
      case 'free-coherent':
        encAddr(req.addr); size = req.size; attrs = req.attrs; break;
      case 'mapping-error':
        encAddr(req.addr); break;
      case 'set-mask':
        size = req.bits; break;
      case 'max-mapping-size': case 'unbind':
        break;
      case 'dev-read':
        encAddr(req.addr); size = req.size; break;
      case 'dev-write': case 'cpu-write':
        encAddr(req.op === 'dev-write' ? req.addr : req.phys); size = req.size;
        if (req.data !== undefined) ext = this.extBytes(req.data);
        else if (req.fill !== undefined) {
          A.flags |= F_HAS_FILL;
          dir = req.fill & 0xff;
        }
        break;
      case 'cpu-read':
        encAddr(req.phys); size = req.size; break;
      case 'advance-time':
        A.val = BigInt(req.byNs); break;
      case 'flush-iotlb':
        ext = this.extBytes(encodeUtf8(req.domain)); break;
    }
    if (!Number.isInteger(size) || size < 0 || size > 0xffffffff) throw new RangeError(`${req.op}: size ${size} does not fit a program record (0 .. 4 GiB-1)`);
    let bind = NO_HANDLE;
    if (o !== undefined) {
      if (o.checked) A.flags |= F_CHECKED;
      if (o.sizeFromEntry) A.flags |= F_SIZE_FROM_REF;
      if (o.skipIfMissing) A.flags |= F_SKIP_IF_MISSING;
      if (o.bind !== undefined) {
        checkHandle(o.bind);
        bind = o.bind;
      }
    }
    const b = this.cur;
    const i = b.count;
    const off = recOffset(i);
    b.u8[off] = code;
    b.u8[off + 1] = A.flags;
    b.u8[off + 2] = dir;
    b.u8[off + 3] = req.cpu;
    b.u32[(off + 4) >>> 2] = A.ref;
    b.u32[(off + 8) >>> 2] = bind;
    b.u32[(off + 12) >>> 2] = size;
    b.u64[(off + 16) >>> 3] = A.val;
    b.u16[(off + 24) >>> 1] = attrs;
    b.u16[(off + 26) >>> 1] = A.index;
    b.u32[(off + 28) >>> 2] = ext;
    b.u32[1] = i + 1;
  }

  private extBytes(data: Uint8Array): number {
    const at = this.reserve(data.length);
    this.cur.u8.set(data, at + 4);
    return at;
  }

  private extSegments(segs: readonly Segment[]): number {
    const at = this.reserve(4 + segs.length * 12);
    const dv = this.cur.dv;
    dv.setUint32(at + 4, segs.length, true);
    let p = at + 8;
    for (const s of segs) {
      dv.setBigUint64(p, BigInt.asUintN(64, s.phys), true);
      dv.setUint32(p + 8, s.size, true);
      p += 12;
    }
    return at;
  }

  /** Reserves `len` payload bytes (after a u32 length prefix) in the current batch; returns the prefix offset. */
  private reserve(len: number): number {
    const need = align8(4 + len);
    if (this.cur.extFree() < need) {
      // Only an empty batch gets here (makeRoom flushed a non-empty one): grow it in place.
      this.cur = Batch.alloc(Math.max(EXT_BYTES, need));
      this.cur.reset(this.batchNo);
    }
    const b = this.cur;
    const at = b.used;
    b.dv.setUint32(at, len, true);
    b.u32[2] = at + need;
    return at;
  }

  /** Sends the current batch (if non-empty) and takes a free buffer, waiting for one if needed. */
  flush(): Promise<void> | undefined {
    if (this.cur.count === 0) return undefined;
    const b = this.cur;
    this.inFlight++;
    this.ch.post(b.ab);
    this.batchNo++;
    const next = this.free.pop() ?? (this.allocated < this.window ? (this.allocated++, Batch.alloc()) : undefined);
    if (next) {
      next.reset(this.batchNo);
      this.cur = next;
      return undefined;
    }
    return new Promise<void>((resolve, reject) => {
      this.waitBuf = { resolve, reject };
    }).then(() => {
      const nb = this.free.pop()!;
      nb.reset(this.batchNo);
      this.cur = nb;
    });
  }

  private idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waitIdle = { resolve, reject };
    });
  }

  private onMessage(m: CoordinatorMessage): void {
    if (m.t === 'stop') {
      this.stopped = m.reason;
      const e = new StopSignal(m.reason);
      this.waitBuf?.reject(e);
      this.waitIdle?.reject(e);
      for (const c of this.calls.values()) c.reject(e);
      this.waitBuf = this.waitIdle = null;
      this.calls.clear();
      return;
    }
    const b = new Batch(m.buf);
    this.inFlight--;
    if (m.replies) {
      const c = this.calls.get(b.batchNo);
      const r = m.replies[m.replies.length - 1];
      if (c && r) {
        this.calls.delete(b.batchNo);
        c.resolve(r);
      }
    }
    this.free.push(b);
    const w = this.waitBuf;
    if (w) {
      this.waitBuf = null;
      w.resolve();
    }
    if (this.inFlight === 0 && this.waitIdle) {
      const wi = this.waitIdle;
      this.waitIdle = null;
      wi.resolve();
    }
  }
}

/** Record fields an address argument sets (module scratch: no allocation per call). */
const scratch = { flags: 0, ref: NO_HANDLE, index: 0, val: 0n };

function encAddr(a: Addr): void {
  if (typeof a === 'bigint') {
    scratch.val = BigInt.asUintN(64, a);
  } else {
    checkHandle(a.h);
    scratch.flags |= a.kind;
    scratch.ref = a.h;
    scratch.index = a.index;
    scratch.val = BigInt.asUintN(64, a.offset);
  }
}

/** Ext bytes a request needs (aligned, with its length prefix). */
function extNeed(req: DeviceRequest): number {
  switch (req.op) {
    case 'map-sg': return align8(8 + req.segments.length * 12);
    case 'dev-write': case 'cpu-write': return req.data ? align8(4 + req.data.length) : 0;
    case 'flush-iotlb': return align8(4 + req.domain.length * 3);
    default: return 0;
  }
}

function checkHandle(h: number): void {
  if (!Number.isInteger(h) || h < 0 || h >= MAX_HANDLE) throw new RangeError(`buffer handle ${h} out of range (0 .. ${MAX_HANDLE - 1})`);
}

export { RECORDS_PER_BATCH };
