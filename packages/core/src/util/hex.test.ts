import { describe, expect, it } from 'vitest';
import { hex, hex016, pad16 } from './hex.ts';

describe('hex (printf %llx of a u64)', () => {
  it('prints values in range directly and wraps others to 64 bits as the u64 does', () => {
    expect(hex(0n)).toBe('0');
    expect(hex(0xdead_beefn)).toBe('deadbeef');
    expect(hex((1n << 64n) - 1n)).toBe('ffffffffffffffff');
    expect(hex(-1n)).toBe('ffffffffffffffff');
    expect(hex(1n << 64n)).toBe('0');
    expect(hex((1n << 64n) + 0x10n)).toBe('10');
  });
  it('prints numbers as BigInt(n) would', () => {
    expect(hex(255)).toBe('ff');
    expect(hex(2 ** 53 - 1)).toBe('1fffffffffffff');
    expect(hex(2 ** 60)).toBe(BigInt(2 ** 60).toString(16));
    expect(hex(-5)).toBe('-5');
    expect(() => hex(1.5)).toThrow(RangeError);
  });
  it('hex016 and pad16 pad to 16 digits', () => {
    expect(hex016(0x1234n)).toBe('0x0000000000001234');
    expect(pad16(4096)).toBe('0000000000001000');
  });
});
