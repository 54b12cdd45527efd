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

/**
 * A private RAM window per device for its buffers, carved from the upper half of the largest RAM
 * region (so on the default machine buffers sit above 4 GiB and 32-bit devices really bounce).
 */
export function deviceRegions(cfg: MachineConfig, n: number): { base: bigint; size: bigint }[] {
  const ram = [...cfg.platform.ram].sort((a, b) => (b.size > a.size ? 1 : b.size < a.size ? -1 : 0))[0];
  if (!ram || n === 0) return [];
  // The upper half: above 4 GiB on the default 8 GiB machine, away from the low swiotlb pool.
  const low = ram.base + ram.size / 2n;
  const span = ram.base + ram.size - low;
  let each = span / BigInt(n);
  if (each > 256n * MiB) each = 256n * MiB;
  each &= ~(MiB - 1n);
  if (each < MiB) each = span / BigInt(n) & ~0xfffn;
  return Array.from({ length: n }, (_, i) => ({ base: low + BigInt(i) * each, size: each }));
}

export function deviceInfo(cfg: MachineConfig, name: string): DeviceInfo {
  const i = cfg.devices.findIndex((d) => d.name === name);
  const d = cfg.devices[i];
  if (!d) throw new Error(`no device named "${name}" in the configuration`);
  const info: DeviceInfo = { name, index: i, dma: d.dma, mapResource: d.ops.mapResource, coherent: d.coherent, mask: d.mask };
  if (d.domain !== undefined) info.domain = d.domain;
  return info;
}
