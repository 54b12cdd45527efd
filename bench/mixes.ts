// The benchmark's event mixes: a machine configuration plus, per device, a seeded workload from
// @dmasim/workers (nic-rx, nic-tx, nvme, coherent-rings, gpu-p2p) — real driver-shaped DMA API
// usage (map, mapping-error, device write/read, sync, unmap, map-sg, coherent rings), never a
// hand-rolled event list. The same mix runs in a fixed recorded log (replay figures) and live
// through device workers (pipeline figures); only the device count changes: every device count
// runs every role of the mix in the same proportions (`rolesOf`), so 2, 8 and 64 devices issue
// the same mix of events.

import {
  defaultDevice, defaultDomain, defaultPlatform, type DeviceConfig, type DomainConfig, type MachineConfig,
} from '../packages/core/src/index.ts';
import { defaultStressPlatform, formatQueues, MULTI_QUEUE, STRESS_WORKLOADS, type ProgramAssignment, type ProgramSpec } from '../packages/workers/src/index.ts';

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

interface Role { workload: string; params: Record<string, string | number> }
interface DeviceRole extends Role { driver: string }

/** The device roles a single-path mix cycles through: RX and TX NICs (unmap and page_pool-style sync recycling), and NVMe. */
const ROLES: DeviceRole[] = [
  { driver: 'mlx5_core', workload: 'nic-rx', params: { recycle: 'unmap' } },
  { driver: 'ixgbe', workload: 'nic-tx', params: {} },
  { driver: 'nvme', workload: 'nvme', params: {} },
  { driver: 'i40e', workload: 'nic-rx', params: { recycle: 'sync' } },
];

/**
 * The roles device `i` of `n` runs. With at least as many devices as roles, one: role i mod R (when
 * R divides n, every role on n / R devices). With fewer devices than roles, every role j with
 * j mod n = i, as the queues of one multi-queue device (RX, TX and I/O queues on one device): a
 * 2-device run has every role of the mix too, not just the first two.
 */
export function rolesOf<T>(roles: readonly T[], n: number, i: number): T[] {
  const r = roles.length;
  if (n >= r) return [roles[i % r]!];
  return roles.filter((_, j) => j % n === i);
}

/**
 * Device `i`'s program: its role's workload, or its roles as the queues of a multi-queue program
 * (turns of 64 calls). Each role issues opsPerDevice · n / R calls in all, whatever n: split over
 * the devices that run it, or one queue's share of its device's budget. When R divides n that is
 * opsPerDevice on every device, the programs of an 8- or 64-device run of a 4-role mix as before.
 */
export function programFor(roles: readonly Role[], n: number, i: number, opsPerDevice: number): ProgramSpec {
  const r = roles.length;
  const mine = rolesOf(roles, n, i);
  // Devices running role j: n / R of them when R divides n, one when n < R.
  const runners = n >= r ? Math.floor(n / r) + (i % r < n % r ? 1 : 0) : 1;
  const perRole = Math.ceil((opsPerDevice * n) / (r * runners));
  if (mine.length === 1) return { kind: 'workload', workload: mine[0]!.workload, params: { ...mine[0]!.params, ops: perRole } };
  return { kind: 'workload', workload: MULTI_QUEUE, params: { queues: formatQueues(mine), ops: perRole * mine.length } };
}

function bdf(i: number): string {
  return `0000:${(i + 1).toString(16).padStart(2, '0')}:00.0`;
}

function singlePath(devices: number, opsPerDevice: number, seed: bigint, dev: (i: number) => DeviceConfig, domains: DomainConfig[], tweak?: (c: MachineConfig) => void): MixRun {
  const platform = defaultPlatform();
  const config: MachineConfig = { profile: '6.18', seed, platform, domains, devices: [] };
  const programs: ProgramAssignment[] = [];
  for (let i = 0; i < devices; i++) {
    const d = dev(i);
    // A device running several roles keeps one configuration: its first role's driver.
    d.driver = rolesOf(ROLES, devices, i)[0]!.driver;
    config.devices.push(d);
    programs.push({ dev: d.name, program: programFor(ROLES, devices, i, opsPerDevice) });
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
      // The devices (drivers, DMA paths) are the platform's first n; the workloads are all of its
      // cycle, so with fewer than 8 devices each device runs several as queues.
      const p = defaultStressPlatform(n, seed);
      const roles = STRESS_WORKLOADS.map((workload): Role => ({ workload, params: {} }));
      return { config: p.config, programs: p.config.devices.map((d, i) => ({ dev: d.name, program: programFor(roles, n, i, ops) })) };
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
