// Test helpers for the log: fast-check arbitraries for every Event variant and outcome digest, and
// a synthetic map/unmap workload (ring buffers per device) for size and damage tests.
// Used by *.test.ts and the bench only.

import fc from 'fast-check';
import type { Event, Path } from '../events.ts';
import { Prng } from '../util/prng.ts';
import type { OutcomeDigest } from './digest.ts';

const DEVS = ['0000:01:00.0', '0000:02:00.0', 'fe300000.mmc'];
const PATHS: Path[] = ['direct', 'swiotlb', 'iommu', 'iommu-swiotlb', 'ops', 'none'];

const u64 = fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 1n << 36n }), fc.constant(0n));
const size = fc.oneof(fc.nat(1 << 20), fc.constantFrom(64, 2048, 4096, 65536));
const dir = fc.nat(3);
const attrs = fc.oneof(fc.constant(0), fc.nat((1 << 15) - 1));
const cpu = fc.nat(7);
const dev = fc.constantFrom(...DEVS);
const segs = fc.array(fc.record({ phys: u64, size }), { maxLength: 4 });
const sg = fc.record({ segments: segs, dma: fc.array(fc.record({ addr: u64, len: size }), { maxLength: 4 }) });
const data = fc.uint8Array({ maxLength: 64 });

/** fast-check builds records with a null prototype; events from JSON, YAML or code have Object's. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Any well-typed Event (optional fields absent, never undefined). */
export const arbEvent: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ op: fc.constantFrom('map-single', 'map-page', 'map-phys', 'map-resource'), dev, cpu, phys: u64, size, dir, attrs }),
  fc.record({ op: fc.constantFrom('unmap-single', 'unmap-page', 'unmap-phys', 'unmap-resource'), dev, cpu, addr: u64, size, dir, attrs }),
  fc.record({ op: fc.constant('map-sg'), dev, cpu, segments: segs, dir, attrs }),
  fc.record({ op: fc.constant('unmap-sg'), dev, cpu, sg, dir, attrs }),
  fc.record({ op: fc.constantFrom('sync-for-cpu', 'sync-for-device'), dev, cpu, addr: u64, size, dir }),
  fc.record({ op: fc.constantFrom('sync-sg-for-cpu', 'sync-sg-for-device'), dev, cpu, sg, dir }),
  fc.record({ op: fc.constant('alloc-coherent'), dev, cpu, size, attrs }),
  fc.record({ op: fc.constant('free-coherent'), dev, cpu, addr: u64, size, attrs, cpuAddr: u64 }),
  fc.record({ op: fc.constant('mapping-error'), dev, cpu, addr: u64 }),
  fc.record({ op: fc.constant('set-mask'), dev, cpu, bits: fc.nat(64) }),
  fc.record({ op: fc.constantFrom('max-mapping-size', 'unbind'), dev, cpu }),
  fc.record({ op: fc.constant('dev-read'), dev, cpu, addr: u64, size }),
  fc.record({ op: fc.constant('dev-write'), dev, cpu, addr: u64, size, data, fill: fc.nat(255) }, { requiredKeys: ['op', 'dev', 'cpu', 'addr', 'size'] }),
  fc.record({ op: fc.constant('cpu-read'), cpu, phys: u64, size }),
  fc.record({ op: fc.constant('cpu-write'), cpu, phys: u64, size, data, fill: fc.nat(255) }, { requiredKeys: ['op', 'cpu', 'phys', 'size'] }),
  fc.record({ op: fc.constant('advance-time'), cpu, byNs: fc.nat(2 ** 40) }),
  fc.record({ op: fc.constant('flush-iotlb'), cpu, domain: fc.constantFrom('D0', 'D1') }),
).map((e) => plain(e) as Event);

const hex16 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((b) => b.toString(16).padStart(16, '0'));

