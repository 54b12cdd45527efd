// Measures the log: bytes per event and write/read throughput, on synthetic digests (codec only)
// and on real model runs (Machine.apply + outcome digest + log), and reader memory on a big log.
// Run: pnpm tsx bench/log-codec.ts [events] [dir]   (a tool, not part of the tests)

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import {
  defaultDevice, defaultDomain, defaultPlatform, LogReader, LogWriter, Machine, outcomeDigest, Prng, replay, type MachineConfig,
} from '../packages/core/src/index.ts';
import { syntheticMapUnmap } from '../packages/core/src/testing.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const dir = mkdtempSync(join(process.argv[3] ?? tmpdir(), 'dmasim-log-'));
const rate = (k: number, ms: number): string => `${(k / ms / 1000).toFixed(2)} M ev/s`;

function synthetic(): void {
  const cfg: MachineConfig = { profile: '6.18', seed: 1n, platform: defaultPlatform(), domains: [], devices: [defaultDevice('0000:01:00.0')] };
  for (const path of ['direct', 'swiotlb', 'iommu'] as const) {
    for (const devices of [8, 64]) {
      const recs = syntheticMapUnmap(5, n, { path, devices });
      const file = join(dir, `${path}-${devices}.dlog`);
      let t = performance.now();
      const w = LogWriter.open(file, { dmasim: 'measure', config: cfg }, { stateHash: () => 'feedfacecafebeef' });
      for (const r of recs) w.appendDigest(r.event, r.digest);
      w.close();
      const writeMs = performance.now() - t;
      const bytes = statSync(file).size;
      t = performance.now();
      const rd = LogReader.open(file);
      let k = 0;
      for (const _ of rd.records()) k++;
      rd.close();
      const readMs = performance.now() - t;
      if (k !== n || !rd.status.complete) throw new Error('read back wrong count');
      // The naive figure: one msgpackr record per event with shared structures.
      const naive = new Packr({ structures: [], int64AsType: 'bigint' });
      let naiveBytes = 0;
      const m = Math.min(n, 100_000);
      for (const r of recs.slice(0, m)) naiveBytes += naive.pack({ ...r.event, result: r.digest.result, error: r.digest.error, path: r.digest.path, tag: r.digest.hi }).length;
      console.log(
        `synthetic ${path.padEnd(8)} ${String(devices).padStart(2)} devs: ${(bytes / n).toFixed(2)} B/event (msgpackr shared-structure records: ${(naiveBytes / m).toFixed(1)}), ` +
          `write ${rate(n, writeMs)}, read+decode ${rate(n, readMs)}`,
      );
    }
  }
}

