// A streaming, order-defined 64-bit hash (two 32-bit FNV-1a lanes with different offsets and a
// final avalanche). Subsystems feed their state into it in a canonical order, never in JS object
// iteration order, so two machines that applied the same events give the same digest.

import { halves64, LITTLE_ENDIAN } from './exact.ts';

export { LITTLE_ENDIAN };

/**
 * Which definition Machine.stateHash() follows (docs/log-format.md, "State hash"): 1 hashes all
 * touched memory byte by byte at every call; 2 folds a cached per-4-KiB-chunk digest (chunkDigest,
 * a 32-bit word per step) that is recomputed only for chunks written since; 3 is 2 with the Hasher
 * in word mode (a 32-bit word per step, two UTF-16 code units per word: `new Hasher(true)`). Log
 * format versions 1, 2–3 and 4 record state hashes of definitions 1, 2 and 3.
 */
export type StateHashVersion = 1 | 2 | 3;
export const STATE_HASH_VERSION: StateHashVersion = 3;

/** The state hash definition a log of this format version records (log/format.ts). */
export function stateHashVersionOf(logFormat: number): StateHashVersion {
  return logFormat <= 1 ? 1 : logFormat <= 3 ? 2 : 3;
}


/** A chunk's cached digest: two 32-bit lanes, and whether every byte is 0. */
export interface WordDigest {
  a: number;
  b: number;
  zero: boolean;
}

/**
 * State hash version 2's digest of a memory chunk: its length, then its bytes as little-endian 32-bit words (the
 * last, partial word zero-extended; chunks are whole 4 KiB pages, so there is none), each premixed
 * by murmur3's block mix (a bijection moving every input bit into the low bits) and folded into two
 * multiply-xor lanes, one with a xorshift so that high-bit differences reach the low bits too.
 * ~3x the throughput of Hasher.bytes. `out.zero` is set when every word is 0.
 */
export function chunkDigest(d: Uint8Array, out: WordDigest): void {
  const n = d.length;
  let a = Math.imul(0x811c9dc5 ^ n, 0x01000193);
  let b = Math.imul(0x050c5d1f ^ n, 0x5bd1e995);
  let or = 0;
  let p = 0;
  if (LITTLE_ENDIAN && (d.byteOffset & 3) === 0) {
    const whole = n >>> 2;
    const w = new Int32Array(d.buffer, d.byteOffset, whole);
    for (let i = 0; i < whole; i++) {
      const x = w[i]!;
      or |= x;
      const k = premix(x);
      a = Math.imul(a ^ k, 0x01000193);
      b = Math.imul(b ^ k, 0x5bd1e995);
      b ^= b >>> 15;
    }
    p = whole << 2;
  }
  for (; p < n; p += 4) {
    const x = wordAt(d, p);
    or |= x;
    const k = premix(x);
    a = Math.imul(a ^ k, 0x01000193);
    b = Math.imul(b ^ k, 0x5bd1e995);
    b ^= b >>> 15;
  }
  out.a = a >>> 0;
  out.b = b >>> 0;
  out.zero = or === 0;
}

/** murmur3's block mix of a 32-bit word: a bijection that moves every input bit into the low bits. */
export function premix(x: number): number {
  const k = Math.imul(x, 0xcc9e2d51);
  return Math.imul((k << 15) | (k >>> 17), 0x1b873593);
}

/** The little-endian 32-bit word at byte p of d, zero-extended past its end (the word loops' slow path and tail). */
export function wordAt(d: Uint8Array, p: number): number {
  const n = d.length;
  let x = d[p]!;
  if (p + 1 < n) x |= d[p + 1]! << 8;
  if (p + 2 < n) x |= d[p + 2]! << 16;
  if (p + 3 < n) x |= d[p + 3]! << 24;
  return x;
}

export class Hasher {
  private a = 0x811c9dc5 | 0;
  private b = 0x050c5d1f;

