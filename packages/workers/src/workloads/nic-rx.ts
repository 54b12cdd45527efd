// nic-rx: a receive ring of from-device buffers, as a NIC driver's RX path does it: map each
// buffer, the device writes a packet, the driver syncs (page_pool recycling) or unmaps, reads the
// packet, and refills the slot.

import { DMA_FROM_DEVICE, DMA_TO_DEVICE } from '@dmasim/core';
import { dma } from '../driver.ts';
import { ALL_BUGS, Handles, SlotPool, between, roundUp, type Workload, type WorkloadContext } from './common.ts';
import { OPS_PARAM, bugParam, num } from './params.ts';

interface Slot { slot: number; h: number; mapped: boolean }

export const nicRx: Workload = {
  name: 'nic-rx',
  summary: 'RX ring of from-device buffers: map, device writes a packet, sync or unmap, CPU reads, refill',
  params: [
    { name: 'ring', kind: 'int', default: 256, min: 1, max: 65536, help: 'RX descriptors (buffers mapped at once)' },
    { name: 'buffer', kind: 'size', default: '2KiB', min: 64, max: 1 << 20, help: 'bytes per RX buffer' },
    { name: 'packet-min', kind: 'size', default: 64, min: 1, help: 'smallest packet the device writes' },
    { name: 'packet-max', kind: 'size', default: 1514, min: 1, help: 'largest packet (clamped to buffer)' },
    { name: 'queues', kind: 'int', default: 2, min: 1, max: 64, help: 'RX queues; queue q runs on CPU (device index + q) mod cpus' },
    { name: 'recycle', kind: 'enum', default: 'unmap', choices: ['unmap', 'sync'], help: 'unmap+remap each buffer, or keep it mapped and sync-for-cpu / sync-for-device (page_pool)' },
    OPS_PARAM,
    ...ALL_BUGS.map(bugParam),
  ],
  bugs: ALL_BUGS,
  async run(ctx: WorkloadContext): Promise<void> {
    const { drv, p, bugs, prng } = ctx;
    const ring = num(p, 'ring');
    const size = num(p, 'buffer');
    const pktMax = Math.min(num(p, 'packet-max'), size);
    const pktMin = Math.min(num(p, 'packet-min'), pktMax);
    const queues = num(p, 'queues');
    const recycle = p.recycle;
    const pool = new SlotPool(ctx.region.base, ctx.region.size, roundUp(size, 64));
    const handles = new Handles(ctx.lane);
    const cpuOf = (i: number): number => (ctx.dev.index + (i % queues)) % ctx.cpus;
    const slots: Slot[] = [];
    // Late device writes into buffers already unmapped: [when (iteration), handle, length].
    const late: [number, number, number][] = [];

    const map = async (s: Slot, cpu: number): Promise<boolean> => {
      const slot = pool.take();
      if (slot === undefined) return false;
      s.slot = slot;
      s.h = handles.take();
      s.mapped = true;
      await drv.issue({ op: 'map-single', cpu, phys: pool.phys(slot), size, dir: DMA_FROM_DEVICE, attrs: 0 }, { bind: s.h });
      if (!bugs.fire('unchecked-map-error')) await drv.issue({ op: 'mapping-error', cpu, addr: dma(s.h) });
      return true;
    };
    const unmap = async (s: Slot, cpu: number, it: number, len: number, buggy: boolean): Promise<void> => {
      s.mapped = false;
      if (buggy && bugs.fire('leak')) return; // slot and handle stay taken: the mapping is leaked
      const sz = buggy && bugs.fire('wrong-unmap-size') ? size >>> 1 : size;
      const dir = buggy && bugs.fire('wrong-unmap-dir') ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
      await drv.issue({ op: 'unmap-single', cpu, addr: dma(s.h), size: sz, dir, attrs: 0 });
      if (buggy && bugs.fire('double-unmap')) await drv.issue({ op: 'unmap-single', cpu, addr: dma(s.h), size: sz, dir, attrs: 0 });
      pool.give(s.slot);
      if (buggy && bugs.fire('access-after-unmap')) late.push([it + between(prng, 0, ring), s.h, len]);
      else handles.give(s.h);
    };

    for (let i = 0; i < ring; i++) {
      const s: Slot = { slot: 0, h: 0, mapped: false };
      slots.push(s);
      await map(s, cpuOf(i));
    }
    let it = 0;
    while (ctx.more()) {
      const i = it % ring;
      const s = slots[i]!;
      const cpu = cpuOf(i);
      while (late.length > 0 && late[0]![0] <= it) {
        const [, h, len] = late.shift()!;
        await drv.issue({ op: 'dev-write', cpu, addr: dma(h), size: len, fill: 0xee });
        handles.give(h);
      }
      if (!s.mapped && !(await map(s, cpu))) break;
      const len = between(prng, pktMin, pktMax);
      const phys = pool.phys(s.slot);
      await drv.issue({ op: 'dev-write', cpu, addr: dma(s.h), size: len, fill: it & 0xff });
      const early = bugs.fire('missing-sync');
      if (early) await drv.issue({ op: 'cpu-read', cpu, phys, size: len });
      if (recycle === 'sync') {
        await drv.issue({ op: 'sync-for-cpu', cpu, addr: dma(s.h), size: len, dir: DMA_FROM_DEVICE });
        if (!early) await drv.issue({ op: 'cpu-read', cpu, phys, size: len });
        await drv.issue({ op: 'sync-for-device', cpu, addr: dma(s.h), size: len, dir: DMA_FROM_DEVICE });
      } else {
        await unmap(s, cpu, it, len, true);
        if (!early) await drv.issue({ op: 'cpu-read', cpu, phys, size: len });
        await map(s, cpu);
      }
      it++;
    }
    // Teardown: the driver unmaps what is still on the ring (the bugs apply here too).
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (s.mapped) await unmap(s, cpuOf(i), it, pktMin, true);
    }
    for (const [, h, len] of late) await drv.issue({ op: 'dev-write', cpu: cpuOf(0), addr: dma(h), size: len, fill: 0xee });
  },
};
