// Number formatting the way the kernel's printf does it, for 64-bit values held as bigint.

export const U64_MAX = (1n << 64n) - 1n;

/** `%llx`: lowercase hex, no prefix, no padding. */
export function hex(x: bigint | number): string {
  // Values already in 0..2^64-1 (nearly all) print directly; the rest wrap as the kernel's u64 does.
  if (typeof x === 'bigint') return (x >= 0n && x <= U64_MAX ? x : BigInt.asUintN(64, x)).toString(16);
  return Number.isSafeInteger(x) && x >= 0 ? x.toString(16) : BigInt(x).toString(16);
}

/** `0x%016llx` (also what `%pad` / `%pa` print on 64-bit): 0x and 16 lowercase hex digits. */
export function hex016(x: bigint | number): string {
  return '0x' + hex(x).padStart(16, '0');
}

/** `%016llx` without the prefix. */
export function pad16(x: bigint | number): string {
  return hex(x).padStart(16, '0');
}

/** Parses 0x-prefixed hex or decimal into an exact bigint. */
export function parseBig(s: string): bigint {
  return BigInt(s.trim());
}

/** DMA_BIT_MASK(n): the low n bits set (n = 64 gives all ones). */
export function DMA_BIT_MASK(n: number): bigint {
  return n >= 64 ? U64_MAX : (1n << BigInt(n)) - 1n;
}

/** fls64 of a mask: the number of significant bits (0 for 0). */
export function maskBits(mask: bigint): number {
  return mask === 0n ? 0 : mask.toString(2).length;
}
