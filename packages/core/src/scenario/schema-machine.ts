// Scenario schema, machine part: `platform`, `domains`, `devices` → PlatformConfig, DomainConfig[],
// DeviceConfig[] (config.ts), starting from defaultPlatform/defaultDomain/defaultDevice.
//
// Hand-written rather than zod: every scalar needs our own grammar (exact 64-bit hex, binary-unit
// sizes, durations), and every message must point at the YAML node with the key path. Walking the
// YAML nodes directly gives both; a zod schema would need the same custom parsers plus a
// translation of its issue paths back to node positions.

import type { Node } from 'yaml';
import { defaultDevice, defaultDomain, defaultPlatform, type DeviceConfig, type DmaRange, type DomainConfig, type MmioRegion, type PlatformConfig, type RamRegion } from '../config.ts';
import { U64_MAX } from '../util/hex.ts';
import { sub, type Reader } from './reader.ts';

const MAX_CPUS = 1024;
/** 2^21 slots = a 4 GiB pool: more than any real swiotlb, and still cheap to model. */
const MAX_SWIOTLB_SLOTS = 1 << 21;

const isPow2 = (x: bigint): boolean => x > 0n && (x & (x - 1n)) === 0n;

export function readPlatform(r: Reader, node: Node | null, path: string): PlatformConfig {
  const p = defaultPlatform();
  if (node === null || r.isNothing(r.deref(node))) return p;
  const m = r.map(node, path, ['cpus', 'page-size', 'ram', 'mmio', 'swiotlb', 'iommu', 'dma-debug']);
  if (m.has('cpus')) p.cpus = r.int(m.get('cpus'), m.path_('cpus'), 1, MAX_CPUS);
  if (m.has('page-size')) {
    const ps = r.big(m.get('page-size'), m.path_('page-size'), 4096n, 65536n, 'a power of two from 4KiB to 64KiB');
    if (!isPow2(ps)) r.expected(m.get('page-size'), m.path_('page-size'), 'a power of two from 4KiB to 64KiB');
    p.pageSize = Number(ps);
  }
  const regions: { base: bigint; size: bigint; path: string; node: Node | null }[] = [];
  if (m.has('ram')) {
    p.ram = r.seq(m.get('ram'), m.path_('ram')).map(({ node: n, path: ip }): RamRegion => {
      const rm = r.map(n, ip, ['base', 'size']);
      const reg = readRegion(r, rm.get('base'), rm.need('size'), ip);
      regions.push({ ...reg, path: ip, node: n });
      return reg;
    });
    if (p.ram.length === 0) r.fail(m.get('ram'), m.path_('ram'), 'expected at least one RAM region');
  } else {
    for (const reg of p.ram) regions.push({ ...reg, path: 'platform.ram (default)', node: null });
  }
  if (m.has('mmio')) {
    const names = new Set<string>();
    p.mmio = r.seq(m.get('mmio'), m.path_('mmio')).map(({ node: n, path: ip }): MmioRegion => {
      const mm = r.map(n, ip, ['name', 'base', 'size']);
      const name = r.str(mm.need('name'), mm.path_('name'), 'a region name');
      if (names.has(name)) r.fail(mm.get('name'), mm.path_('name'), `duplicate MMIO region name "${name}"`);
      names.add(name);
      const reg = readRegion(r, mm.need('base'), mm.need('size'), ip);
      regions.push({ ...reg, path: ip, node: n });
      return { name, ...reg };
    });
  }
  for (let i = 0; i < regions.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = regions[i]!;
      const b = regions[j]!;
      if (a.base < b.base + b.size && b.base < a.base + a.size) r.fail(a.node, a.path, `overlaps ${b.path}`);
    }
  }
  if (m.has('swiotlb')) {
    const s = r.map(m.get('swiotlb'), m.path_('swiotlb'), ['slots', 'areas', 'force', 'base']);
    if (s.has('slots')) p.swiotlb.slots = r.int(s.get('slots'), s.path_('slots'), 0, MAX_SWIOTLB_SLOTS);
    if (s.has('areas')) {
      const a = r.big(s.get('areas'), s.path_('areas'), 1n, BigInt(MAX_CPUS), `a power of two from 1 to ${MAX_CPUS}`);
      if (!isPow2(a)) r.expected(s.get('areas'), s.path_('areas'), `a power of two from 1 to ${MAX_CPUS}`);
      p.swiotlb.areas = Number(a);
    }
    if (s.has('force')) p.swiotlb.force = r.bool(s.get('force'), s.path_('force'));
    if (s.has('base')) p.swiotlb.base = r.big(s.get('base'), s.path_('base'), 0n, U64_MAX - 0x7ffn, 'a 2 KiB-aligned physical address (the slot size)');
    const base = p.swiotlb.base;
    if (base !== undefined && base % 2048n !== 0n) r.expected(s.get('base'), s.path_('base'), 'a 2 KiB-aligned physical address (the slot size)');
    if (base !== undefined && p.swiotlb.slots > 0 && !p.ram.some((x) => base >= x.base && base < x.base + x.size)) {
      r.fail(s.get('base'), s.path_('base'), 'the swiotlb pool must start in RAM (platform.ram)');
    }
  }
  if (m.has('iommu')) {
    const im = r.map(m.get('iommu'), m.path_('iommu'), ['forcedac']);
    if (im.has('forcedac')) p.iommu.forcedac = r.bool(im.get('forcedac'), im.path_('forcedac'));
  }
  if (m.has('dma-debug')) {
    const d = r.map(m.get('dma-debug'), m.path_('dma-debug'), ['enabled', 'num-errors', 'all-errors']);
    if (d.has('enabled')) p.dmaDebug.enabled = r.bool(d.get('enabled'), d.path_('enabled'));
    if (d.has('num-errors')) p.dmaDebug.numErrors = r.int(d.get('num-errors'), d.path_('num-errors'), 0, 0x7fffffff);
    if (d.has('all-errors')) p.dmaDebug.allErrors = r.bool(d.get('all-errors'), d.path_('all-errors'));
  }
  return p;
}

