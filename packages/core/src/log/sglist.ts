// Scatterlists in the packed record stream: a segment list is a back-reference to an identical list
// the same device used earlier in the batch (unmap-sg / sync-sg repeat map-sg's list), or its
// entries as differences from the previous entry's end; the mapped (DMA) list likewise.

import type { Segment, SgList } from '../events.ts';
import type { ByteReader, ByteWriter } from './varint.ts';
import { exactNum } from '../util/exact.ts';

const I63 = 1n << 63n;
const U64 = 1n << 64n;
const LIMIT = 2 ** 51;
/** Segment lists remembered per device for back-references. */
const RECENT = 16;

const isBig = (v: unknown): v is bigint => typeof v === 'bigint' && v >= -I63 && v < U64;
const isLen = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && Math.abs(v) < LIMIT && !Object.is(v, -0);

export function packableSegments(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) {
    const s = v[i] as Segment | null;
    if (s === null || typeof s !== 'object' || !isBig(s.phys) || !isLen(s.size)) return false;
  }
  return true;
}

export function packableSg(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  const sg = v as SgList;
  if (!packableSegments(sg.segments) || !Array.isArray(sg.dma)) return false;
  for (let i = 0; i < sg.dma.length; i++) {
    const d = sg.dma[i]!;
    if (d === null || typeof d !== 'object' || !isBig(d.addr) || !isLen(d.len)) return false;
  }
  return true;
}

/**
 * Encoder side: the device's recent segment lists, newest last, as copies (a list is written once
 * and then referred back to while it is among the last RECENT; two lists are the same when their
 * entries are, in order).
 */
export class SegEncoder {
  private recentPhys: bigint[][] = [];
  private recentSize: number[][] = [];

  /** Index of the newest remembered list equal to segs, or -1. */
  private find(segs: readonly Segment[]): number {
    const n = segs.length;
    for (let i = this.recentPhys.length - 1; i >= 0; i--) {
      const ps = this.recentPhys[i]!;
      if (ps.length !== n) continue;
      const ss = this.recentSize[i]!;
      let j = 0;
      while (j < n && ps[j] === segs[j]!.phys && ss[j] === segs[j]!.size) j++;
      if (j === n) return i;
    }
    return -1;
  }

  write(w: ByteWriter, segs: readonly Segment[]): void {
    const i = this.find(segs);
    if (i >= 0) {
      w.uint(this.recentPhys.length - i);
      return;
    }
    w.uint(0);
    const n = segs.length;
    w.uint(n);
    const ps: bigint[] = new Array<bigint>(n);
    const ss: number[] = new Array<number>(n);
    let prev = 0n;
    let prevN = 0;
    let size = 0;
    for (let j = 0; j < n; j++) {
      const s = segs[j]!;
      const phys = s.phys;
      const physN = Number(phys);
      w.sdeltaN(phys, physN, prev, prevN, size);
      w.sint(s.size - size);
      prev = phys;
      prevN = physN;
      size = s.size;
      ps[j] = phys;
      ss[j] = size;
    }
    this.recentPhys.push(ps);
    this.recentSize.push(ss);
    if (this.recentPhys.length > RECENT) {
      this.recentPhys.shift();
      this.recentSize.shift();
    }
  }
}

export class SegDecoder {
  private recent: Segment[][] = [];

  read(r: ByteReader): Segment[] {
    const k = r.uint();
    if (k > 0) {
      const l = this.recent[this.recent.length - k];
      if (!l) throw new RangeError(`segment list ${k} back is not in the batch`);
      return l.map((s) => ({ phys: s.phys, size: s.size }));
    }
    const n = r.uint();
    const out: Segment[] = [];
    // Each address from the previous segment's end: prev + prevSize (exact as a number in prevN, or -1).
    let prev = 0n;
    let prevN = 0;
    let prevSize = 0;
    let size = 0;
    for (let i = 0; i < n; i++) {
      const phys = r.addDelta(prev, prevN, prevSize);
      size += r.sint();
      out.push({ phys, size });
      prev = phys;
      prevN = r.lastN;
      prevSize = size;
    }
    this.recent.push(out.map((s) => ({ phys: s.phys, size: s.size })));
    if (this.recent.length > RECENT) this.recent.shift();
    return out;
  }
}

/** The mapped list: each address from the previous entry's end (the first from the first segment). */
export function writeDma(w: ByteWriter, dma: SgList['dma'], segs: readonly Segment[]): void {
  w.uint(dma.length);
  // The first entry's predictor is the first segment (phys + 0), then each entry's end.
  let prev = segs[0]?.phys ?? 0n;
  let prevN = Number(prev);
  let len = segs[0]?.size ?? 0;
  let prevLen = 0;
  for (let j = 0; j < dma.length; j++) {
    const d = dma[j]!;
    const addr = d.addr;
    const addrN = Number(addr);
    w.sdeltaN(addr, addrN, prev, prevN, prevLen);
    w.sint(d.len - len);
    prev = addr;
    prevN = addrN;
    prevLen = d.len;
    len = d.len;
  }
}

export function readDma(r: ByteReader, segs: readonly Segment[]): SgList['dma'] {
  const n = r.uint();
  const out: SgList['dma'] = [];
  // The first address from the first segment's phys, then each from the previous entry's end.
  let prev = segs[0]?.phys ?? 0n;
  let prevN = exactNum(prev);
  let prevLen = 0;
  let len = segs[0]?.size ?? 0;
  for (let i = 0; i < n; i++) {
    const addr = r.addDelta(prev, prevN, prevLen);
    len += r.sint();
    out.push({ addr, len });
    prev = addr;
    prevN = r.lastN;
    prevLen = len;
  }
  return out;
}