/** A ring workload on a real machine: each device maps ring buffers and unmaps the oldest. */
function model(kind: 'direct' | 'swiotlb' | 'iommu-strict' | 'iommu-lazy'): void {
  const ndev = 8;
  const cfg: MachineConfig = {
    profile: '6.18',
    seed: 1n,
    platform: { ...defaultPlatform(), dmaDebug: { enabled: false, numErrors: 1, allErrors: false } },
    domains: kind.startsWith('iommu') ? [{ ...defaultDomain('D0'), mode: kind === 'iommu-lazy' ? 'lazy' : 'strict' }] : [],
    devices: Array.from({ length: ndev }, (_, i) => ({
      ...defaultDevice(`0000:${(i + 1).toString(16).padStart(2, '0')}:00.0`, kind.startsWith('iommu') ? 'iommu' : 'direct'),
      ...(kind.startsWith('iommu') ? { domain: 'D0' } : {}),
      ...(kind === 'swiotlb' ? { mask: 32, coherentMask: 32 } : {}),
    })),
  };
  const drive = (m: Machine, each: (ev: Parameters<Machine['apply']>[0], o: ReturnType<Machine['apply']>) => void): void => {
    const prng = new Prng(9n);
    const rings = cfg.devices.map(() => [] as { addr: bigint; size: number }[]);
    const next = cfg.devices.map(() => 0);
    for (let i = 0; i < n; i++) {
      const d = prng.int(ndev);
      const dev = cfg.devices[d]!.name;
      const ring = rings[d]!;
      if (ring.length >= 32 || (ring.length > 0 && prng.next() < 0.45)) {
        const x = ring.shift()!;
        const ev = { op: 'unmap-page' as const, dev, cpu: d % 4, addr: x.addr, size: x.size, dir: 2, attrs: 0 };
        each(ev, m.apply(ev));
      } else {
        const size = [2048, 4096, 1500][d % 3]!;
        const phys = 0x1_0000_0000n + BigInt(d) * 0x100_0000n + BigInt((next[d]!++ % 64) * 4096);
        const ev = { op: 'map-page' as const, dev, cpu: d % 4, phys, size, dir: 2, attrs: 0 };
        const o = m.apply(ev);
        each(ev, o);
        if (!o.error) ring.push({ addr: o.result, size });
      }
    }
  };
  let t = performance.now();
  drive(new Machine(cfg), () => {});
  const applyMs = performance.now() - t;
  const file = join(dir, `model-${kind}.dlog`);
  t = performance.now();
  const m = new Machine(cfg);
  const w = LogWriter.open(file, { dmasim: 'measure', config: cfg }, { stateHash: () => m.stateHash() });
  drive(m, (ev, o) => w.append(ev, o));
  w.close(m.stateHash());
  const recMs = performance.now() - t;
  t = performance.now();
  let dg = 0;
  drive(new Machine(cfg), (_ev, o) => void (dg ^= outcomeDigest(o).hi));
  const digestMs = performance.now() - t - applyMs;
  t = performance.now();
  const r = replay(file);
  const replayMs = performance.now() - t;
  if (r.verdict !== 'identical') throw new Error(`replay ${r.verdict}`);
  console.log(
    `model ${kind.padEnd(12)}: ${(statSync(file).size / n).toFixed(2)} B/event; apply only ${rate(n, applyMs)}; ` +
      `apply+digest+log (fsync per batch) ${rate(n, recMs)}; digest alone ~${((digestMs / n) * 1e6).toFixed(0)} ns/ev; replay ${rate(n, replayMs)}`,
  );
}

function memory(): void {
  const big = Number(process.argv[4] ?? 0);
  if (!big) return;
  const cfg: MachineConfig = { profile: '6.18', seed: 1n, platform: defaultPlatform(), domains: [], devices: [defaultDevice('0000:01:00.0')] };
  const file = join(dir, 'big.dlog');
  const w = LogWriter.open(file, { dmasim: 'measure', config: cfg }, { stateHash: () => 'feedfacecafebeef', fsync: false });
  const chunk = 1_000_000;
  for (let done = 0; done < big; done += chunk) for (const r of syntheticMapUnmap(done, Math.min(chunk, big - done), { devices: 64 })) w.appendDigest(r.event, r.digest);
  w.close();
  global.gc?.();
  const rd = LogReader.open(file);
  let k = 0;
  const rss: string[] = [];
  for (const _x of rd.records()) if (++k % 1_000_000 === 0) rss.push(`${k / 1e6}M:${(process.memoryUsage().rss / 2 ** 20).toFixed(0)}MiB`);
  console.log(`reader over ${big} events (${(statSync(file).size / 2 ** 20).toFixed(0)} MiB): RSS ${rss.join(' ')}`);
}

const only = process.env.MEASURE;
if (!only || only === 'synthetic') synthetic();
if (!only || only === 'model') for (const k of ['direct', 'swiotlb', 'iommu-strict', 'iommu-lazy'] as const) {
  try {
    model(k);
  } catch (e) {
    console.log(`model ${k}: not measured (${(e as Error).message})`);
  }
}
if (!only || only === 'memory') memory();
rmSync(dir, { recursive: true });
