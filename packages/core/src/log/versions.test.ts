// Log format versions: committed logs of older versions must keep replaying identically — same
// outcome digests, same state hashes — and new logs are version 4 and round-trip.
// fixtures/v1-small.dlog was recorded by the code before version 2 existed, fixtures/v2-mixed.dlog
// (the bench's `mixed` mix, 8 devices: dma-direct, swiotlb, strict and lazy IOMMU domains,
// scatterlists, coherent buffers, P2P) by the code before version 3, and fixtures/v3-mixed.dlog
// (the same mix, seed 1, 3890 events) by the code before version 4.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultDevice, defaultPlatform, type MachineConfig } from '../config.ts';
import { Machine } from '../machine.ts';
import { replay } from '../replay.ts';
import { outcomeDigest } from './digest.ts';
import { LOG_FORMAT_VERSION } from './format.ts';
import { LogReader } from './reader.ts';
import { RecordingMachine } from './record.ts';
import { FIXTURE_NIC, FIXTURE_OLD, fixtureWorkload } from './test-helpers.ts';
import { LogWriter } from './writer.ts';

const V1 = fileURLToPath(new URL('./fixtures/v1-small.dlog', import.meta.url));
const V2 = fileURLToPath(new URL('./fixtures/v2-mixed.dlog', import.meta.url));
const V3 = fileURLToPath(new URL('./fixtures/v3-mixed.dlog', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dmasim-versions-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fixture's machine and workload (test-helpers.ts): what the v1 fixture was recorded from. */
const config: MachineConfig = {
  profile: '6.18',
  seed: 11n,
  platform: { ...defaultPlatform(), swiotlb: { slots: 1024, force: false } },
  domains: [],
  devices: [defaultDevice(FIXTURE_NIC), { ...defaultDevice(FIXTURE_OLD), mask: 32, coherentMask: 32 }],
};
const EVENTS = 506;
const drive = (m: Machine): void => fixtureWorkload((ev) => m.apply(ev), 300, 5n);

describe('log format versions', () => {
  it('replays the committed version-1 log identically (byte-wise data digests, version-1 state hashes)', () => {
    const rd = LogReader.open(V1);
    expect(rd.version).toBe(1);
    expect(rd.header.format).toBe(1);
    rd.close();
    const r = replay(V1);
    expect(r.divergence).toBeUndefined();
    expect(r.verdict).toBe('identical');
    expect(r.events).toBe(EVENTS);
    expect(r.statesChecked).toBe(Math.floor(EVENTS / 40) + 1);
    expect(r.machine.hashVersion).toBe(1);
    expect(r.state).toBe(r.log.end?.state);
  });

  it('the fixture is what the workload records: version-1 state hash of a fresh run matches, version 2 differs', () => {
    const m = new Machine(config);
    drive(m);
    expect(m.eventCount).toBe(EVENTS);
    const v2 = m.stateHash();
    m.hashVersion = 1;
    const r = replay(V1);
    expect(m.stateHash()).toBe(r.log.end?.state);
    expect(v2).not.toBe(r.log.end?.state);
  });

  it('the fixture exercises the data fold: version 2 digests would not match its tags, version 1 digests all do', () => {
    const rd = LogReader.open(V1);
    const m = new Machine(rd.header.config);
    let withData = 0;
    let v2Differs = 0;
    for (const rec of rd.records()) {
      const out = m.apply(rec.event);
      expect(outcomeDigest(out, 1).hi).toBe(rec.tag);
      if (out.data) {
        withData++;
        if (outcomeDigest(out, 2).hi !== rec.tag) v2Differs++;
      } else expect(outcomeDigest(out, 2).hi).toBe(rec.tag);
    }
    rd.close();
    expect(withData).toBeGreaterThan(50);
    expect(v2Differs).toBe(withData);
    // A machine factory's default (version 2) does not matter: the log's version decides.
    expect(replay(V1, { machine: (c) => new Machine(c) }).verdict).toBe('identical');
  });

  it('replays the committed version-2 log identically (trace records folded by their text)', () => {
    const rd = LogReader.open(V2);
    expect(rd.version).toBe(2);
    rd.close();
    const r = replay(V2);
    expect(r.divergence).toBeUndefined();
    expect(r.verdict).toBe('identical');
    expect(r.events).toBe(3584);
    expect(r.machine.hashVersion).toBe(2);
    expect(r.state).toBe(r.log.end?.state);
  });

  it('the version-2 fixture exercises the trace fold: version 3 digests differ exactly where a call traced', () => {
    const rd = LogReader.open(V2);
    const m = new Machine(rd.header.config);
    const names = new Set<string>();
    let traced = 0;
    for (const rec of rd.records()) {
      const out = m.apply(rec.event);
      expect(outcomeDigest(out, 2).hi).toBe(rec.tag);
      if (out.trace.length > 0) {
        traced++;
        for (const t of out.trace) names.add(t.name);
        expect(outcomeDigest(out, 3).hi).not.toBe(rec.tag);
      } else expect(outcomeDigest(out, 3).hi).toBe(rec.tag);
    }
    rd.close();
    expect(traced).toBeGreaterThan(1000);
    for (const n of ['dma_map_phys', 'dma_unmap_phys', 'dma_map_sg', 'dma_unmap_sg', 'swiotlb_bounced', 'map', 'unmap', 'dma_alloc', 'dma_free']) expect(names).toContain(n);
  });

  it('replays the committed version-3 log identically (read data folded by words())', () => {
    const rd = LogReader.open(V3);
    expect(rd.version).toBe(3);
    rd.close();
    const r = replay(V3);
    expect(r.divergence).toBeUndefined();
    expect(r.verdict).toBe('identical');
    expect(r.events).toBe(3890);
    expect(r.machine.hashVersion).toBe(2);
    expect(r.state).toBe(r.log.end?.state);
  });

  it('the version-3 fixture exercises the data fold: version 4 digests differ exactly where a call read 16 bytes or more', () => {
    const rd = LogReader.open(V3);
    const m = new Machine(rd.header.config);
    let blocks = 0;
    for (const rec of rd.records()) {
      const out = m.apply(rec.event);
      expect(outcomeDigest(out, 3).hi).toBe(rec.tag);
      if (out.data && out.data.length >= 16) {
        blocks++;
        expect(outcomeDigest(out, 4).hi).not.toBe(rec.tag);
      } else expect(outcomeDigest(out, 4).hi).toBe(rec.tag);
    }
    rd.close();
    expect(blocks).toBeGreaterThan(500);
  });

  it('new logs are version 4 and replay identically, state marks and all', () => {
    const path = join(dir, 'v2.dlog');
    const w = LogWriter.open(path, { dmasim: 'test', config }, { batchEvents: 64, stateHashEvery: 25, stateHash: () => m.stateHash() });
    const m = new RecordingMachine(config, w);
    drive(m);
    const end = w.close(m.stateHash());
    const rd = LogReader.open(path);
    expect(rd.version).toBe(LOG_FORMAT_VERSION);
    expect(LOG_FORMAT_VERSION).toBe(4);
    rd.close();
    const r = replay(path);
    expect(r.verdict).toBe('identical');
    expect(r.events).toBe(EVENTS);
    expect(r.statesChecked).toBe(Math.floor(EVENTS / 25) + 1);
    expect(r.machine.hashVersion).toBe(3); // format 4 records state hash version 3 (the Hasher's word mode)
    expect(r.state).toBe(end.state);
    // The same run's version-1 and version-2 hashes are other values: the marks really are version 3's definition.
    m.hashVersion = 2;
    const v2 = m.stateHash();
    m.hashVersion = 1;
    const v1 = m.stateHash();
    expect(new Set([v1, v2, end.state]).size).toBe(3);
  });
});
