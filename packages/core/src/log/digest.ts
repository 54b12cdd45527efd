// The outcome digest: what the log keeps of an Outcome so a replay can tell whether the model
// still does the same thing. result/error/path are kept exactly; everything else a call produced
// (trace, dmesg, findings, fault, data, phys, sg, ran, time) is folded into one 64-bit hash.

import type { Outcome, Path } from '../events.ts';
import { Hasher, LITTLE_ENDIAN, premix, wordAt } from '../util/hash.ts';
import { LOG_FORMAT_VERSION } from './format.ts';
import { Trace } from '../dma/trace.ts';
import { halves64, type U64 } from '../util/exact.ts';
import { BlockFold } from '../util/block-fold.ts';

/** One module for every Lanes: the fold runs to completion, never re-entered. */
const SIMD = BlockFold.make();

export interface OutcomeDigest {
  result: bigint;
  error: boolean;
  path: Path;
  /**
   * The detail digest (a 64-bit hash over the rest of the outcome, in a fixed field order) as two
   * unsigned 32-bit halves: `hi` is the per-event tag the log stores, both feed the batch's
   * outcome chain. Kept as numbers: detailHex() gives the 16 hex digits for display.
   */
  hi: number;
  lo: number;
  /** Set when Machine.apply threw instead of returning: the error's `code` (e.g. KERNEL_BUG). */
  thrown?: string | undefined;
}

/** The detail digest as 16 lowercase hex digits (hi then lo). */
export function detailHex(d: { hi: number; lo: number }): string {
  return hex32(d.hi) + hex32(d.lo);
}

/**
 * Two 32-bit multiply-xor lanes (FNV-1a style, different primes) that the outcome's words and
 * UTF-16 code units are folded into, then mixed by a bijective finaliser. Not util/hash.ts's
 * Hasher: it feeds bytes one at a time and formats with toString(16), ~1.5 µs an outcome here
 * against ~0.3 µs, and every applied event (live and in replay) pays it. Each step is a bijection
 * of a lane's state for a given input word, so two outcomes that differ in one word (or one
 * character of equal-length text) always get different digests.
 */
export class Lanes {
  a = 0x811c9dc5;
  b = 0x050c5d1f;
  /** words4's block loop in WebAssembly SIMD (shared by every Lanes), or null for its own JavaScript loop. */
  simd: BlockFold | null = SIMD;

  /** Back to the initial state (what `new Lanes()` starts from). */
  reset(): this {
    this.a = 0x811c9dc5;
    this.b = 0x050c5d1f;
    return this;
  }

  w(x: number): void {
    this.a = Math.imul(this.a ^ x, 0x01000193);
    this.b = Math.imul(this.b ^ x, 0x5bd1e995);
  }

  /** Length, then UTF-16 code units two to a word. (Loops keep the lanes in locals: same values as w(), several times faster.) */
  s(str: string): void {
    const n = str.length;
    let a = Math.imul(this.a ^ n, 0x01000193);
    let b = Math.imul(this.b ^ n, 0x5bd1e995);
    let i = 0;
    for (; i + 1 < n; i += 2) {
      const x = str.charCodeAt(i) | (str.charCodeAt(i + 1) << 16);
      a = Math.imul(a ^ x, 0x01000193);
      b = Math.imul(b ^ x, 0x5bd1e995);
    }
    if (i < n) {
      const x = str.charCodeAt(i);
      a = Math.imul(a ^ x, 0x01000193);
      b = Math.imul(b ^ x, 0x5bd1e995);
    }
    this.a = a;
    this.b = b;
  }

