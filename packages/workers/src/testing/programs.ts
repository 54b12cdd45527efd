// Device programs for the failure tests, loaded by a device task as `{ kind: 'module' }`: each
// does a little honest work first, then fails in its own way.

import { readlinkSync } from 'node:fs';
import { getPriority } from 'node:os';
import { DMA_FROM_DEVICE } from '@dmasim/core';
import { dma } from '../driver.ts';
import type { ModuleContext } from '../workloads/common.ts';

async function someWork(ctx: ModuleContext, n: number): Promise<void> {
  const base = ctx.region.base;
  for (let i = 0; i < n; i++) {
    const h = i % 16;
    await ctx.drv.issue({ op: 'map-single', cpu: 0, phys: base + BigInt(h * 4096), size: 2048, dir: DMA_FROM_DEVICE, attrs: 0 }, { bind: h });
    await ctx.drv.issue({ op: 'mapping-error', cpu: 0, addr: dma(h) });
    await ctx.drv.issue({ op: 'dev-write', cpu: 0, addr: dma(h), size: 64, fill: 0x11 });
    await ctx.drv.issue({ op: 'unmap-single', cpu: 0, addr: dma(h), size: 2048, dir: DMA_FROM_DEVICE, attrs: 0 });
  }
}

export async function run(ctx: ModuleContext): Promise<void> {
  const mode = String(ctx.p.mode);
  await someWork(ctx, Number(ctx.p.n ?? 300));
  switch (mode) {
    case 'throw':
      throw new Error('simulated driver crash: NULL pointer dereference in the RX handler');
    case 'exit':
      // Make sure what was issued so far is on its way, then kill the whole thread.
      await ctx.drv.flush();
      process.exit(7);
      break;
    case 'hang':
      await ctx.drv.flush();
      for (;;) {
        // A program stuck in a busy loop: only terminating its thread stops it.
      }
    case 'malformed':
      await ctx.drv.flush();
      ctx.drv.ch.post(new ArrayBuffer(24));
      await new Promise((r) => setTimeout(r, 50));
      break;
    case 'nice': {
      // The nice value of this program's own thread (Linux), checked against the test's expectation.
      const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
      const got = getPriority(tid);
      if (got !== Number(ctx.p.expect)) throw new Error(`device thread nice ${got}, expected ${String(ctx.p.expect)}`);
      break;
    }
    case 'unbound':
      await ctx.drv.issue({ op: 'unmap-single', cpu: 0, addr: dma(999), size: 2048, dir: DMA_FROM_DEVICE, attrs: 0 });
      await ctx.drv.flush();
      break;
    default:
      break;
  }
}
