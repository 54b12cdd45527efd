// ftrace text form: the line layout of the kernel's trace file, checked against a real capture
// (dma-model.md §8.3, swiotlb_bounced on a 6.18 kernel).
import { describe, expect, it } from 'vitest';
import { defaultDevice } from '../config.ts';
import { dmesgLine, ftraceLine, ftraceTask } from './ftrace.ts';

describe('ftraceLine', () => {
  it('lays a record out exactly as the real capture does', () => {
    const line = ftraceLine(
      { system: 'swiotlb', name: 'swiotlb_bounced', text: 'dev_name: 0000:00:0a.0 dma_mask=ffffffff dev_addr=17c407000 size=256 NORMAL' },
      { comm: 'insmod', pid: 1871, cpu: 2, timeNs: 285_655_295_000 },
    );
    expect(line).toBe('          insmod-1871    [002] .....   285.655295: swiotlb_bounced: dev_name: 0000:00:0a.0 dma_mask=ffffffff dev_addr=17c407000 size=256 NORMAL');
  });

  it('names the task after the acting device (driver, 1000 + index), idle otherwise', () => {
    const devices = [defaultDevice('a'), { ...defaultDevice('0000:01:00.0'), driver: 'a_very_long_driver_name' }];
    expect(ftraceTask({ devices }, '0000:01:00.0')).toEqual({ comm: 'a_very_long_dri', pid: 1001 });
    expect(ftraceTask({ devices })).toEqual({ comm: '<idle>', pid: 0 });
  });

  it('prints dmesg stamps as [%5lu.%06lu]', () => {
    expect(dmesgLine(1_000, 'x')).toBe('[    0.000001] x');
    expect(dmesgLine(123_456_789_000, 'y')).toBe('[  123.456789] y');
  });
});
