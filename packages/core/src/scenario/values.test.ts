// Scalar grammars: exact integers with units, durations, hex bytes, references.
import { describe, expect, it } from 'vitest';
import { parseDuration, parseHexBytes, parseInteger, parseRef, refText } from './values.ts';

const val = <T>(p: { ok: true; value: T } | { ok: false; problem: string }): T | string => (p.ok ? p.value : `!${p.problem}`);

describe('parseInteger', () => {
  it('reads decimal, hex and binary-unit sizes exactly, beyond 2^53', () => {
    expect(val(parseInteger('4096'))).toBe(4096n);
    expect(val(parseInteger('0xFFFF_FFFF_FFFF_FFFF'))).toBe((1n << 64n) - 1n);
    expect(val(parseInteger('0x3f00001000'))).toBe(0x3f00001000n);
    expect(val(parseInteger('9007199254740993'))).toBe(9007199254740993n);
    expect(val(parseInteger('4KiB'))).toBe(4096n);
    expect(val(parseInteger('2 MiB'))).toBe(2n << 20n);
    expect(val(parseInteger('1TiB'))).toBe(1n << 40n);
    expect(val(parseInteger('-5', { signed: true }))).toBe(-5n);
  });

  it('refuses SI units, floats, negatives where unsigned, and garbage', () => {
    expect(val(parseInteger('4KB'))).toMatch(/binary unit/);
    expect(val(parseInteger('4k'))).toMatch(/binary unit/);
    expect(val(parseInteger('1.5'))).toMatch(/^!/);
    expect(val(parseInteger('1e9'))).toMatch(/^!/);
    expect(val(parseInteger('-1'))).toMatch(/non-negative/);
    expect(val(parseInteger('0x'))).toMatch(/^!/);
    expect(val(parseInteger('1__0'))).toMatch(/^!/);
  });
});

describe('parseDuration', () => {
  it('reads ns/us/ms/s into nanoseconds and wants a unit', () => {
    expect(val(parseDuration('10ms'))).toBe(10_000_000);
    expect(val(parseDuration('500us'))).toBe(500_000);
    expect(val(parseDuration('1s'))).toBe(1_000_000_000);
    expect(val(parseDuration('10'))).toMatch(/unit/);
    expect(val(parseDuration('99999999999s'))).toMatch(/2\^53/);
  });
});

describe('parseHexBytes', () => {
  it('reads hex with optional 0x, spaces and colons', () => {
    expect(val(parseHexBytes('de ad:BE:ef'))).toEqual(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    expect(val(parseHexBytes('0x0102'))).toEqual(new Uint8Array([1, 2]));
    expect(val(parseHexBytes('abc'))).toMatch(/even/);
    expect(val(parseHexBytes('zz'))).toMatch(/hex/);
  });
});

describe('parseRef', () => {
  it('reads every reference form', () => {
    expect(val(parseRef('$buf'))).toEqual({ name: 'buf', part: { kind: 'addr' }, offset: 0n });
    expect(val(parseRef('$ring.phys+0x40'))).toEqual({ name: 'ring', part: { kind: 'phys' }, offset: 0x40n });
    expect(val(parseRef('$rx-buf-4'))).toEqual({ name: 'rx-buf', part: { kind: 'addr' }, offset: -4n });
    expect(val(parseRef('$sg[2] + 4KiB - 8'))).toEqual({ name: 'sg', part: { kind: 'index', index: 2 }, offset: 4096n - 8n });
  });

  it('refuses malformed references', () => {
    for (const t of ['buf', '$', '$1x', '$buf.virt', '$buf[x]', '$buf+', '$buf+4KB', '$buf*2']) expect(val(parseRef(t)), t).toMatch(/^!/);
  });

  it('prints a reference back canonically', () => {
    expect(refText({ name: 'sg', part: { kind: 'index', index: 1 }, offset: -16n })).toBe('$sg[1]-0x10');
  });
});
