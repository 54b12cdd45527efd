// Coordinator side of the wire format: turns a device's binary record into a concrete core
// `Event` (device-local handles resolved to the DMA addresses the model returned), and keeps each
// device's handle table up to date from the outcomes.

import type { Event, Outcome, SgList } from '@dmasim/core';
import {
  F_CHECKED, F_HAS_FILL, F_REPLY, F_SIZE_FROM_REF, F_SKIP_IF_MISSING, NO_HANDLE, OPS, OP_END, OP_FAIL, RECORD_BYTES,
  REF_DMA, REF_LITERAL, REF_MASK, REF_PHYS, REF_SG, REF_SG_ENTRY, decodeUtf8, recOffset, type Batch,
} from './protocol.ts';

/** A record the coordinator cannot accept: the device's program ends with this message. */
export class MalformedRecord extends Error {}

const H_UNBOUND = 0;
const H_OK = 1;
/** The bound call failed; refs still resolve (to the error value) until the driver checks. */
const H_FAILED = 2;
/** The bound call failed and the driver checked: later uses are dropped, as the driver would. */
const H_DEAD = 3;

const M64 = (1n << 64n) - 1n;

export type Decoded =
  /** `op` and `cpu` are ev.op and ev.cpu, held apart for Machine.applyAs (no load from events of every shape). */
  | { kind: 'event'; ev: Event; op: Event['op']; cpu: number; bind: number; reply: boolean; checked: boolean }
  | { kind: 'skip'; reply: boolean }
  | { kind: 'end'; info: string }
  | { kind: 'fail'; message: string };

/** One device's view at the coordinator: its name and its handle table. */
export class DeviceHandles {
  private state = new Uint8Array(256);
  private readonly addr: bigint[] = [];
  private readonly phys: (bigint | undefined)[] = [];
  private readonly sg: (SgList | undefined)[] = [];
  private readonly coherent: boolean[] = [];

  constructor(readonly dev: string) {}

  private check(h: number, what: string): number {
    const s = h < this.state.length ? this.state[h]! : H_UNBOUND;
    if (s === H_UNBOUND) throw new MalformedRecord(`${what} refers to buffer handle ${h}, which no earlier call bound`);
    return s;
  }

