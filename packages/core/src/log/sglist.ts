// Scatterlists in the packed record stream: a segment list is a back-reference to an identical list
// the same device used earlier in the batch (unmap-sg / sync-sg repeat map-sg's list), or its
// entries as differences from the previous entry's end; the mapped (DMA) list likewise.

import type { Segment, SgList } from '../events.ts';
import type { ByteReader, ByteWriter } from './varint.ts';

const I63 = 1n << 63n;
const U64 = 1n << 64n;
const LIMIT = 2 ** 51;
/** Segment lists remembered per device for back-references. */
const RECENT = 16;

const isBig = (v: unknown): v is bigint => typeof v === 'bigint' && v >= -I63 && v < U64;
const isLen = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && Math.abs(v) < LIMIT && !Object.is(v, -0);

export function packableSegments(v: unknown): boolean {
  return Array.isArray(v) && v.every((s) => s !== null && typeof s === 'object' && isBig((s as Segment).phys) && isLen((s as Segment).size));
}

export function packableSg(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  const sg = v as SgList;
  return packableSegments(sg.segments) && Array.isArray(sg.dma) && sg.dma.every((d) => d !== null && typeof d === 'object' && isBig(d.addr) && isLen(d.len));
}

function key(segs: readonly Segment[]): string {
  let k = '';
  for (const s of segs) k += `${s.phys}:${s.size},`;
  return k;
}

/** Encoder side: the device's recent segment lists, newest last. */
export class SegEncoder {
  private recent: string[] = [];

  write(w: ByteWriter, segs: readonly Segment[]): void {
    const k = key(segs);
    const i = this.recent.lastIndexOf(k);
    if (i >= 0) {
      w.uint(this.recent.length - i);
      return;
    }
    w.uint(0);
    w.uint(segs.length);
    let end = 0n;
    let size = 0;
    for (const s of segs) {
      w.sdelta(s.phys, end);
      w.sint(s.size - size);
      end = s.phys + BigInt(s.size);
      size = s.size;
    }
    this.recent.push(k);
    if (this.recent.length > RECENT) this.recent.shift();
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
    let end = 0n;
    let size = 0;
    for (let i = 0; i < n; i++) {
      const phys = end + r.sbig();
      size += r.sint();
      out.push({ phys, size });
      end = phys + BigInt(size);
    }
    this.recent.push(out.map((s) => ({ phys: s.phys, size: s.size })));
    if (this.recent.length > RECENT) this.recent.shift();
    return out;
  }
}

/** The mapped list: each address from the previous entry's end (the first from the first segment). */
export function writeDma(w: ByteWriter, dma: SgList['dma'], segs: readonly Segment[]): void {
  w.uint(dma.length);
  let end = segs[0]?.phys ?? 0n;
  let len = segs[0]?.size ?? 0;
  for (const d of dma) {
    w.sdelta(d.addr, end);
    w.sint(d.len - len);
    end = d.addr + BigInt(d.len);
    len = d.len;
  }
}

export function readDma(r: ByteReader, segs: readonly Segment[]): SgList['dma'] {
  const n = r.uint();
  const out: SgList['dma'] = [];
  let end = segs[0]?.phys ?? 0n;
  let len = segs[0]?.size ?? 0;
  for (let i = 0; i < n; i++) {
    const addr = end + r.sbig();
    len += r.sint();
    out.push({ addr, len });
    end = addr + BigInt(len);
  }
  return out;
}
