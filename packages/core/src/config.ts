// The machine's configuration: what a scenario's platform/domains/devices sections (or a stress
// run's defaults) describe, normalised. Everything here is plain data and goes into the log header.

export type Profile = '6.17' | '6.18';
export const PROFILES: readonly Profile[] = ['6.17', '6.18'];
export const DEFAULT_PROFILE: Profile = '6.18';

export interface RamRegion { base: bigint; size: bigint }
export interface MmioRegion { name: string; base: bigint; size: bigint }

export interface SwiotlbConfig {
  /** Number of 2 KiB slots; 0 = no pool. Rounded up to a multiple of 128 (IO_TLB_SEGSIZE). */
  slots: number;
  /** Number of areas; undefined = cpus rounded up to a power of two (limited as the kernel does). */
  areas?: number;
  /** swiotlb=force: bounce every streaming mapping. */
  force: boolean;
  /** Physical base of the pool; undefined = placed in low memory below 4 GiB. */
  base?: bigint;
}

export interface PlatformConfig {
  cpus: number;
  pageSize: number;
  ram: RamRegion[];
  mmio: MmioRegion[];
  swiotlb: SwiotlbConfig;
  iommu: { forcedac: boolean };
  dmaDebug: { enabled: boolean; numErrors: number; allErrors: boolean };
}

export interface DomainConfig {
  name: string;
  mode: 'strict' | 'lazy';
  granule: number;
  apertureBits: number;
  fq: { size: number; timeoutNs: number };
}

export interface DmaRange { cpu: bigint; dma: bigint; size: bigint }

export interface DeviceConfig {
  name: string;
  driver: string;
  dma: 'direct' | 'iommu' | 'ops';
  domain?: string;
  ops: { mapResource: boolean };
  /** dma_set_mask(DMA_BIT_MASK(n)) at probe; null = the device has no dma_mask. */
  mask: number | null;
  coherentMask: number;
  busLimit: bigint;
  coherent: boolean;
  untrusted: boolean;
  pci: boolean;
  minAlignMask: number;
  dmaRanges: DmaRange[];
}

export interface MachineConfig {
  profile: Profile;
  seed: bigint;
  platform: PlatformConfig;
  domains: DomainConfig[];
  devices: DeviceConfig[];
}

const GiB = 1n << 30n;

export function defaultPlatform(): PlatformConfig {
  return {
    cpus: 4,
    pageSize: 4096,
    ram: [{ base: 0n, size: 8n * GiB }],
    mmio: [],
    swiotlb: { slots: 32768, force: false },
    iommu: { forcedac: false },
    dmaDebug: { enabled: true, numErrors: 1, allErrors: false },
  };
}

export function defaultDomain(name: string): DomainConfig {
  return { name, mode: 'strict', granule: 4096, apertureBits: 48, fq: { size: 256, timeoutNs: 10_000_000 } };
}

export function defaultDevice(name: string, dma: DeviceConfig['dma'] = 'direct'): DeviceConfig {
  return {
    name,
    driver: 'dmasim',
    dma,
    ops: { mapResource: false },
    mask: 64,
    coherentMask: 64,
    busLimit: 0n,
    coherent: true,
    untrusted: false,
    pci: true,
    minAlignMask: 0,
    dmaRanges: [],
  };
}
