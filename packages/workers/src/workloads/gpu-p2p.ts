// gpu-p2p: peer-to-peer DMA into another device's BAR: the driver maps a window of the peer's MMIO
// with dma_map_resource (or dma_map_phys + DMA_ATTR_MMIO), the device writes and reads through
// it, and the window is unmapped again.

import { DMA_ATTR_MMIO, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, type MapOp, type UnmapOp } from '@dmasim/core';
import { dma } from '../driver.ts';
import { Handles, between, roundUp, type Workload, type WorkloadContext } from './common.ts';
import { OPS_PARAM, bugParam, num, type BugKnob } from './params.ts';

const BUGS: BugKnob[] = ['leak', 'wrong-unmap-size', 'wrong-unmap-dir', 'unchecked-map-error', 'access-after-unmap', 'double-unmap'];

interface Win { h: number; size: number; slot: number }

export const gpuP2p: Workload = {
  name: 'gpu-p2p',
  summary: "peer-to-peer: map a window of another device's BAR (map-resource or map-phys + mmio), device writes/reads it, unmap",
  params: [
    { name: 'peer', kind: 'string', default: '', help: 'MMIO region (platform.mmio name) to map; default: the first one' },
    { name: 'window', kind: 'size', default: '64KiB', min: 1, help: 'bytes mapped per window' },
    { name: 'api', kind: 'enum', default: 'resource', choices: ['resource', 'phys'], help: 'dma_map_resource, or dma_map_phys with DMA_ATTR_MMIO' },
    { name: 'windows', kind: 'int', default: 4, min: 1, max: 4096, help: 'windows mapped at once' },
    OPS_PARAM,
    ...BUGS.map(bugParam),
  ],
  bugs: BUGS,
  async run(ctx: WorkloadContext): Promise<void> {
    const { drv, p, bugs, prng } = ctx;
    const peerName = String(p.peer);
    const bar = peerName === '' ? ctx.mmio[0] : ctx.mmio.find((m) => m.name === peerName);
    if (!bar) {
      throw new Error(peerName === ''
        ? 'gpu-p2p needs a peer BAR: the platform has no MMIO region (platform.mmio)'
        : `gpu-p2p: no MMIO region named "${peerName}" (have: ${ctx.mmio.map((m) => m.name).join(', ') || 'none'})`);
    }
    const win = Math.min(num(p, 'window'), Number(bar.size));
    const maxWin = num(p, 'windows');
    const useResource = p.api === 'resource';
    const mapOp: MapOp = useResource ? 'map-resource' : 'map-phys';
    const unmapOp: UnmapOp = useResource ? 'unmap-resource' : 'unmap-phys';
    const attrs = useResource ? 0 : DMA_ATTR_MMIO;
    const cpu = ctx.dev.index % ctx.cpus;
    // Each device (each queue of a multi-queue device) maps windows of its own 1/16 of the BAR,
    // never two live ones overlapping (as peers exporting distinct buffers do; overlapping MMIO
    // mappings trip dma-debug's EEXIST check).
    const stride = roundUp(win, 4096);
    const slice = Math.max(stride, Math.floor(Number(bar.size) / 16 / stride) * stride);
    const owner = ctx.dev.index * ctx.lane.count + ctx.lane.index;
    const sliceBase = bar.base + BigInt((owner % Math.max(1, Math.floor(Number(bar.size) / slice))) * slice);
    const freeSlots = Array.from({ length: Math.max(1, Math.floor(slice / stride)) }, (_, i) => i);
    const handles = new Handles(ctx.lane);
    const live: Win[] = [];

    const unmap = async (w: Win): Promise<void> => {
      if (bugs.fire('leak')) return;
      const size = bugs.fire('wrong-unmap-size') ? Math.max(1, w.size >>> 1) : w.size;
      const dir = bugs.fire('wrong-unmap-dir') ? DMA_FROM_DEVICE : DMA_BIDIRECTIONAL;
      await drv.issue({ op: unmapOp, cpu, addr: dma(w.h), size, dir, attrs });
      if (bugs.fire('double-unmap')) await drv.issue({ op: unmapOp, cpu, addr: dma(w.h), size, dir, attrs });
      if (bugs.fire('access-after-unmap')) await drv.issue({ op: 'dev-write', cpu, addr: dma(w.h), size: Math.min(64, w.size), fill: 0xee });
      handles.give(w.h);
      freeSlots.push(w.slot);
    };

    while (ctx.more()) {
      if (live.length >= maxWin || freeSlots.length === 0 || (live.length > 0 && prng.int(2) === 0)) {
        await unmap(live.splice(prng.int(live.length), 1)[0]!);
        continue;
      }
      const h = handles.take();
      const k = prng.int(freeSlots.length);
      const slot = freeSlots[k]!;
      freeSlots[k] = freeSlots[freeSlots.length - 1]!;
      freeSlots.pop();
      const phys = sliceBase + BigInt(slot * stride);
      await drv.issue({ op: mapOp, cpu, phys, size: win, dir: DMA_BIDIRECTIONAL, attrs }, { bind: h });
      if (!bugs.fire('unchecked-map-error')) await drv.issue({ op: 'mapping-error', cpu, addr: dma(h) });
      const len = Math.min(win, between(prng, 64, 4096));
      const off = BigInt(prng.int(Math.max(1, win - len + 1)) & ~63);
      await drv.issue({ op: 'dev-write', cpu, addr: dma(h, off), size: len, fill: 0x77 });
      await drv.issue({ op: 'dev-read', cpu, addr: dma(h, off), size: len });
      live.push({ h, size: win, slot });
    }
    while (live.length > 0) await unmap(live.shift()!);
  },
};
