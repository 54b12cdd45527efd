import { describe, expect, it } from 'vitest';
import { unpack, pack } from 'msgpackr';
import { internalized } from './intern.ts';

describe('internalized', () => {
  it('gives an equal string for every kind of name, "__proto__" and index-like ones included', () => {
    for (const s of ['0000:01:00.0', 'map-single', '', '__proto__', 'constructor', '12', '4294967295', 'é✓', 'a'.repeat(300)]) {
      expect(internalized(s)).toBe(s);
    }
  });

  it('is what a decoded string compares and looks up as (the same value as the copy it came from)', () => {
    const [op, dev] = unpack(pack(['map-single', '0000:01:00.0'])) as [string, string];
    const devices = new Map([[internalized('0000:01:00.0'), 1]]);
    expect(internalized(op) === 'map-single').toBe(true);
    expect(devices.get(internalized(dev))).toBe(1);
    expect(devices.get(dev)).toBe(1);
  });
});