  /**
   * `words`: word mode (state hash version 3): u32() is one lane step on the whole word and str()
   * one step per two code units, where byte mode (the default; every other use, and state hash
   * versions 1–2) takes a step per byte: a quarter of the steps for numbers. Each step is the same
   * bijection of the lanes for a given input (b's xorshift carries high bits down, so differences
   * in the top bits of two words do not cancel out), so states that differ in one word still
   * always hash differently. byte() and bytes() are byte steps in both modes.
   */
  constructor(private readonly words = false) {}

  private byte(x: number): void {
    this.feed(x, 8);
  }

  /**
   * One lane step on x (a word, a byte or a code unit pair). The lanes are kept as signed 32-bit
   * values (the same bits as the unsigned ones the definition speaks of; digest() reads them
   * unsigned): an unsigned lane of 2^31 or more is not a small integer, and storing one in the
   * field boxed a number at every step, ~8.5 ns a step here against ~2 (BENCHMARKS.md, twelfth round).
   */
  private step(x: number): void {
    this.a = Math.imul(this.a ^ x, 0x01000193);
    const b = Math.imul(this.b ^ x, 0x01000193);
    this.b = b ^ (b >>> 13);
  }

  /** byte() of each of the low `bits` / 8 bytes of x, low byte first. */
  private feed(x: number, bits: number): void {
    for (let s = 0; s < bits; s += 8) this.step((x >>> s) & 0xff);
  }

  u32(x: number): this {
    if (this.words) this.step(x | 0); // the same bits, as a small integer
    else this.feed(x, 32);
    return this;
  }

  /** Any safe integer or float (floats hashed by their decimal form). */
  num(x: number): this {
    if ((x | 0) === x) {
      // A 32-bit integer (most of what a state mark folds): the same two words as below, whose
      // high one is then 0 or -1, without the checks and the division.
      this.u32(x);
      this.u32(x < 0 ? -1 : 0);
    } else if (Number.isInteger(x) && Math.abs(x) <= Number.MAX_SAFE_INTEGER) {
      this.u32(x | 0);
      this.u32(Math.floor(x / 2 ** 32) | 0);
    } else {
      this.str(String(x));
    }
    return this;
  }

  /** The low then the high 32 bits of x as a u64 (num()'s words for 0..2^53-1, which take no BigInt steps). */
  big(x: bigint): this {
    const w = halves64(x);
    const lo = w[0]!;
    const hi = w[1]!;
    this.u32(lo);
    this.u32(hi);
    return this;
  }

  bool(x: boolean): this {
    this.byte(x ? 1 : 0);
    return this;
  }

  /** The length, then each UTF-16 code unit as two byte() steps, low byte first (word mode: two code units per step, the first in the low half; an odd last one alone). */
  str(s: string): this {
    this.u32(s.length);
    if (this.words) {
      let i = 0;
      for (; i + 1 < s.length; i += 2) this.step(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
      if (i < s.length) this.step(s.charCodeAt(i));
      return this;
    }
    for (let i = 0; i < s.length; i++) this.feed(s.charCodeAt(i), 16);
    return this;
  }

  bytes(d: Uint8Array): this {
    this.u32(d.length);
    // The same steps as byte(), with the lanes in locals: ~3x faster on the large memory chunks
    // the state hash walks, and bit-identical (hash.test.ts checks it against byte()).
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < d.length; i++) {
      const x = d[i]!;
      a = Math.imul(a ^ x, 0x01000193);
      b = Math.imul(b ^ x, 0x01000193);
      b ^= b >>> 13;
    }
    this.a = a;
    this.b = b;
    return this;
  }

  /** 16 lowercase hex digits. */
  digest(): string {
    let a = this.a;
    let b = this.b;
    a ^= b >>> 15;
    a = Math.imul(a, 0x2c1b3c6d) >>> 0;
    b ^= a >>> 12;
    b = Math.imul(b, 0x297a2d39) >>> 0;
    a ^= b >>> 15;
    return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
  }
}

/** Something that can feed its state into a Hasher in a canonical order. */
export interface Hashable {
  hashInto(h: Hasher): void;
}
