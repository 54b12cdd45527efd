// coherent-rings: descriptor rings in coherent memory (dma_alloc_coherent): the device writes
// completions and reads new descriptors, the CPU reads and writes them without any sync, and the
// rings are freed and reallocated now and then (as on an interface down/up).

import { dma, physOf } from '../driver.ts';
import { Handles, type Workload, type WorkloadContext } from './common.ts';
import { OPS_PARAM, bugParam, num, type BugKnob } from './params.ts';

const BUGS: BugKnob[] = ['leak', 'wrong-unmap-size', 'unchecked-map-error', 'access-after-unmap', 'double-unmap'];

interface Ring { h: number; live: boolean }

export const coherentRings: Workload = {
  name: 'coherent-rings',
  summary: 'descriptor rings in coherent memory: alloc, device and CPU exchange descriptors, free and realloc',
  params: [
    { name: 'rings', kind: 'int', default: 4, min: 1, max: 1024, help: 'rings allocated at once' },
    { name: 'size', kind: 'size', default: '16KiB', min: 64, max: 1 << 26, help: 'bytes per ring' },
    { name: 'descriptor', kind: 'size', default: 64, min: 1, max: 4096, help: 'bytes per descriptor' },
    { name: 'realloc', kind: 'int', default: 256, min: 1, help: 'descriptor exchanges between a free + realloc of one ring' },
    OPS_PARAM,
    ...BUGS.map(bugParam),
  ],
  bugs: BUGS,
  async run(ctx: WorkloadContext): Promise<void> {
    const { drv, p, bugs, prng } = ctx;
    const n = num(p, 'rings');
    const size = num(p, 'size');
    const desc = Math.min(num(p, 'descriptor'), size);
    const every = num(p, 'realloc');
    const perRing = Math.max(1, Math.floor(size / desc));
    const cpu = ctx.dev.index % ctx.cpus;
    const handles = new Handles(ctx.lane);
    const rings: Ring[] = [];

    const alloc = async (r: Ring): Promise<void> => {
      r.h = handles.take();
      r.live = true;
      // A driver that forgets the NULL check keeps using a failed allocation.
      await drv.issue({ op: 'alloc-coherent', cpu, size, attrs: 0 }, { bind: r.h, checked: !bugs.fire('unchecked-map-error') });
    };
    const free = async (r: Ring): Promise<void> => {
      r.live = false;
      if (bugs.fire('leak')) return;
      const sz = bugs.fire('wrong-unmap-size') ? size >>> 1 : size;
      await drv.issue({ op: 'free-coherent', cpu, addr: dma(r.h), size: sz, attrs: 0 });
      if (bugs.fire('double-unmap')) await drv.issue({ op: 'free-coherent', cpu, addr: dma(r.h), size: sz, attrs: 0 });
      if (bugs.fire('access-after-unmap')) await drv.issue({ op: 'dev-write', cpu, addr: dma(r.h), size: desc, fill: 0xee });
      handles.give(r.h);
    };

    for (let i = 0; i < n; i++) {
      const r: Ring = { h: 0, live: false };
      rings.push(r);
      await alloc(r);
    }
    let it = 0;
    while (ctx.more()) {
      const r = rings[prng.int(n)]!;
      if (!r.live) await alloc(r);
      const off = BigInt(prng.int(perRing) * desc);
      // Device posts a completion; the CPU polls it, then writes a fresh descriptor the device fetches.
      await drv.issue({ op: 'dev-write', cpu, addr: dma(r.h, off), size: desc, fill: it & 0xff });
      await drv.issue({ op: 'cpu-read', cpu, phys: physOf(r.h, off), size: desc });
      await drv.issue({ op: 'cpu-write', cpu, phys: physOf(r.h, off), size: desc, fill: 0x11 });
      await drv.issue({ op: 'dev-read', cpu, addr: dma(r.h, off), size: desc });
      if (++it % every === 0) await free(r);
    }
    for (const r of rings) if (r.live) await free(r);
  },
};
