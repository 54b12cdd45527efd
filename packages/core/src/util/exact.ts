// Addresses are exact 64-bit bigints; the ones below 2^53 are also exact as numbers. Hot paths
// compare, step and key those as numbers: every bigint operation allocates, a bigint compared with
// a number is a runtime call in V8, and a Map hashes a number far more cheaply than a bigint.

/**
 * A u64 value held as a number when it is exact as one (0..2^53-1), else as a bigint: what the
 * IOMMU paths pass where a bigint per call would be garbage (BENCHMARKS.md, eleventh round). Both
 * forms of one value fold to the same hash words (Hasher.num and Hasher.big).
 */
export type U64 = bigint | number;

/** 2^53 - 1, the largest integer exact as a number, as a bigint. */
export const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A u64 slot and its two 32-bit halves: toNumber() reads a bigint in 0..2^53-1 as a number from the
 * halves. V8 (Node 20) converts with Number(x) through a runtime call that allocates a heap number
 * for any value above 2^31, ~20 ns; the store and two loads are ~5 ns and allocate less
 * (BENCHMARKS.md, eighth round). Little-endian hosts only; elsewhere Number(x).
 */
const U64 = new BigUint64Array(1);
const HALVES = new Uint32Array(U64.buffer);
/** Typed-array views read memory as little-endian words on this host (true on x86 and ARM). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** x (0 ≤ x ≤ 2^53 - 1) as a number. */
function toNumber(x: bigint): number {
  if (!LITTLE_ENDIAN) return Number(x);
  U64[0] = x;
  return HALVES[1]! * 4294967296 + HALVES[0]!;
}

/** x mod 2^32 (two's complement for negative x), as BigInt.asUintN(32, x) gives it, as a number. */
export function low32(x: bigint): number {
  if (!LITTLE_ENDIAN) return Number(BigInt.asUintN(32, x));
  U64[0] = x; // the slot keeps x mod 2^64
  return HALVES[0]!;
}

/**
 * x mod 2^64's low and high 32 bits (low32(x), high32(x)) in a shared array, [low, high], valid
 * until the next call: one store for both halves where low32 and high32 each make one.
 */
export function halves64(x: bigint): Uint32Array {
  if (!LITTLE_ENDIAN) {
    PAIR[0] = low32(x);
    PAIR[1] = high32(x);
    return PAIR;
  }
  U64[0] = x;
  return HALVES;
}
const PAIR = new Uint32Array(2);

/** The high 32 bits of x mod 2^64 (BigInt.asUintN(64, x) >> 32n), as a number. */
export function high32(x: bigint): number {
  if (!LITTLE_ENDIAN) return Number(BigInt.asUintN(64, x) >> 32n);
  U64[0] = x;
  return HALVES[1]!;
}

/** x as a number when it is exact as one (0 ≤ x ≤ 2^53 - 1), else -1. */
export function exactNum(x: bigint): number {
  return x >= 0n && x <= MAX_EXACT ? toNumber(x) : -1;
}

/** x as a Map key: the number when exact, else the bigint. Each value has exactly one key, so lookups match as they would on the bigint. */
export function exactKey(x: bigint): number | bigint {
  return x >= 0n && x <= MAX_EXACT ? toNumber(x) : x;
}

/**
 * addr as a number when every address of [addr, addr + size] is exact as one (size a non-negative
 * safe integer), else -1: the test for a range that is then compared or stepped on numbers. addr
 * may be a U64 already held as a number.
 */
export function exactRange(addr: U64, size: number): number {
  const n = typeof addr === 'number' ? addr : exactNum(addr);
  return n >= 0 && Number.isSafeInteger(size) && size >= 0 && n + size <= Number.MAX_SAFE_INTEGER ? n : -1;
}