export const arbDigest: fc.Arbitrary<OutcomeDigest> = fc.record(
  {
    result: fc.oneof(u64, fc.bigInt({ min: -(1n << 63n), max: -1n }), fc.constantFrom(-12n, -5n, (1n << 64n) - 1n)),
    error: fc.boolean(),
    path: fc.constantFrom(...PATHS),
    detail: hex16,
    thrown: fc.constantFrom('KERNEL_BUG', 'MODEL_INPUT'),
  },
  { requiredKeys: ['result', 'error', 'path', 'detail'] },
).map((d) => plain(d) as OutcomeDigest);

/** An event with a digest whose result refers back to the event (maps return near their phys). */
export const arbRecord: fc.Arbitrary<{ event: Event; digest: OutcomeDigest }> = fc.tuple(arbEvent, arbDigest, fc.nat(3)).map(([event, digest, k]) => {
  const e = event as { phys?: bigint; addr?: bigint };
  const base = e.phys ?? e.addr;
  if (base !== undefined && k === 0) return { event, digest: { ...digest, result: base } };
  return { event, digest };
});

export interface SyntheticOpts {
  devices?: number;
  /** Buffers per device ring (live mappings per device). */
  ring?: number;
  path?: 'direct' | 'swiotlb' | 'iommu';
  cpus?: number;
}

/**
 * A map/unmap workload: each device maps ring buffers and unmaps the oldest once its ring is full,
 * devices interleaved at random. Results imitate the path (identity, swiotlb slots, top-down IOVAs).
 */
export function syntheticMapUnmap(seed: number, n: number, o: SyntheticOpts = {}): { event: Event; digest: OutcomeDigest }[] {
  const prng = new Prng(BigInt(seed));
  const ndev = o.devices ?? 8;
  const ring = o.ring ?? 64;
  const cpus = o.cpus ?? 4;
  const out: { event: Event; digest: OutcomeDigest }[] = [];
  const devs = Array.from({ length: ndev }, (_, i) => ({
    name: `0000:${(i + 1).toString(16).padStart(2, '0')}:00.0`,
    bufBase: 0x1_0000_0000n + BigInt(i) * 0x1000_0000n + BigInt(prng.int(1 << 20)) * 64n,
    bufSize: [2048, 4096, 1500, 65536][i % 4]!,
    dir: (i % 3) as 0 | 1 | 2,
    cpu: i % cpus,
    live: [] as { addr: bigint; size: number }[],
    next: 0,
    iova: 0xffff_f000n - BigInt(i) * 0x1000_0000n,
  }));
  let slot = 0x8000_0000n;
  const detail = (): string => prng.nextU64().toString(16).padStart(16, '0');
  while (out.length < n) {
    const d = devs[prng.int(ndev)]!;
    if (d.live.length >= ring || (d.live.length > 0 && prng.next() < 0.4)) {
      const m = d.live.shift()!;
      out.push({
        event: { op: 'unmap-page', dev: d.name, cpu: d.cpu, addr: m.addr, size: m.size, dir: d.dir, attrs: 0 },
        digest: { result: 0n, error: false, path: o.path ?? 'direct', detail: detail() },
      });
      continue;
    }
    const phys = d.bufBase + BigInt((d.next++ % (ring * 2)) * d.bufSize);
    const size = d.bufSize;
    let addr = phys;
    if (o.path === 'swiotlb') {
      addr = slot + (phys & 0x7ffn);
      slot += BigInt(Math.ceil(size / 2048) * 2048);
      if (slot > 0xc000_0000n) slot = 0x8000_0000n;
    } else if (o.path === 'iommu') {
      d.iova -= BigInt(Math.ceil(size / 4096) * 4096);
      addr = d.iova + (phys & 0xfffn);
    }
    d.live.push({ addr, size });
    out.push({
      event: { op: 'map-page', dev: d.name, cpu: d.cpu, phys, size, dir: d.dir, attrs: 0 },
      digest: { result: addr, error: false, path: o.path ?? 'direct', detail: detail() },
    });
  }
  return out;
}
