// The machine's only source of randomness: a seeded splitmix64 stream. Each subsystem or
// device takes its own sub-stream (`fork`) so a new draw in one never reshuffles another.

const M64 = (1n << 64n) - 1n;

export class Prng {
  private state: bigint;
  constructor(seed: bigint | number | string) {
    this.state = BigInt.asUintN(64, typeof seed === 'string' ? hashSeed(seed) : BigInt(seed));
  }

  /** Next 64-bit value (splitmix64). */
  nextU64(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & M64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    return z ^ (z >> 31n);
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return Number(this.nextU64() >> 11n) / 2 ** 53;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A child stream whose seed depends on this stream's seed and a label, not on draws made so far. */
  fork(label: string): Prng {
    return new Prng(BigInt.asUintN(64, this.seedMaterial() ^ hashSeed(label)));
  }

  private seedMaterial(): bigint {
    return this.state;
  }

  /** Serializable state, part of the machine's state hash. */
  get stateValue(): bigint {
    return this.state;
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
