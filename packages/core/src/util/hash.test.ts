import { describe, expect, it, test } from 'vitest';
import { chunkDigest, Hasher } from './hash.ts';
import { Prng } from './prng.ts';

describe('Hasher', () => {
  test('bytes() gives the same digest as feeding the same bytes one by one', () => {
    const prng = new Prng(5);
    for (const n of [0, 1, 7, 4096, 10_000]) {
      const d = new Uint8Array(n);
      for (let i = 0; i < n; i++) d[i] = prng.int(256);
      const fast = new Hasher().str('x').bytes(d).digest();
      const slow = new Hasher().str('x').u32(n);
      for (const x of d) (slow as unknown as { byte(x: number): void }).byte(x);
      expect(fast).toBe(slow.digest());
    }
  });

  test('u32() and str() give the same digest as their bytes fed one by one (low byte first)', () => {
    const prng = new Prng(9);
    const byte = (h: Hasher, x: number): void => (h as unknown as { byte(x: number): void }).byte(x);
    for (let i = 0; i < 200; i++) {
      const x = Math.floor(prng.next() * 2 ** 32);
      const text = String.fromCharCode(...Array.from({ length: prng.int(6) }, () => prng.int(0x10000)));
      const fast = new Hasher().u32(x).str(text).digest();
      const slow = new Hasher();
      for (let s = 0; s < 32; s += 8) byte(slow, x >>> s);
      for (let s = 0; s < 32; s += 8) byte(slow, text.length >>> s);
      for (let j = 0; j < text.length; j++) {
        byte(slow, text.charCodeAt(j));
        byte(slow, text.charCodeAt(j) >>> 8);
      }
      expect(fast).toBe(slow.digest());
    }
  });

  test('word mode (state hash version 3): a lane step per 32-bit word and per two code units, against its definition', () => {
    // The definition written out: the byte mode's lane step, applied to whole words.
    const ref = (words: number[]): string => {
      let a = 0x811c9dc5;
      let b = 0x050c5d1f;
      for (const x of words) {
        a = Math.imul(a ^ x, 0x01000193) >>> 0;
        b = Math.imul(b ^ x, 0x01000193) >>> 0;
        b = (b ^ (b >>> 13)) >>> 0;
      }
      a ^= b >>> 15;
      a = Math.imul(a, 0x2c1b3c6d) >>> 0;
      b ^= a >>> 12;
      b = Math.imul(b, 0x297a2d39) >>> 0;
      a ^= b >>> 15;
      return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
    };
    const prng = new Prng(13);
    for (let i = 0; i < 200; i++) {
      const x = Math.floor(prng.next() * 2 ** 32);
      const y = Math.floor(prng.next() * 2 ** 52);
      const text = String.fromCharCode(...Array.from({ length: prng.int(7) }, () => prng.int(0x10000)));
      const units: number[] = [];
      for (let j = 0; j + 1 < text.length; j += 2) units.push((text.charCodeAt(j) | (text.charCodeAt(j + 1) << 16)) >>> 0);
      if (text.length % 2) units.push(text.charCodeAt(text.length - 1));
      const got = new Hasher(true).u32(x).str(text).num(y).big(BigInt(y) + 2n ** 60n).bool(true).digest();
      const big = BigInt(y) + 2n ** 60n;
      const want = ref([x, text.length, ...units, y >>> 0, Math.floor(y / 2 ** 32), Number(big & 0xffffffffn), Number(big >> 32n), 1]);
      expect(got).toBe(want);
      expect(got).not.toBe(new Hasher().u32(x).str(text).num(y).big(big).bool(true).digest());
    }
  });

  test('word mode: one word or one code unit changed, or the same top bit of two words, always changes the digest', () => {
    const prng = new Prng(21);
    const words = Array.from({ length: 64 }, () => Math.floor(prng.next() * 2 ** 32));
    const digest = (ws: number[]): string => {
      const h = new Hasher(true);
      for (const w of ws) h.u32(w);
      return h.digest();
    };
    const base = digest(words);
    for (let i = 0; i < words.length; i++) {
      for (const bit of [0, 13, 31]) {
        const one = [...words];
        one[i] = (one[i]! ^ 2 ** bit) >>> 0;
        expect(digest(one)).not.toBe(base);
        for (const j of [i + 1, i + 2, i + 7]) {
          if (j >= words.length) continue;
          const two = [...one];
          two[j] = (two[j]! ^ 2 ** bit) >>> 0;
          expect(digest(two), `bit ${bit} of words ${i} and ${j}`).not.toBe(base);
        }
      }
    }
    expect(new Hasher(true).str('ab').digest()).not.toBe(new Hasher(true).str('ba').digest());
    expect(new Hasher(true).str('abc').digest()).not.toBe(new Hasher(true).str('abd').digest());
  });

  test('different contents give different digests', () => {
    expect(new Hasher().bytes(new Uint8Array([1, 2, 3])).digest()).not.toBe(new Hasher().bytes(new Uint8Array([1, 2, 4])).digest());
  });
});

