// Device-side and CPU-side memory accesses (ours, not the kernel's). Without an IOMMU nothing stops
// a device: its bus address goes through dma-ranges to a physical address (a swiotlb bounce
// address lands in the bounce slot) and the bytes move; dmasim checks the access against the
// device's live mappings and reports findings. IOMMU devices go through iommu_dev_access.

import type { Kernel } from '../kernel.ts';
import { ModelInputError } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import { hex016, U64_MAX } from '../util/hex.ts';
import { DIR_DEBUG_NAMES, DMA_FROM_DEVICE, DMA_TO_DEVICE } from './defs.ts';
import { dma_to_phys } from './dma-direct.ts';
import { exactStart, type LiveMapping } from './live.ts';
import { iommu_dev_access } from '../iommu/dma-iommu.ts';

/** The bytes a write carries: `data` (its length must be `size`) or `fill` (default 0). */
export function writeBytes(size: number, data: Uint8Array | undefined, fill: number | undefined): Uint8Array {
  if (data) {
    if (data.length !== size) throw new ModelInputError(`write data is ${data.length} bytes but size is ${size}`);
    return data;
  }
  return new Uint8Array(size).fill(fill ?? 0);
}

/** A size the fast path takes; anything else (invalid or huge) goes through writeBytes as before. */
function isLength(size: number): boolean {
  return Number.isSafeInteger(size) && size >= 0 && size <= 0x7fffffff;
}

function dirName(dir: number): string {
  return DIR_DEBUG_NAMES[dir] ?? String(dir);
}

/** May a device access of this kind touch this mapping? */
function allows(m: LiveMapping, write: boolean): boolean {
  if (m.kind === 'coherent') return true;
  return write ? m.dir !== DMA_TO_DEVICE : m.dir !== DMA_FROM_DEVICE;
}

/**
 * Walks [addr, addr+size) through the device's live bus spans. Returns null when every byte is
 * covered by a mapping that allows the access, else the finding it makes.
 */
function checkDeviceAccess(k: Kernel, dev: Device, addr: bigint, size: number, write: boolean): AccessFinding | null {
  const n = exactStart(addr, size);
  if (n >= 0 && size > 0) {
    // One mapping that holds the whole range and allows the access settles it, whatever else
    // overlaps: the walk below would find every byte covered.
    const m = k.live.coveringBus(dev.index, n, n + size);
    if (m !== null && allows(m, write)) return null;
  }
  const cands = k.live.overlappingBus(dev.index, addr, size);
  if (n >= 0) {
    let exact = true;
    for (let i = 0; i < cands.length; i++) if (!cands[i]!.busR) exact = false;
    if (exact) {
      const bad = checkDeviceAccessN(cands, n, n + size, write);
      if (bad === null && cands.length === 1) k.live.noteBus(dev.index, cands[0]!);
      return bad;
    }
  }
  const end = addr + BigInt(size);
  let pos = addr;
  let wrongDir: LiveMapping | undefined;
  while (pos < end) {
    let next = -1n;
    for (const m of cands) {
      for (const s of m.bus) {
        const sEnd = s.start + BigInt(s.len);
        if (pos < s.start || pos >= sEnd) continue;
        if (allows(m, write)) {
          if (sEnd > next) next = sEnd;
        } else wrongDir ??= m;
      }
    }
    if (next < 0n) return wrongDir ? { kind: 'direction-violation', m: wrongDir } : UNMAPPED;
    pos = next;
  }
  return null;
}

type AccessFinding = { kind: 'unmapped-access' | 'direction-violation'; m?: LiveMapping };
const UNMAPPED: AccessFinding = Object.freeze({ kind: 'unmapped-access' });

/** checkDeviceAccess's walk on numbers: every candidate's bus spans and the range are exact (same result). */
function checkDeviceAccessN(cands: readonly LiveMapping[], addr: number, end: number, write: boolean): AccessFinding | null {
  let pos = addr;
  let wrongDir: LiveMapping | undefined;
  while (pos < end) {
    let next = -1;
    for (let c = 0; c < cands.length; c++) {
      const m = cands[c]!;
      const r = m.busR!;
      for (let i = 0; i < r.length; i += 2) {
        const sEnd = r[i + 1]!;
        if (pos < r[i]! || pos >= sEnd) continue;
        if (allows(m, write)) {
          if (sEnd > next) next = sEnd;
        } else wrongDir ??= m;
      }
    }
    if (next < 0) return wrongDir ? { kind: 'direction-violation', m: wrongDir } : UNMAPPED;
    pos = next;
  }
  return null;
}

