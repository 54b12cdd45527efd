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


export const arbDigest: fc.Arbitrary<OutcomeDigest> = fc.record(
  {
    result: fc.oneof(u64, fc.bigInt({ min: -(1n << 63n), max: -1n }), fc.constantFrom(-12n, -5n, (1n << 64n) - 1n)),
    error: fc.boolean(),
    path: fc.constantFrom(...PATHS),
    hi: fc.nat(0xffffffff),
    lo: fc.nat(0xffffffff),
    thrown: fc.constantFrom('KERNEL_BUG', 'MODEL_INPUT'),
  },
  { requiredKeys: ['result', 'error', 'path', 'hi', 'lo'] },
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
  const detail = (): { hi: number; lo: number } => {
    const v = prng.nextU64();
    return { hi: Number(v >> 32n), lo: Number(v & 0xffffffffn) };
  };
  while (out.length < n) {
    const d = devs[prng.int(ndev)]!;
    if (d.live.length >= ring || (d.live.length > 0 && prng.next() < 0.4)) {
      const m = d.live.shift()!;
      out.push({
        event: { op: 'unmap-page', dev: d.name, cpu: d.cpu, addr: m.addr, size: m.size, dir: d.dir, attrs: 0 },
        digest: { result: 0n, error: false, path: o.path ?? 'direct', ...detail() },
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
      digest: { result: addr, error: false, path: o.path ?? 'direct', ...detail() },
    });
  }
  return out;
}

/** The machine the format-version fixtures (fixtures/*.dlog) were recorded on: a 64-bit NIC on
 *  dma-direct and a 32-bit device whose buffers above 4 GiB bounce through swiotlb. */
export const FIXTURE_NIC = '0000:01:00.0';
export const FIXTURE_OLD = '0000:02:00.0';

/**
 * The workload of the fixtures: maps and unmaps on both devices, the CPU filling to-device
 * buffers, devices reading them (reads return data: the outcome digest folds it), devices writing
 * from-device buffers, sync-for-cpu and CPU reads of the result, and a bad unmap now and then.
 * Deterministic for a seed. `apply` is the machine's apply (a RecordingMachine records it).
 */
export function fixtureWorkload(apply: (ev: Event) => { result: bigint; error: boolean }, n: number, seed: bigint): void {
  const prng = new Prng(seed);
  const live: { dev: string; phys: bigint; addr: bigint; size: number; dir: number }[] = [];
  const bytes = (k: number): Uint8Array => Uint8Array.from({ length: k }, () => prng.int(256));
  for (let i = 0; i < n; i++) {
    const cpu = prng.int(4);
    const roll = prng.int(12);
    if (roll < 4 || live.length === 0) {
      const dev = prng.int(2) ? FIXTURE_NIC : FIXTURE_OLD;
      const phys = 0x1_0000_0000n + BigInt(prng.int(1 << 12)) * 4096n + BigInt(prng.int(64)) * 8n;
      const size = [64, 1500, 4096, 9000][prng.int(4)]!;
      const dir = 1 + prng.int(2);
      if (dir === 1) {
        if (size <= 1500) apply({ op: 'cpu-write', cpu, phys, size, data: bytes(size) });
        else apply({ op: 'cpu-write', cpu, phys, size, fill: 1 + prng.int(255) });
      }
      const out = apply({ op: 'map-page', dev, cpu, phys, size, dir, attrs: 0 });
      if (!out.error) live.push({ dev, phys, addr: out.result, size, dir });
    } else if (roll < 7) {
      const x = live[prng.int(live.length)]!;
      const len = Math.min(x.size, 1 + prng.int(1600));
      if (x.dir === 1) apply({ op: 'dev-read', dev: x.dev, cpu, addr: x.addr, size: len });
      else if (prng.int(3) === 0) apply({ op: 'dev-write', dev: x.dev, cpu, addr: x.addr, size: len, fill: prng.int(256) });
      else apply({ op: 'dev-write', dev: x.dev, cpu, addr: x.addr, size: len, data: bytes(len) });
    } else if (roll < 11) {
      const x = live.splice(prng.int(live.length), 1)[0]!;
      if (x.dir === 2) apply({ op: 'sync-for-cpu', dev: x.dev, cpu, addr: x.addr, size: x.size, dir: x.dir });
      apply({ op: 'unmap-page', dev: x.dev, cpu, addr: x.addr, size: x.size, dir: x.dir, attrs: 0 });
      apply({ op: 'cpu-read', cpu, phys: x.phys, size: Math.min(x.size, 2000) });
    } else {
      apply({ op: 'unmap-page', dev: FIXTURE_NIC, cpu, addr: 0xdead_0000n, size: 4096, dir: 1, attrs: 0 });
    }
  }
}