describe('chunkDigest (state hash version 2)', () => {
  const digest = (d: Uint8Array): [number, number, boolean] => {
    const o = { a: 0, b: 0, zero: false };
    chunkDigest(d, o);
    return [o.a, o.b, o.zero];
  };

  test('every single-bit change of a 4 KiB chunk changes the digest (both lanes)', () => {
    const prng = new Prng(9);
    const c = new Uint8Array(4096);
    for (let i = 0; i < c.length; i++) c[i] = prng.int(256);
    const [a0, b0] = digest(c);
    for (let t = 0; t < 2000; t++) {
      const i = prng.int(4096);
      const bit = 1 << prng.int(8);
      c[i]! ^= bit;
      const [a, b] = digest(c);
      expect(a).not.toBe(a0);
      expect(b).not.toBe(b0);
      c[i]! ^= bit;
    }
    expect(digest(c).slice(0, 2)).toEqual([a0, b0]);
  });

  test('flipping the top bit of two words does not cancel out (the premix spreads high bits)', () => {
    const c = new Uint8Array(4096);
    const [a0, b0] = digest(c);
    c[3] = 0x80;
    c[7] = 0x80;
    const [a, b] = digest(c);
    expect([a, b]).not.toEqual([a0, b0]);
  });

  test('zero is set exactly for all-zero input; the length counts; unaligned views agree with aligned ones', () => {
    expect(digest(new Uint8Array(4096))[2]).toBe(true);
    const one = new Uint8Array(4096);
    one[4095] = 1;
    expect(digest(one)[2]).toBe(false);
    expect(digest(Uint8Array.from([1, 2, 3]))).not.toEqual(digest(Uint8Array.from([1, 2, 3, 0])));
    const prng = new Prng(3);
    for (const n of [0, 1, 5, 64, 4095, 4096]) {
      const d = Uint8Array.from({ length: n }, () => prng.int(256));
      const shifted = new Uint8Array(n + 1);
      shifted.set(d, 1);
      expect(digest(shifted.subarray(1))).toEqual(digest(d));
    }
  });
});

describe('Hasher.big', () => {
  // The number path (0 ≤ x < 2^53) must feed the same two words as the BigInt one: the low then the
  // high 32 bits of x as a u64.
  it('feeds the low and high 32 bits of the u64, on both sides of 2^53 and for negatives', () => {
    const xs = [0n, 1n, 0xffffffffn, 1n << 32n, (1n << 32n) + 5n, (1n << 52n) + 3n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, 1n << 63n, (1n << 64n) - 1n, -1n, -(1n << 40n)];
    const rng = new Prng(11n);
    for (let i = 0; i < 2000; i++) xs.push(BigInt(rng.int(2 ** 31)) * BigInt(rng.int(2 ** 22) + 1) + BigInt(rng.int(1000)));
    for (const x of xs) {
      const v = BigInt.asUintN(64, x);
      const want = new Hasher().u32(Number(v & 0xffffffffn)).u32(Number(v >> 32n)).digest();
      if (new Hasher().big(x).digest() !== want) expect.unreachable(`big(${x})`);
    }
  });
});

describe('Hasher.num', () => {
  // A 32-bit integer takes a shorter path than other safe integers: both must feed the low then
  // the high 32 bits of x as a two's-complement u64, in byte and in word mode.
  it('feeds the low and high 32 bits of a safe integer, on both sides of ±2^31 and 2^32, for -0 and negatives', () => {
    const xs = [0, -0, 1, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 7, -(2 ** 32), 2 ** 53 - 1, -(2 ** 53 - 1)];
    const rng = new Prng(17n);
    for (let i = 0; i < 2000; i++) {
      const mag = [2 ** 8, 2 ** 31, 2 ** 40, 2 ** 53 - 1][rng.int(4)]!;
      const x = Math.floor(rng.next() * mag);
      xs.push(rng.int(2) === 0 ? x : -x);
    }
    for (const words of [false, true]) {
      for (const x of xs) {
        const v = BigInt.asUintN(64, BigInt(x));
        const want = new Hasher(words).u32(Number(v & 0xffffffffn)).u32(Number(v >> 32n)).digest();
        if (new Hasher(words).num(x).digest() !== want) expect.unreachable(`num(${x}), words ${words}`);
      }
    }
  });
});