  /** Each byte as a word (what `for (x of d) w(x)` gives). */
  bytes(d: Uint8Array): void {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < d.length; i++) {
      const x = d[i]!;
      a = Math.imul(a ^ x, 0x01000193);
      b = Math.imul(b ^ x, 0x5bd1e995);
    }
    this.a = a;
    this.b = b;
  }

  /**
   * Format 2's fold of a byte string: the length, then the bytes as little-endian 32-bit words (the
   * last, partial word zero-extended), each premixed by murmur3's block mix (a bijection that moves
   * every input bit into the low bits, so differences in the words' top bits cannot cancel out in
   * the lanes' multiply steps) and then folded like w(). A quarter of bytes()'s steps.
   */
  words(d: Uint8Array): void {
    const n = d.length;
    let a = Math.imul(this.a ^ n, 0x01000193);
    let b = Math.imul(this.b ^ n, 0x5bd1e995);
    let p = 0;
    if (LITTLE_ENDIAN && (d.byteOffset & 3) === 0) {
      const whole = n >>> 2;
      const w = new Int32Array(d.buffer, d.byteOffset, whole);
      for (let i = 0; i < whole; i++) {
        const k = premix(w[i]!);
        a = Math.imul(a ^ k, 0x01000193);
        b = Math.imul(b ^ k, 0x5bd1e995);
      }
      p = whole << 2;
    }
    for (; p < n; p += 4) {
      const k = premix(wordAt(d, p));
      a = Math.imul(a ^ k, 0x01000193);
      b = Math.imul(b ^ k, 0x5bd1e995);
    }
    this.a = a;
    this.b = b;
  }

  /**
   * Format 4's fold of a byte string: the length; then the whole 16-byte blocks as little-endian
   * 32-bit words, word i into lane i mod 4 of four further multiply-xor lanes (each step rotates its
   * lane left by 13 bits, xors the word in and multiplies by an odd constant: a bijection of the
   * lane for a given word, and of the word for a given lane, and the rotation carries high-bit
   * differences down, where format 3 premixed every word); the four lanes folded into a and b like
   * w(); then the remaining words (the last, partial one zero-extended) as words() folds them.
   * Format 3's words() is a chain of dependent multiplies, two per word after two of premix, and
   * runs at that chain's speed (~1.45 ns a word here); four independent lanes and one multiply per
   * word take about half the time (BENCHMARKS.md, ninth round). As with words(), two byte strings
   * of equal length that differ in one word always fold differently.
   */
  words4(d: Uint8Array): void {
    const n = d.length;
    let a = Math.imul(this.a ^ n, 0x01000193);
    let b = Math.imul(this.b ^ n, 0x5bd1e995);
    const blockWords = (n >>> 4) << 2;
    if (blockWords > 0) {
      let l0 = a;
      let l1 = b;
      let l2 = a ^ 0x6a09e667;
      let l3 = b ^ 0x3c6ef372;
      const simd = this.simd;
      if (simd !== null && simd.run(d, blockWords >>> 2, l0, l1, l2, l3)) {
        // The same loop in WebAssembly SIMD (util/block-fold.ts): the same lanes out.
        const out = simd.lanes;
        l0 = out[0]!;
        l1 = out[1]!;
        l2 = out[2]!;
        l3 = out[3]!;
      } else {
        const w = LITTLE_ENDIAN && (d.byteOffset & 3) === 0 ? new Int32Array(d.buffer, d.byteOffset, blockWords) : wordsCopy(d, blockWords);
        for (let i = 0; i < blockWords; i += 4) {
          l0 = Math.imul(((l0 << 13) | (l0 >>> 19)) ^ w[i]!, 0x01000193);
          l1 = Math.imul(((l1 << 13) | (l1 >>> 19)) ^ w[i + 1]!, 0x5bd1e995);
          l2 = Math.imul(((l2 << 13) | (l2 >>> 19)) ^ w[i + 2]!, 0x01000193);
          l3 = Math.imul(((l3 << 13) | (l3 >>> 19)) ^ w[i + 3]!, 0x5bd1e995);
        }
      }
      // Each lane premixed as it is folded in: a difference left in a lane's top bit by its last
      // step would otherwise cancel against the same in another lane.
      l0 = premix(l0);
      l1 = premix(l1);
      l2 = premix(l2);
      l3 = premix(l3);
      a = Math.imul(Math.imul(Math.imul(Math.imul(a ^ l0, 0x01000193) ^ l1, 0x01000193) ^ l2, 0x01000193) ^ l3, 0x01000193);
      b = Math.imul(Math.imul(Math.imul(Math.imul(b ^ l0, 0x5bd1e995) ^ l1, 0x5bd1e995) ^ l2, 0x5bd1e995) ^ l3, 0x5bd1e995);
    }
    for (let p = blockWords << 2; p < n; p += 4) {
      const k = premix(wordAt(d, p));
      a = Math.imul(a ^ k, 0x01000193);
      b = Math.imul(b ^ k, 0x5bd1e995);
    }
    this.a = a;
    this.b = b;
  }

  num(x: number): void {
    if ((x | 0) === x) {
      // A 32-bit integer (sizes, times and most addresses' halves): the same two words as below
      // (w() folds a word by its 32 bits, signed or not), without the checks and the division.
      this.w(x);
      this.w(x < 0 ? -1 : 0);
    } else if (Number.isSafeInteger(x)) {
      this.w(x >>> 0);
      this.w(Math.floor(x / 2 ** 32) >>> 0);
    } else this.s(String(x));
  }

  /** The low then the high 32 bits of x as a u64 (the same words as num() for 0..2^53-1), read from a u64 slot (util/exact.ts) without a BigInt step. */
  big(x: bigint): void {
    const h = halves64(x);
    const lo = h[0]!;
    const hi = h[1]!;
    this.w(lo);
    this.w(hi);
  }

  /** A U64 (util/exact.ts) as big() folds its bigint: num() gives the same words for an exact number. */
  u64(x: U64): void {
    if (typeof x === 'bigint') this.big(x);
    else this.num(x);
  }

  /** The high 32 bits of the final digest: the lanes cross-mixed with murmur3's fmix32. */
  hi(): number {
    return fmix32(this.a ^ Math.imul(this.b, 0x9e3779b1));
  }

  /** The low 32 bits, given hi() (together a bijection of the lane pair). */
  lo(hi: number): number {
    return fmix32(this.b ^ hi);
  }

  /** 16 hex digits: hi() then lo(). */
  hex(): string {
    const a = this.hi();
    return hex32(a) + hex32(this.lo(a));
  }
}

