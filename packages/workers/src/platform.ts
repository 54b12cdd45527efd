// The default stress platform (devices on dma-direct, strict and lazy IOMMU domains, one domain
// shared, legacy dma_map_ops, a 32-bit device that bounces through swiotlb, a GPU BAR for p2p),
// and how each device's buffers get a private window of RAM.

import { defaultDevice, defaultDomain, defaultPlatform, type DeviceConfig, type MachineConfig, type Profile } from '@dmasim/core';
import type { DeviceInfo } from './workloads/common.ts';

const MiB = 1n << 20n;

interface Template { driver: string; dma: DeviceConfig['dma']; domain?: string; workload: string; mask?: number; mapResource?: boolean }

/** Device templates, cycled for --devices N. Two iommu devices share the lazy domain D1. */
const TEMPLATES: Template[] = [
  { driver: 'mlx5_core', dma: 'direct', workload: 'nic-rx' },
  { driver: 'nvme', dma: 'iommu', domain: 'D0', workload: 'nvme' },
  { driver: 'ixgbe', dma: 'iommu', domain: 'D1', workload: 'nic-tx' },
  { driver: 'amdgpu', dma: 'iommu', domain: 'D1', workload: 'gpu-p2p' },
  { driver: 'xhci_hcd', dma: 'ops', workload: 'coherent-rings', mapResource: true },
  { driver: 'ahci', dma: 'direct', workload: 'nvme', mask: 32 },
  { driver: 'e1000e', dma: 'iommu', domain: 'D2', workload: 'nic-rx' },
  { driver: 'virtio-pci', dma: 'ops', workload: 'nic-tx' },
];

/** The workloads the default platform's devices cycle through, in device order (`mixed` runs each equally). */
export const STRESS_WORKLOADS: readonly string[] = TEMPLATES.map((t) => t.workload);

export interface StressPlatform {
  config: MachineConfig;
  /** The workload each device runs under `--workload mix`. */
  workloads: string[];
}

/** `n` devices on the default platform. */
export function defaultStressPlatform(n: number, seed: bigint, profile: Profile = '6.18'): StressPlatform {
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new RangeError(`--devices must be 1..250, got ${n}`);
  const platform = defaultPlatform();
  platform.mmio = [{ name: 'gpu0-bar1', base: 0x3f00000000n, size: 256n * MiB }];
  const domains = [defaultDomain('D0'), { ...defaultDomain('D1'), mode: 'lazy' as const }, defaultDomain('D2')];
  const devices: DeviceConfig[] = [];
  const workloads: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = TEMPLATES[i % TEMPLATES.length]!;
    const d = defaultDevice(`0000:${(i + 1).toString(16).padStart(2, '0')}:00.0`, t.dma);
    d.driver = t.driver;
    if (t.domain) d.domain = t.domain;
    if (t.mask !== undefined) {
      d.mask = t.mask;
      d.coherentMask = t.mask;
    }
    if (t.mapResource) d.ops = { mapResource: true };
    devices.push(d);
    workloads.push(t.workload);
  }
  const used = new Set(devices.map((d) => d.domain).filter((x) => x !== undefined));
  return { config: { profile, seed, platform, domains: domains.filter((x) => used.has(x.name)), devices }, workloads };
}

/** dma-debug hashes `dev_addr >> 13` into 16384 buckets: its bucket pattern repeats every 128 MiB. */
const DEBUG_BUCKET = 8192;
const DEBUG_PERIOD_BUCKETS = 16384;

/**
 * A private RAM window per device for its buffers, carved from the upper half of the largest RAM
 * region (so on the default machine buffers sit above 4 GiB and 32-bit devices really bounce).
 *
 * The windows are contiguous, at most 256 MiB each, and their stride is chosen so that their
 * starts fall as far apart as possible modulo dma-debug's 128 MiB hash period: every workload
 * carves its buffers from the start of its window, so with MiB-aligned power-of-two windows all
 * devices' buffers landed in the same hash buckets (at 64 devices, 32 devices per bucket), which
 * real page-allocator buffers do not. E.g. on the default machine: 2 devices 192 MiB (starts 64 MiB
 * apart in the period), 8 devices 240 MiB (16 MiB apart), 64 devices 62 MiB (2 MiB apart).
 */
export function deviceRegions(cfg: MachineConfig, n: number): { base: bigint; size: bigint }[] {
  const ram = [...cfg.platform.ram].sort((a, b) => (b.size > a.size ? 1 : b.size < a.size ? -1 : 0))[0];
  if (!ram || n === 0) return [];
  // The upper half: above 4 GiB on the default 8 GiB machine, away from the low swiotlb pool.
  const low = ram.base + ram.size / 2n;
  const span = ram.base + ram.size - low;
  let each = span / BigInt(n);
  if (each > 256n * MiB) each = 256n * MiB;
  const pages = Number(each / BigInt(DEBUG_BUCKET));
  let stride: bigint;
  if (n > 1 && pages >= 16) stride = BigInt(spreadStride(pages, n)) * BigInt(DEBUG_BUCKET);
  else {
    stride = each & ~(MiB - 1n);
    if (stride < MiB) stride = each & ~0xfffn;
  }
  return Array.from({ length: n }, (_, i) => ({ base: low + BigInt(i) * stride, size: stride }));
}

/**
 * The stride, in 8 KiB buckets, between `pages / 2` and `pages`, whose multiples 0..n-1 lie
 * farthest apart (largest smallest gap) around dma-debug's hash period; the larger stride on a tie.
 */
function spreadStride(pages: number, n: number): number {
  const P = DEBUG_PERIOD_BUCKETS;
  const offsets = new Float64Array(n);
  let best = pages;
  let bestGap = -1;
  const ideal = Math.floor(P / n);
  for (let s = pages; s >= Math.ceil(pages / 2); s--) {
    for (let i = 0; i < n; i++) offsets[i] = (i * s) % P;
    offsets.sort();
    let gap = offsets[0]! + P - offsets[n - 1]!;
    for (let i = 1; i < n && gap > bestGap; i++) gap = Math.min(gap, offsets[i]! - offsets[i - 1]!);
    if (gap > bestGap) {
      bestGap = gap;
      best = s;
      if (gap >= ideal) break;
    }
  }
  return best;
}

export function deviceInfo(cfg: MachineConfig, name: string): DeviceInfo {
  const i = cfg.devices.findIndex((d) => d.name === name);
  const d = cfg.devices[i];
  if (!d) throw new Error(`no device named "${name}" in the configuration`);
  const info: DeviceInfo = { name, index: i, dma: d.dma, mapResource: d.ops.mapResource, coherent: d.coherent, mask: d.mask };
  if (d.domain !== undefined) info.domain = d.domain;
  return info;
}
