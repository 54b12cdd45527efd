// nic-tx: a transmit path: the CPU fills a packet, maps it to-device, the NIC fetches it, and the
// completion handler unmaps it; packets of varied sizes, completions in bursts.

import { DMA_TO_DEVICE } from '@dmasim/core';
import { dma } from '../driver.ts';
import { Handles, SlotPool, between, otherDir, roundUp, type Workload, type WorkloadContext } from './common.ts';
import { OPS_PARAM, bugParam, num, type BugKnob } from './params.ts';

const BUGS: BugKnob[] = ['leak', 'wrong-unmap-size', 'wrong-unmap-dir', 'unchecked-map-error', 'access-after-unmap', 'double-unmap'];

interface Pkt { slot: number; h: number; len: number; cpu: number }

export const nicTx: Workload = {
  name: 'nic-tx',
  summary: 'TX path: CPU fills a packet, to-device map of varied size, device reads it, unmap on completion',
  params: [
    { name: 'ring', kind: 'int', default: 256, min: 1, max: 65536, help: 'TX descriptors in flight at most' },
    { name: 'min', kind: 'size', default: 64, min: 1, help: 'smallest packet' },
    { name: 'max', kind: 'size', default: 9000, min: 1, max: 1 << 20, help: 'largest packet (jumbo frames by default)' },
    { name: 'completion', kind: 'int', default: 32, min: 1, help: 'packets completed per TX interrupt at most' },
    OPS_PARAM,
    ...BUGS.map(bugParam),
  ],
  bugs: BUGS,
  async run(ctx: WorkloadContext): Promise<void> {
    const { drv, p, bugs, prng } = ctx;
    const ring = num(p, 'ring');
    const max = num(p, 'max');
    const min = Math.min(num(p, 'min'), max);
    const burst = num(p, 'completion');
    const pool = new SlotPool(ctx.region.base, ctx.region.size, roundUp(max, 64));
    const handles = new Handles(ctx.lane);
    const txCpu = ctx.dev.index % ctx.cpus;
    const inflight: Pkt[] = [];

    const complete = async (k: number, buggy: boolean): Promise<void> => {
      for (let n = 0; n < k && inflight.length > 0; n++) {
        const t = inflight.shift()!;
        await drv.issue({ op: 'dev-read', cpu: txCpu, addr: dma(t.h), size: t.len });
        if (buggy && bugs.fire('leak')) continue;
        const size = buggy && bugs.fire('wrong-unmap-size') ? Math.max(1, t.len - 1) : t.len;
        const dir = buggy && bugs.fire('wrong-unmap-dir') ? otherDir(DMA_TO_DEVICE) : DMA_TO_DEVICE;
        await drv.issue({ op: 'unmap-single', cpu: txCpu, addr: dma(t.h), size, dir, attrs: 0 });
        if (buggy && bugs.fire('double-unmap')) await drv.issue({ op: 'unmap-single', cpu: txCpu, addr: dma(t.h), size, dir, attrs: 0 });
        // A retransmit fetched from the old descriptor after the driver unmapped it.
        if (buggy && bugs.fire('access-after-unmap')) await drv.issue({ op: 'dev-read', cpu: txCpu, addr: dma(t.h), size: t.len });
        pool.give(t.slot);
        handles.give(t.h);
      }
    };

    while (ctx.more()) {
      if (inflight.length >= ring || (inflight.length > 0 && prng.int(4) === 0)) {
        await complete(between(prng, 1, burst), true);
        continue;
      }
      const slot = pool.take();
      if (slot === undefined) {
        await complete(burst, true);
        if (pool.available === 0) break;
        continue;
      }
      const len = between(prng, min, max);
      const cpu = prng.int(ctx.cpus);
      const h = handles.take();
      const phys = pool.phys(slot);
      await drv.issue({ op: 'cpu-write', cpu, phys, size: Math.min(len, 64), fill: 0x45 });
      await drv.issue({ op: 'map-single', cpu, phys, size: len, dir: DMA_TO_DEVICE, attrs: 0 }, { bind: h });
      if (!bugs.fire('unchecked-map-error')) await drv.issue({ op: 'mapping-error', cpu, addr: dma(h) });
      inflight.push({ slot, h, len, cpu });
    }
    await complete(inflight.length, true);
  },
};