/** Scratch for wordsCopy(); grown as needed. */
let wordScratch = new Int32Array(1024);

/**
 * The first `count` little-endian 32-bit words of d (count * 4 <= d.length), copied word by word
 * (wordAt) into a reused scratch array, valid until the next call: for data that cannot be viewed
 * as words in place (not 4-byte aligned, or a big-endian host).
 */
function wordsCopy(d: Uint8Array, count: number): Int32Array {
  if (wordScratch.length < count) wordScratch = new Int32Array(Math.max(count, wordScratch.length * 2));
  for (let i = 0; i < count; i++) wordScratch[i] = wordAt(d, i << 2);
  return wordScratch;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
function hex32(x: number): string {
  return HEX2[x >>> 24]! + HEX2[(x >>> 16) & 0xff]! + HEX2[(x >>> 8) & 0xff]! + HEX2[x & 0xff]!;
}

/** One Lanes reused by outcomeDigest (synchronous, never re-entered): no allocation per event. */
const scratch = new Lanes();

/**
 * Stable across runs and processes: depends only on the outcome's values, in this order, and on
 * the log format version (`format`, default the current one): version 1 folds read data a byte per
 * lane step, version 2 a little-endian 32-bit word per step (Lanes.words); version 3 also folds the
 * trace records the model keeps as fields (dma/trace.ts, Trace) by those fields, not their text;
 * version 4 folds read data in four lanes (Lanes.words4).
 */
export function outcomeDigest(o: Outcome, format: number = LOG_FORMAT_VERSION, into?: OutcomeDigest): OutcomeDigest {
  const m = scratch.reset();
  m.w(o.trace.length);
  for (const t of o.trace) {
    if (format >= 3) {
      if (t instanceof Trace) {
        foldTrace(m, t);
        continue;
      }
      m.w(0);
    }
    m.s(t.system);
    m.s(t.name);
    m.s(t.text);
  }
  m.w(o.dmesg.length);
  for (const l of o.dmesg) m.s(l);
  m.w(o.findings.length);
  for (const f of o.findings) {
    m.s(f.kind);
    m.s(f.message);
  }
  m.s(o.fault ?? '');
  if (o.data) {
    m.w(1);
    if (format >= 4) m.words4(o.data);
    else if (format >= 2) m.words(o.data);
    else {
      m.w(o.data.length);
      m.bytes(o.data);
    }
  } else m.w(0);
  if (o.phys !== undefined) {
    m.w(1);
    m.big(o.phys);
  } else m.w(0);
  if (o.sg) {
    m.w(1);
    m.w(o.sg.segments.length);
    for (const x of o.sg.segments) {
      m.big(x.phys);
      m.num(x.size);
    }
    m.w(o.sg.dma.length);
    for (const x of o.sg.dma) {
      m.big(x.addr);
      m.num(x.len);
    }
  } else m.w(0);
  const r = o.ran;
  m.w((r.swiotlb ? 1 : 0) | (r.kmsan ? 2 : 0) | (r.trace ? 4 : 0) | (r.debug ? 8 : 0) | (r.cache ? 16 : 0));
  m.num(o.timeNs);
  const hi = m.hi();
  if (into) {
    // A caller that uses each digest before the next (replay) passes one object to fill: no allocation per event.
    into.result = o.result;
    into.error = o.error;
    into.path = o.path;
    into.hi = hi;
    into.lo = m.lo(hi);
    into.thrown = undefined;
    return into;
  }
  return { result: o.result, error: o.error, path: o.path, hi, lo: m.lo(hi) };
}

/**
 * Format 3's fold of a trace record the model keeps as fields (dma/trace.ts, Trace): its kind, its
 * name, the device's index (-1 for none), every field in a fixed order, then each array's length and
 * values. The text is a function of these (and of the machine's configuration), so outcomes that
 * print differently always fold differently; the text is never formatted here.
 */
function foldTrace(m: Lanes, t: Trace): void {
  m.w(0x100 + t.kind);
  m.s(t.name);
  m.w(t.dev ? t.dev.index : -1);
  m.u64(t.a);
  m.u64(t.b);
  m.u64(t.c);
  m.num(t.n);
  m.w(t.dir);
  m.w(t.attrs);
  m.w(t.flag ? 1 : 0);
  const { xs, ys, zs } = t;
  if (xs) {
    m.w(xs.length);
    for (let i = 0; i < xs.length; i++) m.big(xs[i]!);
  } else m.w(-1);
  if (ys) {
    m.w(ys.length);
    for (let i = 0; i < ys.length; i++) m.num(ys[i]!);
  } else m.w(-1);
  if (zs) {
    m.w(zs.length);
    for (let i = 0; i < zs.length; i++) m.big(zs[i]!);
  } else m.w(-1);
}

/** Digest of an apply that threw (a simulated kernel BUG, a request the model refuses). */
export function thrownDigest(e: unknown): OutcomeDigest {
  const code = errorCode(e);
  const message = e instanceof Error ? e.message : String(e);
  const detail = new Hasher().str('thrown').str(code).str(message).digest();
  return { result: 0n, error: true, path: 'none', hi: hex8(detail, 0), lo: hex8(detail, 8), thrown: code };
}

export function errorCode(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code;
  if (typeof c === 'string' && c !== '') return c;
  return e instanceof Error ? e.name : 'Error';
}

/** The per-event check value stored in the log (the top 32 bits of the detail digest) of a
 *  16-hex-digit detail string, e.g. detailHex()'s. */
export function detailTag(detail: string): number {
  return hex8(detail, 0);
}

/** Eight lowercase hex digits at `at` as a u32 (digests are always 16 of them). */
export function hex8(s: string, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) {
    const c = s.charCodeAt(i);
    v = v * 16 + (c <= 57 ? c - 48 : c - 87);
  }
  return v >>> 0;
}
