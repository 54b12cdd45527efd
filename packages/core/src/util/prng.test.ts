import { describe, expect, it } from 'vitest';
import { hashSeed, Prng } from './prng.ts';

/** splitmix64 on BigInts: the definition Prng's 32-bit halves must reproduce exactly. */
class Reference {
  private state: bigint;
  constructor(seed: bigint) {
    this.state = BigInt.asUintN(64, seed);
  }
  nextU64(): bigint {
    const M = (1n << 64n) - 1n;
    this.state = (this.state + 0x9e3779b97f4a7c15n) & M;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    return z ^ (z >> 31n);
  }
  get stateValue(): bigint {
    return this.state;
  }
}

describe('Prng (splitmix64 in 32-bit halves)', () => {
  // Seeds at the edges of the halves' arithmetic: 0, carries out of the low half, all ones, and
  // the seeds logs are made with.
  const seeds = [0n, 1n, 7n, 0xffffffffn, 0x12345678_80b583ebn /* the increment's low half lands exactly on 2^32 */, 0x80c0b5eb_ffffffffn, (1n << 64n) - 1n, 0xdead_beef_cafe_f00dn, 1n << 63n, hashSeed('0000:01:00.0')];
  it.each(seeds.map((s) => [s]))('gives the BigInt reference values, state and floats (seed %s)', (seed) => {
    const p = new Prng(seed);
    const q = new Prng(seed);
    const ref = new Reference(seed);
    const refq = new Reference(seed);
    for (let i = 0; i < 20000; i++) {
      const want = ref.nextU64();
      const got = p.nextU64();
      if (got !== want) expect.unreachable(`draw ${i}: ${got.toString(16)} != ${want.toString(16)}`);
      const f = q.next();
      const wantF = Number(refq.nextU64() >> 11n) / 2 ** 53;
      if (f !== wantF) expect.unreachable(`float ${i}: ${f} != ${wantF}`);
    }
    expect(p.stateValue).toBe(ref.stateValue);
    expect(q.stateValue).toBe(refq.stateValue);
  });

  it('int(n) is floor(next() × n); fork depends on the state and the label only', () => {
    const a = new Prng(42n);
    const b = new Prng(42n);
    for (let i = 0; i < 1000; i++) expect(a.int(1000)).toBe(Math.floor(b.next() * 1000));
    const f1 = new Prng(5n).fork('x');
    const f2 = new Prng(BigInt.asUintN(64, 5n ^ hashSeed('x')));
    expect(f1.nextU64()).toBe(f2.nextU64());
    expect(new Prng('label').stateValue).toBe(hashSeed('label'));
  });
});