/** dev-read / dev-write on a direct or ops device (IOMMU devices delegate). Reads land in k.out.data. */
export function dev_access(k: Kernel, dev: Device, addr: bigint, size: number, write: boolean, data: Uint8Array | undefined, fill: number | undefined): void {
  // writeBytes checks data's length (bad input throws before anything changes); a fill is stored
  // without building a buffer for it.
  const bytes = write && (data || !isLength(size)) ? writeBytes(size, data, fill) : undefined;
  if (dev.dmaIommu) {
    k.out.path = 'iommu';
    iommu_dev_access(k, dev, addr, size, write, bytes, fill);
    return;
  }
  k.out.path = dev.hasOps ? 'ops' : 'direct';
  k.out.fault = 'none';
  const bad = checkDeviceAccess(k, dev, addr, size, write);
  if (bad?.kind === 'unmapped-access') {
    k.finding('unmapped-access', `${accessText(dev, addr, size, write)} outside every live mapping of the device`);
  } else if (bad?.m) {
    const m = bad.m;
    k.finding('direction-violation', `${accessText(dev, addr, size, write)} against the direction of its mapping [device address=${hex016(m.addr)}] [size=${m.size} bytes] [mapped with ${dirName(m.dir)}]`);
  }
  const phys = dma_to_phys(dev, addr);
  if (phys === U64_MAX) {
    // No dma-ranges window holds the address: the transaction reaches no memory. A read completes
    // with all-ones, as an unsupported request does on PCI.
    if (!bad) k.finding('unmapped-access', `${accessText(dev, addr, size, write)} outside every dma-ranges window of the device`);
    if (!write) k.out.data = new Uint8Array(size).fill(0xff);
    return;
  }
  if (write) storeBytes(k, phys, size, data, fill);
  else k.out.data = k.mem.read(phys, size);
}

/** Formatted only when a finding needs it (dev_access runs for every device access). */
function accessText(dev: Device, addr: bigint, size: number, write: boolean): string {
  return `${dev.name} ${write ? 'writes' : 'reads'} [device address=${hex016(addr)}] [size=${size} bytes]`;
}

/** What writeBytes + mem.write do, without building a buffer for a fill (same resulting contents). */
function storeBytes(k: Kernel, phys: bigint, size: number, data: Uint8Array | undefined, fill: number | undefined): void {
  if (data) k.mem.write(phys, data);
  else k.mem.fill(phys, size, (fill ?? 0) & 0xff);
}

/** The first (by id) of these mappings whose buffer a device owns; MMIO never counts. */
function deviceOwned(ms: readonly LiveMapping[]): LiveMapping | undefined {
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    if (m.owner === 'device' && !m.mmio) return m;
  }
  return undefined;
}

/** cpu-read / cpu-write of physical memory; touching a buffer a device owns is a finding. */
export function cpu_access(k: Kernel, phys: bigint, size: number, write: boolean, data: Uint8Array | undefined, fill: number | undefined): void {
  const bytes = write && (data || !isLength(size)) ? writeBytes(size, data, fill) : undefined;
  k.out.path = 'none';
  // MMIO resources are never synced (no CPU ownership), coherent buffers are shared by design.
  const owned = deviceOwned(k.live.overlappingCpu(phys, size));
  if (owned) {
    k.finding(
      'cpu-owned-violation',
      `CPU ${k.cpu} ${write ? 'writes' : 'reads'} [phys=${hex016(phys)}] [size=${size} bytes] while ${owned.devName} owns the buffer ` +
        `[device address=${hex016(owned.addr)}] [size=${owned.size} bytes] [mapped with ${dirName(owned.dir)}]`,
    );
  }
  if (write) storeBytes(k, phys, size, bytes, fill);
  else k.out.data = k.mem.read(phys, size);
}
