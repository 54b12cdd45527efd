import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultDevice, defaultPlatform, type MachineConfig } from '../config.ts';
import { Prng } from '../util/prng.ts';
import { FRAME_HEADER_BYTES, LOG_FORMAT_VERSION, LogFormatError, LogVersionError, PREAMBLE_BYTES } from './format.ts';
import { LogReader } from './reader.ts';
import { syntheticMapUnmap } from './test-helpers.ts';
import { LogWriter } from './writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'dmasim-log-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config: MachineConfig = {
  profile: '6.18',
  seed: 0xdead_beef_cafe_f00d_1234n,
  platform: { ...defaultPlatform(), mmio: [{ name: 'bar', base: 0x3f_0000_0000n, size: 1n << 28n }] },
  domains: [],
  devices: [defaultDevice('0000:01:00.0'), { ...defaultDevice('0000:02:00.0'), busLimit: 0xffff_ffffn, dmaRanges: [{ cpu: 1n << 40n, dma: 0n, size: 1n << 30n }] }],
};

const recs = syntheticMapUnmap(11, 23, { devices: 2, ring: 4 });

/** A small closed log: 23 events in batches of 5 (the last one short), a state hash every 4. */
function writeSmall(name: string): { path: string; batchEnds: number[]; batchStarts: number[] } {
  const path = join(dir, name);
  let n = 0;
  const w = LogWriter.open(path, { dmasim: '0.1.0-test', config, scenario: { name: 'small', source: 'steps: []' } }, {
    batchEvents: 5,
    stateHashEvery: 4,
    stateHash: () => `state-${n}`,
  });
  const batchStarts: number[] = [];
  const batchEnds: number[] = [];
  for (const r of recs) {
    const before = w.bytes;
    n++;
    w.appendDigest(r.event, r.digest);
    if (w.bytes !== before) {
      batchStarts.push(before);
      batchEnds.push(w.bytes);
    }
  }
  const before = w.bytes;
  w.close();
  batchStarts.push(before); // the short last batch, then the end frame
  const data = readFileSync(path);
  // Walk the frames to find where the last batch ends (the rest is the end frame).
  let pos = batchEnds.at(-1)!;
  const len = (at: number) => data.readUInt32LE(at);
  pos += FRAME_HEADER_BYTES + len(pos);
  batchEnds.push(pos);
  return { path, batchEnds, batchStarts };
}

function readAll(path: string) {
  const r = LogReader.open(path);
  const records = [...r.records()];
  r.close();
  return { records, status: r.status, header: r.header };
}

