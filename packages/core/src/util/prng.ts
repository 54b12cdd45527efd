// The machine's only source of randomness: a seeded splitmix64 stream. Each subsystem or
// device takes its own sub-stream (`fork`) so a new draw in one never reshuffles another.
//
// The 64-bit state and arithmetic are kept as two unsigned 32-bit halves: the same values as
// splitmix64 on BigInts (prng.test.ts checks them against that reference), without allocating
// about ten BigInts a draw. Device programs draw several times per DMA call.

const M64 = (1n << 64n) - 1n;
const TWO32 = 2 ** 32;

/**
 * mulLo's and step()'s result: [high 32 bits, low 32 bits]. A typed array, so storing a value
 * above 2^30 (not a small integer) allocates nothing, as a module variable's store would.
 */
const R = new Uint32Array(2);

/** (ah:al) × (bh:bl) mod 2^64 into R. al × bl is split into 16-bit pieces, every partial product exact as a double. */
function mulLo(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const mid = a0 * b1 + a1 * b0; // < 2^33: its low 16 bits survive ToInt32
  const low = a0 * b0 + (mid & 0xffff) * 65536; // < 2^33
  const high = a1 * b1 + Math.floor(mid / 65536) + (low >= TWO32 ? 1 : 0); // the high half of al × bl: < 2^32
  R[1] = low;
  R[0] = high + Math.imul(ah, bl) + Math.imul(al, bh);
}

/** R ^= R >> s, a 64-bit logical shift (0 < s < 32). */
function xorShiftR(s: number): void {
  const h = R[0]!;
  const l = R[1]!;
  R[1] = l ^ ((l >>> s) | (h << (32 - s)));
  R[0] = h ^ (h >>> s);
}

export class Prng {
  /** The state: [high 32 bits, low 32 bits]. */
  private readonly s = new Uint32Array(2);
  constructor(seed: bigint | number | string) {
    const s = BigInt.asUintN(64, typeof seed === 'string' ? hashSeed(seed) : BigInt(seed));
    this.s[0] = Number(s >> 32n);
    this.s[1] = Number(s & 0xffffffffn);
  }

  /** Advances the state and leaves the next output in R (splitmix64). */
  private step(): void {
    // state += 0x9e3779b97f4a7c15
    const st = this.s;
    const lo = st[1]! + 0x7f4a7c15;
    st[1] = lo;
    st[0] = st[0]! + 0x9e3779b9 + (lo >= TWO32 ? 1 : 0);
    // z = state; z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9; z = (z ^ (z >> 27)) * 0x94d049bb133111eb; z ^ (z >> 31)
    R[0] = st[0]!;
    R[1] = st[1]!;
    xorShiftR(30);
    mulLo(R[0]!, R[1]!, 0xbf58476d, 0x1ce4e5b9);
    xorShiftR(27);
    mulLo(R[0]!, R[1]!, 0x94d049bb, 0x133111eb);
    xorShiftR(31);
  }

  /** Next 64-bit value (splitmix64). */
  nextU64(): bigint {
    this.step();
    return (BigInt(R[0]!) << 32n) | BigInt(R[1]!);
  }

  /** Uniform float in [0, 1): the top 53 bits of the next value over 2^53. */
  next(): number {
    this.step();
    return (R[0]! * 2097152 + (R[1]! >>> 11)) / 2 ** 53;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A child stream whose seed depends on this stream's seed and a label, not on draws made so far. */
  fork(label: string): Prng {
    return new Prng(BigInt.asUintN(64, this.stateValue ^ hashSeed(label)));
  }

  /** Serializable state, part of the machine's state hash. */
  get stateValue(): bigint {
    return (BigInt(this.s[0]!) << 32n) | BigInt(this.s[1]!);
  }
}

/** FNV-1a 64 of a string, used to derive sub-seeds from labels. */
export function hashSeed(s: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * 0x100000001b3n) & M64;
  }
  return h;
}
