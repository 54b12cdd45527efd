// nvme: block I/O through scatter-gather lists: each request maps an SGL of scattered pages (up to
// the device's max mapping size), the controller transfers every mapped entry, and completion
// unmaps it; up to queue-depth requests in flight, submitted and completed on the same CPU.

import { DMA_FROM_DEVICE, DMA_TO_DEVICE, type Segment } from '@dmasim/core';
import { sgEntry, sgList } from '../driver.ts';
import { ALL_BUGS, Handles, SlotPool, between, otherDir, type Workload, type WorkloadContext } from './common.ts';
import { OPS_PARAM, bugParam, num } from './params.ts';

interface Io { h: number; slots: number[]; dir: number; cpu: number; nents: number; checked: boolean }

export const nvme: Workload = {
  name: 'nvme',
  summary: 'block I/O: map-sg of scattered pages up to max-io and the max mapping size, device transfers each entry, unmap-sg on completion',
  params: [
    { name: 'queue-depth', kind: 'int', default: 32, min: 1, max: 65536, help: 'requests in flight at most' },
    { name: 'max-io', kind: 'size', default: '128KiB', min: 512, help: 'largest request (capped by dma_max_mapping_size())' },
    { name: 'segment', kind: 'size', default: '4KiB', min: 512, help: 'bytes per SGL entry (one page)' },
    { name: 'read-ratio', kind: 'rate', default: 0.7, min: 0, max: 1, help: 'share of reads (device writes memory: from-device)' },
    OPS_PARAM,
    ...ALL_BUGS.map(bugParam),
  ],
  bugs: ALL_BUGS,
  async run(ctx: WorkloadContext): Promise<void> {
    const { drv, p, bugs, prng } = ctx;
    const qd = num(p, 'queue-depth');
    const seg = num(p, 'segment');
    const readRatio = num(p, 'read-ratio');
    // The driver asks once at probe, as nvme_pci sets max_hw_sectors from dma_max_mapping_size().
    const r = await drv.call({ op: 'max-mapping-size', cpu: ctx.dev.index % ctx.cpus });
    const maxMap = r.error || r.skipped ? BigInt(num(p, 'max-io')) : r.result;
    const maxIo = Number(BigInt(num(p, 'max-io')) < maxMap ? BigInt(num(p, 'max-io')) : maxMap);
    const maxSegs = Math.max(1, Math.floor(maxIo / seg));
    const pool = new SlotPool(ctx.region.base, ctx.region.size, seg);
    const handles = new Handles(ctx.lane);
    const inflight: Io[] = [];

    const complete = async (io: Io): Promise<void> => {
      const cpu = io.cpu;
      const read = io.dir === DMA_FROM_DEVICE;
      const firstPhys = pool.phys(io.slots[0]!);
      const early = read && bugs.fire('missing-sync');
      if (early) await drv.issue({ op: 'cpu-read', cpu, phys: firstPhys, size: Math.min(seg, 512) });
      if (bugs.fire('leak')) return;
      const nents = io.nents > 1 && bugs.fire('wrong-unmap-size') ? io.nents - 1 : 0;
      const dir = bugs.fire('wrong-unmap-dir') ? otherDir(io.dir) : io.dir;
      await drv.issue({ op: 'unmap-sg', cpu, sg: sgList(io.h, nents), dir, attrs: 0 });
      if (bugs.fire('double-unmap')) await drv.issue({ op: 'unmap-sg', cpu, sg: sgList(io.h, nents), dir, attrs: 0 });
      if (bugs.fire('access-after-unmap')) {
        await drv.issue({ op: 'dev-write', cpu, addr: sgEntry(io.h, 0), size: 0, fill: 0xee }, { sizeFromEntry: true, skipIfMissing: true });
      }
      if (read && !early) await drv.issue({ op: 'cpu-read', cpu, phys: firstPhys, size: Math.min(seg, 512) });
      for (const s of io.slots) pool.give(s);
      handles.give(io.h);
    };

    while (ctx.more()) {
      if (inflight.length >= qd || (inflight.length > 0 && prng.int(3) === 0)) {
        await complete(inflight.splice(prng.int(inflight.length), 1)[0]!);
        continue;
      }
      const n = between(prng, 1, maxSegs);
      if (pool.available < n) {
        if (inflight.length === 0) break;
        await complete(inflight.shift()!);
        continue;
      }
      const slots: number[] = [];
      for (let i = 0; i < n; i++) slots.push(pool.take()!);
      const segments: Segment[] = slots.map((s) => ({ phys: pool.phys(s), size: seg }));
      const read = prng.next() < readRatio;
      const dir = read ? DMA_FROM_DEVICE : DMA_TO_DEVICE;
      const cpu = prng.int(ctx.cpus);
      const h = handles.take();
      const checked = !bugs.fire('unchecked-map-error');
      if (!read) await drv.issue({ op: 'cpu-write', cpu, phys: segments[0]!.phys, size: Math.min(seg, 512), fill: 0x5a });
      await drv.issue({ op: 'map-sg', cpu, segments, dir, attrs: 0 }, { bind: h, checked });
      // The controller walks the SGL it was given: one transfer per mapped entry.
      for (let i = 0; i < n; i++) {
        const addr = sgEntry(h, i);
        const o = { sizeFromEntry: true, skipIfMissing: true };
        if (read) await drv.issue({ op: 'dev-write', cpu, addr, size: 0, fill: i & 0xff }, o);
        else await drv.issue({ op: 'dev-read', cpu, addr, size: 0 }, o);
      }
      inflight.push({ h, slots, dir, cpu, nents: n, checked });
    }
    while (inflight.length > 0) await complete(inflight.shift()!);
  },
};