describe('log writer and reader', () => {
  it('round-trips header (bigints included), records, state hashes and the end frame', () => {
    const { path } = writeSmall('round.dlog');
    const r = LogReader.open(path);
    expect(r.header.config).toEqual(config);
    expect(r.header.seed).toBe(config.seed);
    expect(r.header.profile).toBe('6.18');
    expect(r.header.scenario).toEqual({ name: 'small', source: 'steps: []' });
    expect(r.header.created.at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const states: { seq: number; hash: string }[] = [];
    const got: number[] = [];
    for (const it of r.items()) {
      if ('record' in it) {
        got.push(it.record.seq);
        expect(it.record.event).toStrictEqual(recs[it.record.seq - 1]!.event);
        expect(it.record.result).toBe(recs[it.record.seq - 1]!.digest.result);
        expect(it.record.tag).toBe(recs[it.record.seq - 1]!.digest.hi);
      } else if ('state' in it) states.push(it.state);
    }
    expect(got).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    expect(states).toEqual([4, 8, 12, 16, 20].map((s) => ({ seq: s, hash: `state-${s}` })));
    expect(r.status).toMatchObject({ complete: true, events: 23, batches: 5, end: { events: 23, state: 'state-23' } });
    expect(r.status.damage).toBeUndefined();
    r.close();
  });

  it('recovers exactly the complete batches before a cut at every byte offset', () => {
    const { path, batchEnds, batchStarts } = writeSmall('cut.dlog');
    const full = readFileSync(path);
    const headerEnd = batchStarts[0]!;
    const cutPath = join(dir, 'cut-part.dlog');
    for (let cut = 0; cut < full.length; cut++) {
      writeFileSync(cutPath, full.subarray(0, cut));
      if (cut < headerEnd) {
        expect(() => LogReader.open(cutPath), `cut ${cut}`).toThrow(LogFormatError);
        continue;
      }
      const { records, status } = readAll(cutPath);
      const complete = batchEnds.filter((e) => e <= cut).length; // batch frames (and end frame) wholly present
      const batches = Math.min(complete, 5);
      const events = Math.min(batches * 5, 23);
      expect(records.map((x) => x.seq), `cut ${cut}`).toEqual(Array.from({ length: events }, (_, i) => i + 1));
      expect(status.events).toBe(events);
      expect(status.complete).toBe(false);
      const damageAt = batches === 0 ? headerEnd : batchEnds[batches - 1]!;
      expect(status.damage, `cut ${cut}`).toMatchObject({ kind: cut === damageAt ? 'unclosed' : 'torn', offset: damageAt });
    }
  }, 60_000);

  it('detects every single-bit flip (seeded) at the frame that holds it', () => {
    const { path, batchEnds, batchStarts } = writeSmall('flip.dlog');
    const full = readFileSync(path);
    const frameStarts = [...batchStarts, batchEnds.at(-1)!];
    const prng = new Prng(99n);
    const flipPath = join(dir, 'flip-part.dlog');
    for (let i = 0; i < 400; i++) {
      const at = prng.int(full.length);
      const bit = prng.int(8);
      const bad = Uint8Array.from(full);
      bad[at]! ^= 1 << bit;
      writeFileSync(flipPath, bad);
      if (at < batchStarts[0]!) {
        expect(() => readAll(flipPath), `flip at ${at}`).toThrow(LogFormatError);
        continue;
      }
      const { status } = readAll(flipPath);
      const frame = frameStarts.filter((s) => s <= at).at(-1)!;
      expect(status.complete, `flip at ${at}`).toBe(false);
      expect(status.damage, `flip at ${at}`).toMatchObject({ kind: 'corrupt', offset: frame });
    }
  }, 60_000);

  it('detects random multi-byte corruption inside a batch', () => {
    const { path, batchStarts } = writeSmall('burst.dlog');
    const full = readFileSync(path);
    const prng = new Prng(5n);
    for (let i = 0; i < 100; i++) {
      const bad = Uint8Array.from(full);
      const at = batchStarts[1]! + FRAME_HEADER_BYTES + prng.int(batchStarts[2]! - batchStarts[1]! - FRAME_HEADER_BYTES - 4);
      for (let k = 0; k < 4; k++) bad[at + k] = prng.int(256);
      if (bad.every((b, j) => b === full[j])) continue;
      writeFileSync(join(dir, 'burst-part.dlog'), bad);
      const { status, records } = readAll(join(dir, 'burst-part.dlog'));
      expect(status.damage).toMatchObject({ kind: 'corrupt', offset: batchStarts[1] });
      expect(records).toHaveLength(5);
    }
  });

  it('treats a zero-filled tail (a crash after the file grew) as torn', () => {
    const { path, batchEnds } = writeSmall('zeros.dlog');
    const full = readFileSync(path);
    const bad = Uint8Array.from(full);
    bad.fill(0, batchEnds[2]!);
    writeFileSync(join(dir, 'zeros-part.dlog'), bad);
    const { status, records } = readAll(join(dir, 'zeros-part.dlog'));
    expect(records).toHaveLength(15);
    expect(status.damage).toMatchObject({ kind: 'torn', offset: batchEnds[2] });
  });

  it('refuses an unknown format version and a non-log with clear messages', () => {
    const { path } = writeSmall('version.dlog');
    const bad = Uint8Array.from(readFileSync(path));
    const ok = LogReader.open(path);
    expect(ok.version).toBe(LOG_FORMAT_VERSION);
    expect(ok.header.format).toBe(LOG_FORMAT_VERSION);
    ok.close();
    bad[8] = 5;
    writeFileSync(join(dir, 'v5.dlog'), bad);
    expect(() => LogReader.open(join(dir, 'v5.dlog'))).toThrow(LogVersionError);
    expect(() => LogReader.open(join(dir, 'v5.dlog'))).toThrow(/log format version 5 is not supported \(this dmasim reads versions 1, 2, 3 and 4\)/);
    // A version this code reads, but not the one the header was written with: refused, not
    // replayed with the wrong digest definitions.
    bad[8] = 2;
    writeFileSync(join(dir, 'v2-header-v4.dlog'), bad);
    expect(() => LogReader.open(join(dir, 'v2-header-v4.dlog'))).toThrow(/format 4, the preamble says version 2/);
    writeFileSync(join(dir, 'junk.dlog'), 'steps: []\n');
    expect(() => LogReader.open(join(dir, 'junk.dlog'))).toThrow(/not a dmasim event log/);
    expect(PREAMBLE_BYTES).toBe(12);
  });

  it('reads trailing garbage after the end frame as damage, not as a complete log', () => {
    const { path } = writeSmall('trail.dlog');
    writeFileSync(join(dir, 'trail2.dlog'), Buffer.concat([readFileSync(path), Buffer.from([1, 2, 3])]));
    const { status, records } = readAll(join(dir, 'trail2.dlog'));
    expect(records).toHaveLength(23);
    expect(status.complete).toBe(false);
    expect(status.damage?.kind).toBe('corrupt');
  });

  it('skips batches before fromSeq without decoding them', () => {
    const { path } = writeSmall('from.dlog');
    const r = LogReader.open(path);
    expect([...r.records(12)].map((x) => x.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 12));
    expect(r.status.complete).toBe(true);
    r.close();
  });
});