  /** Decodes record `i` of `b`. */
  decode(b: Batch, i: number, devName = this.dev): Decoded {
    const o = recOffset(i);
    const u8 = b.u8;
    const code = u8[o]!;
    if (code === OP_END || code === OP_FAIL) {
      const ext = b.u32[(o + 28) >>> 2]!;
      const text = ext ? decodeUtf8(extBytes(b, ext)) : '';
      return code === OP_END ? { kind: 'end', info: text } : { kind: 'fail', message: text };
    }
    const op = OPS[code - 1];
    if (op === undefined) throw new MalformedRecord(`record ${i}: unknown opcode ${code}`);
    const flags = u8[o + 1]!;
    const byte2 = u8[o + 2]!;
    const cpu = u8[o + 3]!;
    const ref = b.u32[(o + 4) >>> 2]!;
    const bind = b.u32[(o + 8) >>> 2]!;
    let size = b.u32[(o + 12) >>> 2]!;
    const val = b.u64[(o + 16) >>> 3]!;
    const attrs = b.u16[(o + 24) >>> 1]!;
    const index = b.u16[(o + 26) >>> 1]!;
    const ext = b.u32[(o + 28) >>> 2]!;
    const reply = (flags & F_REPLY) !== 0;
    const refKind = flags & REF_MASK;
    const dev = devName;

    let addr = val;
    let sgl: SgList | undefined;
    let h = -1;
    if (refKind !== REF_LITERAL) {
      if (refKind > REF_SG) throw new MalformedRecord(`${op}: bad reference kind ${refKind}`);
      h = ref;
      const st = this.check(ref, op);
      if (st === H_DEAD) return { kind: 'skip', reply };
      if (refKind === REF_DMA) addr = (this.addr[ref]! + val) & M64;
      else if (refKind === REF_PHYS) addr = ((this.phys[ref] ?? 0n) + val) & M64;
      else {
        const list = this.sg[ref];
        if (!list) throw new MalformedRecord(`${op}: buffer handle ${ref} holds no scatterlist`);
        if (refKind === REF_SG_ENTRY) {
          const ent = list.dma[index];
          if (!ent) {
            if (flags & F_SKIP_IF_MISSING) return { kind: 'skip', reply };
            throw new MalformedRecord(`${op}: scatterlist ${ref} has ${list.dma.length} mapped entries, no entry ${index}`);
          }
          addr = (ent.addr + val) & M64;
          if (flags & F_SIZE_FROM_REF) size = ent.len;
        } else {
          if (index > list.segments.length) throw new MalformedRecord(`${op}: nents ${index} is more than the ${list.segments.length} entries mapped`);
          // The driver passes a different nents than it mapped: the list as it would see it.
          sgl = index === 0 ? list : { segments: list.segments.slice(0, index), dma: list.dma };
        }
      }
    } else if (refKind === REF_LITERAL && (op === 'unmap-sg' || op === 'sync-sg-for-cpu' || op === 'sync-sg-for-device')) {
      throw new MalformedRecord(`${op}: needs a scatterlist handle`);
    }

    const dir = byte2;
    let ev: Event;
    switch (op) {
      case 'map-single': case 'map-page': case 'map-phys': case 'map-resource':
        ev = { op, dev, cpu, phys: addr, size, dir, attrs }; break;
      case 'unmap-single': case 'unmap-page': case 'unmap-phys': case 'unmap-resource':
        ev = { op, dev, cpu, addr, size, dir, attrs }; break;
      case 'map-sg':
        ev = { op, dev, cpu, segments: readSegments(b, ext, op), dir, attrs }; break;
      case 'unmap-sg':
        ev = { op, dev, cpu, sg: sgl!, dir, attrs }; break;
      case 'sync-for-cpu': case 'sync-for-device':
        ev = { op, dev, cpu, addr, size, dir }; break;
      case 'sync-sg-for-cpu': case 'sync-sg-for-device':
        ev = { op, dev, cpu, sg: sgl!, dir }; break;
      case 'alloc-coherent':
        ev = { op, dev, cpu, size, attrs }; break;
      case 'free-coherent': {
        let cpuAddr: bigint | undefined;
        if (refKind === REF_DMA) cpuAddr = this.phys[h] === undefined ? 0n : (this.phys[h]! + val) & M64;
        else if (refKind === REF_LITERAL) cpuAddr = this.coherentPhysOf(addr);
        if (cpuAddr === undefined) throw new MalformedRecord(`free-coherent of 0x${addr.toString(16)}: no alloc-coherent of this device returned it`);
        ev = { op, dev, cpu, addr, size, attrs, cpuAddr }; break;
      }
      case 'mapping-error':
        ev = { op, dev, cpu, addr }; break;
      case 'set-mask':
        ev = { op, dev, cpu, bits: size }; break;
      case 'max-mapping-size': case 'unbind':
        ev = { op, dev, cpu }; break;
      case 'dev-read':
        ev = { op, dev, cpu, addr, size }; break;
      case 'dev-write':
        ev = ext ? { op, dev, cpu, addr, size, data: extBytes(b, ext).slice() }
          : flags & F_HAS_FILL ? { op, dev, cpu, addr, size, fill: byte2 } : { op, dev, cpu, addr, size };
        break;
      case 'cpu-read':
        ev = { op, cpu, phys: addr, size }; break;
      case 'cpu-write':
        ev = ext ? { op, cpu, phys: addr, size, data: extBytes(b, ext).slice() }
          : flags & F_HAS_FILL ? { op, cpu, phys: addr, size, fill: byte2 } : { op, cpu, phys: addr, size };
        break;
      case 'advance-time':
        if (val > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedRecord(`advance-time by ${val} ns is too long`);
        ev = { op, cpu, byNs: Number(val) }; break;
      case 'flush-iotlb':
        if (!ext) throw new MalformedRecord('flush-iotlb without a domain name');
        ev = { op, cpu, domain: decodeUtf8(extBytes(b, ext)) }; break;
    }
    if (bind !== NO_HANDLE && bind >= (1 << 24)) throw new MalformedRecord(`${op}: bind handle ${bind} out of range`);
    return { kind: 'event', ev, op, cpu, bind, reply, checked: (flags & F_CHECKED) !== 0 };
  }

  /** Records what a bind call returned under its handle. */
  bind(h: number, ev: Event, out: Outcome, checked: boolean): void {
    if (h >= this.state.length) {
      const n = new Uint8Array(Math.max(h + 1, this.state.length * 2));
      n.set(this.state);
      this.state = n;
    }
    const failed = out.error;
    this.state[h] = failed ? (checked && (ev.op === 'map-sg' || ev.op === 'alloc-coherent') ? H_DEAD : H_FAILED) : H_OK;
    this.addr[h] = out.result;
    this.phys[h] = ev.op === 'alloc-coherent' ? out.phys : 'phys' in ev ? ev.phys : undefined;
    this.sg[h] = out.sg;
    this.coherent[h] = ev.op === 'alloc-coherent';
  }

  /** dma_mapping_error() said the handle's address is an error: the driver drops the buffer. */
  markChecked(ev: Event, out: Outcome, ref: number): void {
    if (ev.op === 'mapping-error' && out.result !== 0n && ref < this.state.length && this.state[ref] !== H_UNBOUND) this.state[ref] = H_DEAD;
  }

  private coherentPhysOf(addr: bigint): bigint | undefined {
    for (let h = this.addr.length - 1; h >= 0; h--) {
      if (this.coherent[h] && this.state[h] === H_OK && this.addr[h] === addr) return this.phys[h];
    }
    return undefined;
  }
}

/** The handle a record references (for mapping-error bookkeeping), or NO_HANDLE. */
export function refHandle(b: Batch, i: number): number {
  const o = recOffset(i);
  return (b.u8[o + 1]! & REF_MASK) === REF_LITERAL ? NO_HANDLE : b.u32[(o + 4) >>> 2]!;
}

function extBytes(b: Batch, at: number): Uint8Array {
  if (at + 4 > b.used || at % 4 !== 0) throw new MalformedRecord(`payload offset ${at} outside the batch`);
  const len = b.dv.getUint32(at, true);
  if (at + 4 + len > b.used) throw new MalformedRecord(`payload of ${len} bytes at ${at} overruns the batch`);
  return b.u8.subarray(at + 4, at + 4 + len);
}

function readSegments(b: Batch, at: number, op: string): { phys: bigint; size: number }[] {
  if (!at) throw new MalformedRecord(`${op} without segments`);
  const bytes = extBytes(b, at);
  const n = b.dv.getUint32(at + 4, true);
  if (4 + n * 12 > bytes.length) throw new MalformedRecord(`${op}: ${n} segments do not fit their ${bytes.length}-byte payload`);
  const segs: { phys: bigint; size: number }[] = new Array(n);
  let p = at + 8;
  for (let i = 0; i < n; i++, p += 12) segs[i] = { phys: b.dv.getBigUint64(p, true), size: b.dv.getUint32(p + 8, true) };
  return segs;
}

export { RECORD_BYTES };
