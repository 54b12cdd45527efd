import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultDevice, defaultPlatform, type MachineConfig } from './config.ts';
import type { Event } from './events.ts';
import { Machine } from './machine.ts';
import { encodeFrame, FRAME, FRAME_HEADER_BYTES, packr } from './log/format.ts';
import { LogReader } from './log/reader.ts';
import { LogWriter } from './log/writer.ts';
import { RecordingMachine } from './log/record.ts';
import { perturbedMachine, type Perturbation } from './log/perturb.ts';
import { replay, stateSummary, type DivergenceField } from './replay.ts';
import { Prng } from './util/prng.ts';

const dir = mkdtempSync(join(tmpdir(), 'dmasim-replay-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NIC = '0000:01:00.0';
const OLD = '0000:02:00.0'; // 32-bit mask: buffers above 4 GiB bounce through swiotlb
const config: MachineConfig = {
  profile: '6.18',
  seed: 7n,
  platform: { ...defaultPlatform(), swiotlb: { slots: 1024, force: false } },
  domains: [],
  devices: [defaultDevice(NIC), { ...defaultDevice(OLD), mask: 32, coherentMask: 32 }],
};

/** Drives a machine-level workload: maps and unmaps on two devices (direct and bounced) and some
 *  bad unmaps dma-debug reports; unmaps use the addresses the maps returned. */
function drive(m: Machine, n: number, seed: bigint): void {
  const prng = new Prng(seed);
  const live: { dev: string; addr: bigint; size: number; dir: number }[] = [];
  for (let i = 0; i < n; i++) {
    const cpu = prng.int(4);
    const roll = prng.int(10);
    if (roll < 4 || live.length === 0) {
      const dev = prng.int(2) ? NIC : OLD;
      const phys = 0x1_0000_0000n + BigInt(prng.int(1 << 16)) * 4096n;
      const size = [64, 1500, 4096, 9000][prng.int(4)]!;
      const dir = 1 + prng.int(2);
      const out = m.apply({ op: 'map-page', dev, cpu, phys, size, dir, attrs: 0 });
      if (!out.error) live.push({ dev, addr: out.result, size, dir });
    } else if (roll < 9) {
      const x = live.splice(prng.int(live.length), 1)[0]!;
      m.apply({ op: 'unmap-page', dev: x.dev, cpu, addr: x.addr, size: x.size, dir: x.dir, attrs: 0 });
    } else {
      m.apply({ op: 'unmap-page', dev: NIC, cpu, addr: 0xdead_0000n, size: 4096, dir: 1, attrs: 0 });
    }
  }
}

/** Records the workload through a RecordingMachine; returns the log path and the live machine. */
function record(name: string, n: number, opts: { batchEvents?: number; stateHashEvery?: number } = {}): { path: string; m: Machine } {
  const path = join(dir, name);
  const w = LogWriter.open(path, { dmasim: 'test', config }, { batchEvents: opts.batchEvents ?? 7, stateHashEvery: opts.stateHashEvery ?? 5, stateHash: () => m.stateHash() });
  const m = new RecordingMachine(config, w);
  drive(m, n, 3n);
  w.close(m.stateHash());
  return { path, m };
}

describe('replay', () => {
  it('replays a recorded run identically: every outcome, every state hash, the final state', () => {
    const { path, m } = record('ok.dlog', 200);
    const r = replay(path);
    expect(r.verdict).toBe('identical');
    expect(r.events).toBe(200);
    expect(r.state).toBe(m.stateHash());
    expect(r.statesChecked).toBe(200 / 5 + 1);
    expect(r.log.complete).toBe(true);
    // The run exercised more than one path, and dma-debug complained at least once.
    const paths = new Set<string>();
    replay(path, { onEvent: (_rec, o) => void (o && paths.add(o.path)) });
    expect([...paths].sort()).toEqual(expect.arrayContaining(['direct', 'swiotlb']));
  });

  const cases: [Perturbation, DivergenceField][] = [
    ['result', 'result'],
    ['error', 'error'],
    ['path', 'path'],
    ['trace', 'detail'],
  ];
  for (const [how, field] of cases) {
    it(`names event and field when the model changes the ${how} of one event`, () => {
      const { path } = record(`perturb-${how}.dlog`, 60);
      const r = replay(path, { machine: perturbedMachine(37, how) });
      expect(r.verdict).toBe('divergent');
      expect(r.divergence).toMatchObject({ seq: 37, field });
      expect(r.divergence!.event).toEqual(expect.objectContaining({ op: expect.any(String) }));
      expect(r.divergence!.expected).not.toBe(r.divergence!.actual);
      expect(r.events).toBe(37);
    });
  }

  it('catches a change only the state hash sees at the next state-hash record', () => {
    const { path } = record('perturb-state.dlog', 60);
    const r = replay(path, { machine: perturbedMachine(37, 'state') });
    expect(r.divergence).toMatchObject({ seq: 40, field: 'state' });
    expect(r.events).toBe(40);
  });

  it('stops at --until N with the machine as it was after event N', () => {
    const { path } = record('until.dlog', 100);
    const r = replay(path, { until: 42 });
    expect(r.verdict).toBe('until');
    expect(r.machine.eventCount).toBe(42);
    expect(r.events).toBe(42);
    const fresh = new Machine(config);
    for (const ev of collect(path, 42)) fresh.apply(ev);
    expect(r.state).toBe(fresh.stateHash());
    const s = stateSummary(r.machine);
    expect(s.events).toBe(42);
    expect(s.devices.map((d) => d.name)).toEqual([NIC, OLD]);
    expect(replay(path, { until: 1000 }).verdict).toBe('short');
    // Replay reuses one outcome object while it runs; the machine it hands back does not.
    expect(r.machine.recycleOutcomes).toBe(false);
    expect(r.machine.apply({ op: 'advance-time', cpu: 0, byNs: 1 })).not.toBe(r.machine.apply({ op: 'advance-time', cpu: 0, byNs: 1 }));
  });

  it('refuses a damaged log unless told to salvage its readable prefix', () => {
    const { path } = record('damaged.dlog', 50, { batchEvents: 10 });
    const full = readFileSync(path);
    const cut = join(dir, 'damaged-cut.dlog');
    const rd = LogReader.open(path);
    const lastBatch = [...rd.batches()].at(-1)!.offset;
    rd.close();
    writeFileSync(cut, full.subarray(0, lastBatch + 40)); // inside the last batch
    const r = replay(cut);
    expect(r.verdict).toBe('damaged');
    expect(r.events).toBe(40);
    expect(r.log.damage?.kind).toBe('torn');
    const s = replay(cut, { salvage: true });
    expect(s.verdict).toBe('identical');
    expect(s.events).toBe(40);
  });

  // A batch whose checksums hold but whose records do not decode (a writer bug, not a torn or
  // corrupted file): replay decodes each record just before applying it (LogReader.cursors), so
  // it stops at the first record that fails, as damage at that batch, with the message and offset
  // the whole-batch reader gives; the batch's earlier records were applied and checked.
  for (const [how, appliedOfBatch] of [['cut', 'some'], ['trailing', 'all']] as const) {
    it(`reports a checksum-valid batch that does not decode (${how}) as damage at that batch`, () => {
      const { path } = record(`undecodable-${how}.dlog`, 50, { batchEvents: 10 });
      const full = readFileSync(path);
      const rd = LogReader.open(path);
      const third = [...rd.batches()][2]!;
      rd.close();
      const len = full.readUInt32LE(third.offset);
      const payload = packr.unpack(full.subarray(third.offset + FRAME_HEADER_BYTES, third.offset + FRAME_HEADER_BYTES + len)) as { rec: Uint8Array };
      const rec = Uint8Array.from(payload.rec);
      payload.rec = how === 'cut' ? rec.subarray(0, rec.length >> 1) : Uint8Array.from([...rec, 0]);
      const frame = encodeFrame(FRAME.batch, packr.pack(payload), third.firstSeq, third.count);
      const bad = join(dir, `undecodable-${how}-bad.dlog`);
      writeFileSync(bad, Buffer.concat([full.subarray(0, third.offset), frame, full.subarray(third.offset + FRAME_HEADER_BYTES + len)]));

      const whole = LogReader.open(bad);
      const read = [...whole.batches()].length;
      whole.close();
      expect(read).toBe(2);
      expect(whole.status.damage).toMatchObject({ kind: 'corrupt', offset: third.offset });
      expect(whole.status.events).toBe(20);

      const r = replay(bad);
      expect(r.verdict).toBe('damaged');
      expect(r.log.damage).toEqual(whole.status.damage);
      expect(r.log.events).toBe(20);
      expect(r.log.complete).toBe(false);
      if (appliedOfBatch === 'all') expect(r.events).toBe(30);
      else {
        expect(r.events).toBeGreaterThan(20);
        expect(r.events).toBeLessThan(30);
      }
      const s = replay(bad, { salvage: true });
      expect(s.verdict).toBe('identical');
      expect(s.events).toBe(r.events);
    });
  }

  it('records and replays calls the model refuses (thrown) like any other', () => {
    const path = join(dir, 'thrown.dlog');
    const w = LogWriter.open(path, { dmasim: 'test', config }, { stateHash: () => m.stateHash() });
    const m = new RecordingMachine(config, w);
    m.apply({ op: 'map-page', dev: NIC, cpu: 0, phys: 0x1000n, size: 64, dir: 1, attrs: 0 });
    expect(() => m.apply({ op: 'map-page', dev: 'no-such-device', cpu: 0, phys: 0x1000n, size: 64, dir: 1, attrs: 0 })).toThrow();
    m.apply({ op: 'map-page', dev: NIC, cpu: 1, phys: 0x2000n, size: 64, dir: 1, attrs: 0 });
    w.close(m.stateHash());
    const r = replay(path);
    expect(r.verdict).toBe('identical');
    expect(r.events).toBe(3);
  });
});

function collect(path: string, n: number): Event[] {
  const evs: Event[] = [];
  replay(path, { until: n, onEvent: (rec) => void evs.push(rec.event) });
  return evs;
}
