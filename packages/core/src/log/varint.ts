// LEB128 varints (7 bits a byte, low group first) with zigzag for signed values: the packed
// record stream of a log batch. Numbers up to 2^53; bigints up to 70 bits (64-bit values and
// the differences between two of them).

import { exactNum } from '../util/exact.ts';

const TWO53 = 2n ** 53n;
/** Doubles below this in magnitude are exact integers, their differences are exact and zigzag below 2^53. */
export const EXACT = 2 ** 52;

/** Growable byte buffer for varints and fixed u32s. */
export class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(initial = 1 << 14) {
    this.buf = new Uint8Array(initial);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Unsigned integer in [0, 2^53). */
  uint(v: number): void {
    this.room(8);
    const b = this.buf;
    let p = this.pos;
    if (v < 0x80000000) {
      while (v >= 0x80) {
        b[p++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
    } else {
      while (v >= 0x80) {
        b[p++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
    }
    b[p++] = v;
    this.pos = p;
  }

  /** Signed safe integer with |v| < 2^52 (zigzag). */
  sint(v: number): void {
    this.uint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  /** Unsigned bigint below 2^70 (10 bytes). */
  ubig(v: bigint): void {
    if (v < TWO53) {
      this.uint(Number(v));
      return;
    }
    this.room(10);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  /** Signed bigint with |v| < 2^69 (zigzag): 64-bit values and differences of them. */
  sbig(v: bigint): void {
    this.ubig(v >= 0n ? v << 1n : ((-v) << 1n) - 1n);
  }

  /**
   * sbig(v - (prev + prevLen)) — an address against the previous one's end (prevLen 0: against
   * prev itself) — given also v and prev as doubles (Number(v), Number(prev)). Below 2^52 in
   * magnitude a double is the exact integer and the difference is exact, and sint(d) writes the
   * bytes sbig(BigInt(d)) does for |d| < 2^52; so it is computed in doubles there (no allocation)
   * and in bigints beyond.
   */
  sdeltaN(v: bigint, vN: number, prev: bigint, prevN: number, prevLen = 0): void {
    const baseN = prevN + prevLen;
    if (vN < EXACT && vN > -EXACT && prevN < EXACT && prevN > -EXACT && baseN < EXACT && baseN > -EXACT) {
      const d = vN - baseN;
      if (d < EXACT && d > -EXACT) {
        this.sint(d);
        return;
      }
    }
    this.sbig(v - (prevLen === 0 ? prev : prev + BigInt(prevLen)));
  }

  u32(v: number): void {
    this.room(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    b[p + 2] = v >>> 16;
    b[p + 3] = v >>> 24;
    this.pos = p + 4;
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  reset(): void {
    this.pos = 0;
  }
}

export class VarintError extends Error {}

/** Reads what ByteWriter wrote; throws VarintError past the end or on an over-long varint. */
export class ByteReader {
  pos: number;
  constructor(readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  uint(): number {
    const b = this.buf;
    let p = this.pos;
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (p >= this.end) throw new VarintError('varint runs past the end of the record stream');
      const x = b[p++]!;
      v += (x & 0x7f) * mul;
      if (x < 0x80) {
        this.pos = p;
        return v;
      }
      mul *= 128;
    }
    throw new VarintError('varint longer than 8 bytes where a number was expected');
  }

  sint(): number {
    const z = this.uint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /**
   * A varint of at most 7 bytes (below 2^49: exact as a number), read and returned; -1, with
   * nothing read, when the next varint is longer or runs past the end (the caller's bigint path
   * then reads it, or reports it).
   */
  private short(): number {
    const b = this.buf;
    let p = this.pos;
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 7 && p < this.end; i++) {
      const x = b[p++]!;
      v += (x & 0x7f) * mul;
      if (x < 0x80) {
        this.pos = p;
        return v;
      }
      mul *= 128;
    }
    return -1;
  }

  ubig(): bigint {
    // Fast path: up to 7 bytes (49 bits) accumulate exactly in a number.
    const s = this.short();
    if (s >= 0) return BigInt(s);
    const b = this.buf;
    let p = this.pos;
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (p >= this.end) throw new VarintError('varint runs past the end of the record stream');
      v += (b[p++]! & 0x7f) * mul;
      mul *= 128;
    }
    let big = BigInt(v);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      if (p >= this.end) throw new VarintError('varint runs past the end of the record stream');
      const x = b[p++]!;
      big |= BigInt(x & 0x7f) << shift;
      if (x < 0x80) {
        this.pos = p;
        return big;
      }
      shift += 7n;
    }
    throw new VarintError('varint longer than 10 bytes');
  }

  sbig(): bigint {
    const z = this.ubig();
    return z & 1n ? -((z + 1n) >> 1n) : z >> 1n;
  }

  /** What the last addDelta() returned, as a number; -1 when it is not exact as one (util/exact.ts exactNum). */
  lastN = -1;

  /**
   * base + plus + sbig(): an address read as a delta from a predictor (plus: a length added to it,
   * e.g. the end of the previous segment), given base also as a number (baseN: exactNum(base), -1
   * when it is not exact). When baseN is exact, the varint is at most 7 bytes (|delta| < 2^48) and
   * the sum is exact, the sum is taken in numbers and only the result becomes a BigInt: one
   * allocation, where sbig() and the additions take five or more BigInt steps (BENCHMARKS.md,
   * ninth round). Otherwise in bigints, with the same value. Sets lastN.
   */
  addDelta(base: bigint, baseN: number, plus = 0): bigint {
    const from = baseN + plus;
    if (baseN >= 0 && from <= Number.MAX_SAFE_INTEGER) {
      const start = this.pos;
      const z = this.short();
      if (z >= 0) {
        const v = from + (z % 2 === 0 ? z / 2 : -(z + 1) / 2);
        if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
          this.lastN = v;
          return BigInt(v);
        }
        this.pos = start; // read again as a bigint below
      }
    }
    const v = (plus === 0 ? base : base + BigInt(plus)) + this.sbig();
    this.lastN = exactNum(v);
    return v;
  }

  u32(): number {
    if (this.pos + 4 > this.end) throw new VarintError('u32 runs past the end of the record stream');
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }
}
