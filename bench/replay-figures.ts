// Figures 1 and 4: a mix recorded once into a fixed log, then replayed through the model and,
// alongside, through the bare reducer ceiling (the same events, read by the same reader, applied
// to plain Map insert/delete of the same keys); the log's bytes per event.

import { statSync } from 'node:fs';
import { LogReader, replay, type Event, type LogRecord } from '../packages/core/src/index.ts';
import { runStress } from '../packages/workers/src/index.ts';
import type { MixName } from './mixes.ts';
import { MIXES } from './mixes.ts';
import type { LogSizeRow, ReplayRow } from './report.ts';
import { interleaved, now, rate, summarize } from './stats.ts';

export interface Recorded {
  mix: MixName;
  file: string;
  devices: number;
  events: number;
  fileBytes: number;
  /** Bytes of batch and end frames (the file less its preamble and header). */
  eventBytes: number;
  stateHash: string;
  recordMs: number;
}

/** Records `mix` with `devices` devices into `file`: device programs inline, a seeded random schedule, so the log is the same every time. */
export async function recordMix(mix: MixName, devices: number, events: number, seed: bigint, file: string): Promise<Recorded> {
  const { config, programs } = MIXES[mix].build(devices, Math.ceil(events / devices), seed);
  const t = now();
  const r = await runStress({ config, programs, schedule: { mode: 'random', seed }, threads: 'inline', out: file, dmasimVersion: 'bench' });
  const recordMs = now() - t;
  if (r.end !== 'completed') throw new Error(`recording ${mix}: run ended ${r.end}: ${r.findings.map((f) => f.message).join('; ')}`);
  const fileBytes = statSync(file).size;
  const rd = LogReader.open(file);
  const headerBytes = headerEnd(rd);
  rd.close();
  return { mix, file, devices, events: r.events, fileBytes, eventBytes: fileBytes - headerBytes, stateHash: r.stateHash, recordMs };
}

/** Where the header frame ends: the first batch's offset (or the file size for an empty log). */
function headerEnd(rd: LogReader): number {
  for (const b of rd.batches()) return b.offset;
  return rd.status.fileBytes;
}

export interface Timed { events: number; ms: number }

/** Keeps the decode loop's result observable so it cannot be optimised away. */
export let sink = 0;

/**
 * `dmasim replay` without the printing: every event through a fresh Machine, digests and state
 * hashes checked. `ms` runs from the first event applied to the last — the same steady window the
 * pipeline figure uses, so the ratio between them compares like with like; with `window`, from
 * event `first` to event `last` exactly (a pipeline run's own window over its own log). `wholeMs`
 * is the whole call (opening the log, building the machine, the final state hash).
 */
export function timeReplay(file: string, window?: { first: number; last: number }): Timed & { wholeMs: number } {
  let n = 0;
  let tFirst = 0;
  let tLast = 0;
  let nLast = 0;
  const t = now();
  const onEvent = window
    ? (rec: LogRecord): void => {
      if (rec.seq === window.first) tFirst = now();
      else if (rec.seq === window.last) tLast = now();
    }
    : (): void => {
      if (++n === 1) tFirst = now();
      else if ((n & 255) === 0) {
        tLast = now();
        nLast = n;
      }
    };
  const r = replay(file, { onEvent });
  const wholeMs = now() - t;
  if (r.verdict !== 'identical') throw new Error(`replay of ${file}: ${r.verdict}${r.divergence ? ` at event ${r.divergence.seq} (${r.divergence.field})` : ''}`);
  if (window && tLast > tFirst) return { events: window.last - window.first, ms: tLast - tFirst, wholeMs };
  return nLast > 1 ? { events: nLast - 1, ms: tLast - tFirst, wholeMs } : { events: r.events, ms: wholeMs, wholeMs };
}

/** Reading and decoding alone (the floor under any replay of this log), `passes` times over. */
export function timeDecode(file: string, passes = 1): Timed {
  const t = now();
  let n = 0;
  let x = 0;
  for (let p = 0; p < passes; p++) {
    const rd = LogReader.open(file);
    for (const b of rd.batches()) {
      for (const r of b.records) x ^= r.seq;
      n += b.records.length;
    }
    rd.close();
  }
  const ms = now() - t;
  sink ^= x;
  return { events: n, ms };
}

/**
 * The bare reducer ceiling: each event applied to per-device Maps keyed by the same addresses
 * the model used — a map inserts its returned address, an unmap/free deletes its address, a
 * sync or device access looks its address up. `ms` includes reading and decoding the log (like
 * replay); `mapMs` is the Map work alone. `passes` > 1 goes over the log again with fresh Maps,
 * so a short pass still gives a run long enough to time on a noisy machine. `found`: deletes and lookups that hit a key (with `live`
 * 0 after a drained run, proof that the keys are the ones the maps inserted).
 */
