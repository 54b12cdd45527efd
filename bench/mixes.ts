// The benchmark's event mixes: a machine configuration plus, per device, a seeded workload from
// @dmasim/workers (nic-rx, nic-tx, nvme, coherent-rings, gpu-p2p) — real driver-shaped DMA API
// usage (map, mapping-error, device write/read, sync, unmap, map-sg, coherent rings), never a
// hand-rolled event list. The same mix runs in a fixed recorded log (replay figures) and live
// through device workers (pipeline figures); only the device count changes.

import {
  defaultDevice, defaultDomain, defaultPlatform, type DeviceConfig, type DomainConfig, type MachineConfig,
} from '../packages/core/src/index.ts';
import { defaultStressPlatform, type ProgramAssignment } from '../packages/workers/src/index.ts';

export const MIX_NAMES = ['direct-only', 'swiotlb-heavy', 'iommu-strict', 'iommu-lazy', 'mixed'] as const;
export type MixName = (typeof MIX_NAMES)[number];

export interface MixRun {
  config: MachineConfig;
  programs: ProgramAssignment[];
}

export interface Mix {
  name: MixName;
  summary: string;
  /** `devices` devices, each issuing about `opsPerDevice` DMA API calls, from `seed`. */
  build(devices: number, opsPerDevice: number, seed: bigint): MixRun;
}

interface Role { driver: string; workload: string; params: Record<string, string | number> }

/** The device roles a single-path mix cycles through: RX and TX NICs (unmap and page_pool-style sync recycling), and NVMe. */
const ROLES: Role[] = [
  { driver: 'mlx5_core', workload: 'nic-rx', params: { recycle: 'unmap' } },
  { driver: 'ixgbe', workload: 'nic-tx', params: {} },
  { driver: 'nvme', workload: 'nvme', params: {} },
  { driver: 'i40e', workload: 'nic-rx', params: { recycle: 'sync' } },
];

function bdf(i: number): string {
  return `0000:${(i + 1).toString(16).padStart(2, '0')}:00.0`;
}

function singlePath(devices: number, opsPerDevice: number, seed: bigint, dev: (i: number) => DeviceConfig, domains: DomainConfig[], tweak?: (c: MachineConfig) => void): MixRun {
  const platform = defaultPlatform();
  const config: MachineConfig = { profile: '6.18', seed, platform, domains, devices: [] };
  const programs: ProgramAssignment[] = [];
  for (let i = 0; i < devices; i++) {
    const role = ROLES[i % ROLES.length]!;
    const d = dev(i);
    d.driver = role.driver;
    config.devices.push(d);
    programs.push({ dev: d.name, program: { kind: 'workload', workload: role.workload, params: { ...role.params, ops: opsPerDevice } } });
  }
  tweak?.(config);
  return { config, programs };
}

function iommuMix(mode: 'strict' | 'lazy') {
  return (devices: number, ops: number, seed: bigint): MixRun => {
    // One default domain per device, as each PCI device in its own IOMMU group gets.
    const domains = Array.from({ length: devices }, (_, i) => ({ ...defaultDomain(`D${i}`), mode }));
    return singlePath(devices, ops, seed, (i) => ({ ...defaultDevice(bdf(i), 'iommu'), domain: `D${i}` }), domains);
  };
}

export const MIXES: Record<MixName, Mix> = {
  'direct-only': {
    name: 'direct-only',
    summary: '64-bit devices on dma-direct: NIC RX (unmap and sync recycling), NIC TX, NVMe SGLs',
    build: (n, ops, seed) => singlePath(n, ops, seed, (i) => defaultDevice(bdf(i), 'direct'), []),
  },
  'swiotlb-heavy': {
    name: 'swiotlb-heavy',
    summary: '32-bit devices on dma-direct with buffers above 4 GiB: every streaming map bounces through swiotlb (256 MiB pool)',
    build: (n, ops, seed) =>
      singlePath(n, ops, seed, (i) => ({ ...defaultDevice(bdf(i), 'direct'), mask: 32, coherentMask: 32 }), [], (c) => {
        c.platform.swiotlb = { ...c.platform.swiotlb, slots: 131072 };
      }),
  },
  'iommu-strict': {
    name: 'iommu-strict',
    summary: 'devices behind an IOMMU, one strict domain each: IOVA alloc + IOTLB flush on every unmap',
    build: iommuMix('strict'),
  },
  'iommu-lazy': {
    name: 'iommu-lazy',
    summary: 'devices behind an IOMMU, one lazy domain each: IOVAs freed through the flush queue',
    build: iommuMix('lazy'),
  },
  mixed: {
    name: 'mixed',
    summary: "dmasim stress's default platform: direct, strict and shared lazy IOMMU domains, dma_map_ops, a 32-bit device, coherent rings, GPU p2p",
    build: (n, ops, seed) => {
      const p = defaultStressPlatform(n, seed);
      return {
        config: p.config,
        programs: p.config.devices.map((d, i) => ({ dev: d.name, program: { kind: 'workload', workload: p.workloads[i]!, params: { ops } } })),
      };
    },
  },
};

export function parseMixes(list: string | undefined): MixName[] {
  if (!list) return [...MIX_NAMES];
  const out: MixName[] = [];
  for (const m of list.split(',')) {
    if (!(MIX_NAMES as readonly string[]).includes(m)) throw new Error(`unknown mix "${m}" (known: ${MIX_NAMES.join(', ')})`);
    out.push(m as MixName);
  }
  return out;
}
