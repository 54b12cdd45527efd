// Backpressure: with the coordinator artificially slowed (a test-only hook), devices that could
// produce millions of calls per second stay at most one window ahead, and memory stays flat.

import { describe, expect, it } from 'vitest';
import { DEFAULT_WINDOW, RECORDS_PER_BATCH, runStress } from './index.ts';
import { MapModel } from './testing/fake-model.ts';
import { platformWith } from './testing/setups.ts';

describe('backpressure', () => {
  it('a slow coordinator slows the devices down instead of growing queues', async () => {
    const { config, programs } = platformWith(4, 50_000_000);
    const ac = new AbortController();
    const rss: number[] = [];
    let batches = 0;
    const r = await runStress({
      config, programs, schedule: { mode: 'free' }, model: new MapModel(), signal: ac.signal,
      hooks: {
        beforeBatch: () => {
          batches++;
          if (batches % 25 === 0) rss.push(process.memoryUsage().rss);
          if (batches === 600) ac.abort();
          return new Promise((res) => setTimeout(res, 2));
        },
      },
    });
    expect(r.end).toBe('stopped');
    for (const d of r.devices) expect(d.status).toBe('stopped');
    // No device got more than its window ahead of the coordinator: issued - consumed ≤ window.
    const ahead = DEFAULT_WINDOW * RECORDS_PER_BATCH;
    for (const d of r.devices) {
      const issued = r.issued[d.name];
      expect(issued, d.name).toBeDefined();
      expect(issued! - (d.events + d.skipped), d.name).toBeLessThanOrEqual(ahead);
    }
    expect(r.maxQueuedBatches).toBeLessThanOrEqual(DEFAULT_WINDOW);
    // Memory after warm-up stays flat (devices unthrottled would queue hundreds of MB here).
    const warm = rss[4]!;
    const peak = Math.max(...rss.slice(4));
    expect(rss.length).toBeGreaterThanOrEqual(20);
    expect(peak - warm).toBeLessThan(64 * 1024 * 1024);
  });
});