export function timeCeiling(file: string, passes = 1): Timed & { mapMs: number; live: number; found: number } {
  const t = now();
  let n = 0;
  let mapMs = 0;
  let hits = 0;
  let live = 0;
  for (let p = 0; p < passes; p++) {
    const rd = LogReader.open(file);
    const maps = new Map<string, Map<bigint, number>>();
    for (const b of rd.batches()) {
      const t1 = now();
      const recs = b.records;
      for (let i = 0; i < recs.length; i++) hits += reduce(maps, recs[i]!);
      n += recs.length;
      mapMs += now() - t1;
    }
    rd.close();
    live = 0;
    for (const m of maps.values()) live += m.size;
  }
  const ms = now() - t;
  return { events: n, ms, mapMs, live, found: hits };
}

function devMap(maps: Map<string, Map<bigint, number>>, dev: string): Map<bigint, number> {
  let m = maps.get(dev);
  if (!m) maps.set(dev, (m = new Map()));
  return m;
}

function reduce(maps: Map<string, Map<bigint, number>>, rec: LogRecord): number {
  const ev: Event = rec.event;
  switch (ev.op) {
    case 'map-single': case 'map-page': case 'map-phys': case 'map-resource':
      if (!rec.error) devMap(maps, ev.dev).set(rec.result, ev.size);
      return 0;
    case 'alloc-coherent':
      if (!rec.error) devMap(maps, ev.dev).set(rec.result, ev.size);
      return 0;
    case 'unmap-single': case 'unmap-page': case 'unmap-phys': case 'unmap-resource': case 'free-coherent':
      return devMap(maps, ev.dev).delete(ev.addr) ? 1 : 0;
    case 'map-sg': {
      const m = devMap(maps, ev.dev);
      for (const s of ev.segments) m.set(s.phys, s.size);
      return 0;
    }
    case 'unmap-sg': {
      const m = devMap(maps, ev.dev);
      let k = 0;
      for (const s of ev.sg.segments) k += m.delete(s.phys) ? 1 : 0;
      return k;
    }
    case 'sync-for-cpu': case 'sync-for-device': case 'dev-read': case 'dev-write': case 'mapping-error':
      return devMap(maps, ev.dev).has(ev.addr) ? 1 : 0;
    case 'sync-sg-for-cpu': case 'sync-sg-for-device': {
      const m = devMap(maps, ev.dev);
      let k = 0;
      for (const s of ev.sg.dma) k += m.has(s.addr) ? 1 : 0;
      return k;
    }
    default:
      return 0;
  }
}

/**
 * Figures 1 and 4 for one mix: record its fixed log, then alternate `runs` timed replays with the
 * ceiling and decode passes over the same log. Meant to run in a process of its own
 * (`bench/child.ts replay`, see bench.ts).
 */
export async function replayFigure(mix: MixName, devices: number, events: number, seed: bigint, runs: number, file: string): Promise<{ row: ReplayRow; size: LogSizeRow }> {
  const rec: Recorded = await recordMix(mix, devices, events, seed, file);
  const size: LogSizeRow = {
    mix, events: rec.events, fileBytes: rec.fileBytes, bytesPerEvent: rec.eventBytes / rec.events, fileBytesPerEvent: rec.fileBytes / rec.events,
  };
  // Every side is warmed up before it is timed, or its first timed run measures the JIT: the
  // ceiling and decode passes (tens of ms each) twice, the replay once. (The replay went without
  // one while it ran for seconds; at ~0.3 s, the first of five timed replays came out ~25 % slower
  // than the rest, nineteenth round.)
  let warm = 0;
  for (let w = 0; w < 2; w++) {
    warm = timeCeiling(rec.file).ms;
    timeDecode(rec.file);
  }
  timeReplay(rec.file);
  // Each timed ceiling/decode run lasts about half a second (several passes over the log).
  const passes = Math.max(1, Math.round(500 / Math.max(warm, 1)));
  const bare: number[] = [];
  const whole: number[] = [];
  const s = await interleaved(runs, {
    replay: () => {
      const r = timeReplay(rec.file);
      whole.push(rate(rec.events, r.wholeMs));
      return rate(r.events, r.ms);
    },
    ceiling: () => {
      const r = timeCeiling(rec.file, passes);
      bare.push(rate(r.events, r.mapMs));
      return rate(r.events, r.ms);
    },
    decode: () => {
      const r = timeDecode(rec.file, passes);
      return rate(r.events, r.ms);
    },
  });
  const row: ReplayRow = {
    mix, devices: rec.devices, events: rec.events, replay: s.replay, replayWhole: summarize(whole), ceiling: s.ceiling, bareMap: summarize(bare), decode: s.decode,
    // Against the fastest ceiling run, not the median: the conservative denominator. (The reader's
    // speed used to be bimodal, ~1.1 M or ~1.8 M events/s for the life of a process, when V8
    // pretenured the decoded records; packages/cli/src/v8-tuning.ts turns that off in every bench
    // and dmasim process, and the fastest run still guards against a slow one.)
    ratio: s.ceiling.max === 0 ? 0 : s.replay.median / s.ceiling.max, ratioBareMap: 0,
  };
  row.ratioBareMap = row.bareMap.max === 0 ? 0 : row.replay.median / row.bareMap.max;
  return { row, size };
}