function readRegion(r: Reader, baseNode: Node | null, sizeNode: Node, path: string): RamRegion {
  const base = baseNode === null ? 0n : r.big(baseNode, sub(path, 'base'), 0n, U64_MAX, 'a physical address (0..2^64-1)');
  const size = r.big(sizeNode, sub(path, 'size'), 1n, U64_MAX, 'a size of at least 1 byte');
  if (base + size - 1n > U64_MAX) r.fail(sizeNode, sub(path, 'size'), 'region runs past the end of the 64-bit physical address space');
  return { base, size };
}

export function readDomains(r: Reader, node: Node | null, path: string): DomainConfig[] {
  if (node === null || r.isNothing(r.deref(node))) return [];
  const names = new Set<string>();
  return r.seq(node, path).map(({ node: n, path: ip }) => {
    const m = r.map(n, ip, ['name', 'mode', 'granule', 'aperture-bits', 'fq']);
    const name = r.str(m.need('name'), m.path_('name'), 'a domain name');
    if (names.has(name)) r.fail(m.get('name'), m.path_('name'), `duplicate domain name "${name}"`);
    names.add(name);
    const d = defaultDomain(name);
    if (m.has('mode')) d.mode = r.oneOf(m.get('mode'), m.path_('mode'), ['strict', 'lazy'] as const);
    if (m.has('granule')) {
      const g = r.big(m.get('granule'), m.path_('granule'), 4096n, 1n << 30n, 'a power of two from 4KiB to 1GiB');
      if (!isPow2(g)) r.expected(m.get('granule'), m.path_('granule'), 'a power of two from 4KiB to 1GiB');
      d.granule = Number(g);
    }
    if (m.has('aperture-bits')) d.apertureBits = r.int(m.get('aperture-bits'), m.path_('aperture-bits'), 32, 64);
    if (m.has('fq')) {
      if (d.mode !== 'lazy') r.fail(m.get('fq'), m.path_('fq'), 'a flush queue belongs to a lazy domain (set mode: lazy)');
      const f = r.map(m.get('fq'), m.path_('fq'), ['size', 'timeout']);
      if (f.has('size')) {
        const q = r.big(f.get('size'), f.path_('size'), 2n, 1n << 16n, 'a power of two from 2 to 65536');
        if (!isPow2(q)) r.expected(f.get('size'), f.path_('size'), 'a power of two from 2 to 65536');
        d.fq.size = Number(q);
      }
      if (f.has('timeout')) d.fq.timeoutNs = r.duration(f.get('timeout'), f.path_('timeout'));
    }
    return d;
  });
}

const DEVICE_KEYS = ['name', 'driver', 'dma', 'domain', 'ops', 'mask', 'coherent-mask', 'bus-limit', 'coherent', 'untrusted', 'pci', 'min-align-mask', 'dma-ranges'] as const;

export function readDevices(r: Reader, node: Node | null, path: string, domains: DomainConfig[]): DeviceConfig[] {
  if (node === null || r.isNothing(r.deref(node))) return [];
  const names = new Set<string>();
  return r.seq(node, path).map(({ node: n, path: ip }) => {
    const m = r.map(n, ip, DEVICE_KEYS);
    const name = r.str(m.need('name'), m.path_('name'), 'a device name (dev_name(), e.g. "0000:01:00.0")');
    if (names.has(name)) r.fail(m.get('name'), m.path_('name'), `duplicate device name "${name}"`);
    names.add(name);
    const dma = m.has('dma') ? r.oneOf(m.get('dma'), m.path_('dma'), ['direct', 'iommu', 'ops'] as const) : 'direct';
    const d = defaultDevice(name, dma);
    if (m.has('driver')) d.driver = r.str(m.get('driver'), m.path_('driver'), 'a driver name');
    if (dma === 'iommu') {
      const dom = r.str(m.need('domain'), m.path_('domain'), 'a domain name');
      if (!domains.some((x) => x.name === dom)) {
        const known = domains.map((x) => x.name).join(', ');
        r.fail(m.get('domain'), m.path_('domain'), `no domain "${dom}" in domains (${known ? 'declared: ' + known : 'none declared'})`);
      }
      d.domain = dom;
    } else if (m.has('domain')) {
      r.fail(m.get('domain'), m.path_('domain'), `only a device with dma: iommu has a domain (this one has dma: ${dma})`);
    }
    if (m.has('ops')) {
      if (dma !== 'ops') r.fail(m.get('ops'), m.path_('ops'), `only a device with dma: ops has ops (this one has dma: ${dma})`);
      const o = r.map(m.get('ops'), m.path_('ops'), ['map-resource']);
      if (o.has('map-resource')) d.ops.mapResource = r.bool(o.get('map-resource'), o.path_('map-resource'));
    }
    if (m.has('mask')) d.mask = readMask(r, m.get('mask'), m.path_('mask'));
    d.coherentMask = m.has('coherent-mask')
      ? r.int(m.get('coherent-mask'), m.path_('coherent-mask'), 0, 64, '0..64')
      : (d.mask ?? 32); // no dma_mask: DMA_BIT_MASK(32), the default dma_get_mask() reports
    if (m.has('bus-limit')) d.busLimit = r.big(m.get('bus-limit'), m.path_('bus-limit'), 0n, U64_MAX, 'a bus address limit (0 = none)');
    if (m.has('coherent')) d.coherent = r.bool(m.get('coherent'), m.path_('coherent'));
    if (m.has('untrusted')) d.untrusted = r.bool(m.get('untrusted'), m.path_('untrusted'));
    if (m.has('pci')) d.pci = r.bool(m.get('pci'), m.path_('pci'));
    if (m.has('min-align-mask')) {
      const v = r.big(m.get('min-align-mask'), m.path_('min-align-mask'), 0n, 0xffffffffn, 'a low-bit mask such as 0xfff (2^n - 1)');
      if ((v & (v + 1n)) !== 0n) r.expected(m.get('min-align-mask'), m.path_('min-align-mask'), 'a low-bit mask such as 0xfff (2^n - 1)');
      d.minAlignMask = Number(v);
    }
    if (m.has('dma-ranges')) d.dmaRanges = readDmaRanges(r, m.get('dma-ranges'), m.path_('dma-ranges'));
    return d;
  });
}

function readMask(r: Reader, node: Node | null, path: string): number | null {
  const n = r.deref(node);
  if (n !== null && !r.isNothing(n) && r.text(n, path) === 'none') return null;
  return r.int(n, path, 1, 64, '1..64 or "none"');
}

function readDmaRanges(r: Reader, node: Node | null, path: string): DmaRange[] {
  return r.seq(node, path).map(({ node: n, path: ip }) => {
    const m = r.map(n, ip, ['cpu', 'dma', 'size']);
    const cpu = r.big(m.need('cpu'), m.path_('cpu'), 0n, U64_MAX, 'a CPU physical address');
    const dma = r.big(m.need('dma'), m.path_('dma'), 0n, U64_MAX, 'a bus address');
    const size = r.big(m.need('size'), m.path_('size'), 1n, U64_MAX, 'a size of at least 1 byte');
    if (cpu + size - 1n > U64_MAX || dma + size - 1n > U64_MAX) r.fail(m.get('size'), m.path_('size'), 'range runs past the end of the 64-bit address space');
    return { cpu, dma, size };
  });
}
