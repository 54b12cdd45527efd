// Replay: applies every event of a log to a fresh Machine built from the log's header and checks
// that each outcome digest, each recorded state hash, each batch's outcome chain and the final
// state are the same. Reports the first divergence (event, field, expected vs actual).

import type { MachineConfig } from './config.ts';
import type { Event, Outcome } from './events.ts';
import { Machine, type MachineSummary } from './machine.ts';
import { chainDetail, type LogRecord, type StateMark } from './log/codec.ts';
import { Lanes, outcomeDigest, thrownDigest, type OutcomeDigest } from './log/digest.ts';
import type { LogHeader } from './log/format.ts';
import { LogReader, type LogStatus } from './log/reader.ts';
import { stateHashVersionOf } from './util/hash.ts';

/** What differs: the call's result, its error flag, its path, whether/what it threw, the hash of
 *  everything else it produced (trace, dmesg, findings, fault, data, ...), or the state hash. */
export type DivergenceField = 'result' | 'error' | 'path' | 'thrown' | 'detail' | 'state';

export interface Divergence {
  /** The event's sequence number (for `state`: the event after which the hash was taken). */
  seq: number;
  event: Event | undefined;
  field: DivergenceField;
  expected: string;
  actual: string;
  /** The replayed outcome of the event (absent when apply threw or for a state divergence). */
  outcome?: Outcome;
  note?: string;
}

export interface ReplayOptions {
  /** Stop after applying event N (checked like any other) and hand back the machine. */
  until?: number;
  /** Accept a damaged or unclosed log: replay its intact prefix and say so. */
  salvage?: boolean;
  /** Builds the fresh machine (default `new Machine(config)`); the test-only perturbation hook. */
  machine?: (config: MachineConfig) => Machine;
  /** Called after each event is applied and checked (e.g. to print its trace). The outcome is valid
   *  during the call only: the machine reuses the object, its trace records and the memory its read
   *  data views for the next event (recycleOutcomes). */
  onEvent?: (rec: LogRecord, outcome: Outcome | undefined, m: Machine) => void;
}

export interface ReplayResult {
  /** identical: every check passed; divergent: see `divergence`; damaged: the log is damaged or
   *  unclosed and `salvage` was not given (the prefix that was read replayed identically);
   *  until: stopped after event `until`; short: the log ended before event `until`. */
  verdict: 'identical' | 'divergent' | 'damaged' | 'until' | 'short';
  header: LogHeader;
  machine: Machine;
  /** Events applied. */
  events: number;
  /** Machine.stateHash() at the end of the replay. */
  state: string;
  /** Reader status: completeness, damage, the end record. */
  log: LogStatus;
  divergence?: Divergence;
  /** The state hashes checked along the way (recorded marks plus the final one). */
  statesChecked: number;
}

const hex = (v: bigint): string => (v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`);
const tagHex = (t: number): string => t.toString(16).padStart(8, '0');

function compare(rec: LogRecord, d: OutcomeDigest): Omit<Divergence, 'seq' | 'event'> | undefined {
  if ((rec.thrown ?? null) !== (d.thrown ?? null)) return { field: 'thrown', expected: rec.thrown ?? 'returned', actual: d.thrown ?? 'returned' };
  if (rec.result !== d.result) return { field: 'result', expected: hex(rec.result), actual: hex(d.result) };
  if (rec.error !== d.error) return { field: 'error', expected: String(rec.error), actual: String(d.error) };
  if (rec.path !== d.path) return { field: 'path', expected: rec.path, actual: d.path };
  const tag = d.hi;
  if (rec.tag !== tag) {
    return { field: 'detail', expected: tagHex(rec.tag), actual: tagHex(tag), note: 'trace/dmesg/findings/fault/data digest (top 32 bits) differs' };
  }
  return undefined;
}

/** Replays a log (a path or an open reader; a path is opened and closed here). */
export function replay(src: string | LogReader, opts: ReplayOptions = {}): ReplayResult {
  const reader = typeof src === 'string' ? LogReader.open(src) : src;
  try {
    return run(reader, opts);
  } finally {
    if (typeof src === 'string') reader.close();
  }
}

function run(reader: LogReader, opts: ReplayOptions): ReplayResult {
  const m = opts.machine ? opts.machine(reader.header.config) : new Machine(reader.header.config);
  // Each outcome is digested (and shown to onEvent) before the next event: one object serves all.
  // The machine is handed back with the setting it came with, for whatever the caller applies next.
  const recycled = m.recycleOutcomes;
  m.recycleOutcomes = true;
  try {
    return check(reader, opts, m);
  } finally {
    m.recycleOutcomes = recycled;
  }
}

function check(reader: LogReader, opts: ReplayOptions, m: Machine): ReplayResult {
  const header = reader.header;
  // The log's version decides the outcome digest and state hash definitions (log/format.ts).
  const version = reader.version;
  m.hashVersion = stateHashVersionOf(version);
  const res: ReplayResult = { verdict: 'identical', header, machine: m, events: 0, state: '', log: reader.status, statesChecked: 0 };
  const until = opts.until;
  let chain = new Lanes();
  /** The digest object outcomeDigest fills for every event (each is used before the next). */
  const scratch: OutcomeDigest = { result: 0n, error: false, path: 'none', hi: 0, lo: 0, thrown: undefined };
  let last: LogRecord | undefined;
  let reached = false;
  const diverge = (d: Divergence): ReplayResult => {
    res.verdict = 'divergent';
    res.divergence = d;
    res.state = m.stateHash();
    return res;
  };

  const onEvent = opts.onEvent;
  /** A state mark: checked when it was taken at the point reached (others cannot be). */
  const checkMark = (mark: StateMark): ReplayResult | undefined => {
    if (mark.seq !== res.events) return undefined;
    const s = m.stateHash();
    res.statesChecked++;
    if (s !== mark.hash) return diverge({ seq: mark.seq, event: last?.event, field: 'state', expected: mark.hash, actual: s, note: `state hash after event ${mark.seq}` });
    return undefined;
  };

  // Batch by batch, in the order LogReader.items() gives (marks taken before the batch's first
  // event, then each record followed by the marks taken right after it, then the batch's chain),
  // without an item object per event. Each record is decoded just before it is applied
  // (LogReader.cursors()); a batch that fails to decode part way stops the replay there as damage,
  // its events up to that point applied and checked one by one.
  batches: for (const b of reader.cursors()) {
    const { cursor } = b;
    const states = cursor.states;
    let si = 0;
    while (si < states.length && states[si]!.seq < cursor.firstSeq) {
      const bad = checkMark(states[si++]!);
      if (bad) return bad;
    }
    for (let i = 0; i < cursor.count; i++) {
      if (reached) break batches;
      let rec: LogRecord;
      try {
        rec = cursor.next();
      } catch (e) {
        reader.batchFailed(b, e); // as LogReader.batches() takes any decode error for damage
        break batches;
      }
      let out: Outcome | undefined;
      let d: OutcomeDigest;
      try {
        out = m.applyAs(rec.event, cursor.op, cursor.cpu);
        d = outcomeDigest(out, version, scratch);
      } catch (e) {
        out = undefined;
        d = thrownDigest(e);
      }
      res.events++;
      last = rec;
      chainDetail(chain, d);
      const diff = compare(rec, d);
      if (diff) return diverge({ seq: rec.seq, event: rec.event, ...diff, ...(out ? { outcome: out } : {}) });
      onEvent?.(rec, out, m);
      if (rec.seq === until) reached = true; // go on to check a state mark taken right here
      while (si < states.length && states[si]!.seq === rec.seq) {
        const bad = checkMark(states[si++]!);
        if (bad) return bad;
      }
    }
    if (reached) break;
    try {
      cursor.finish();
    } catch (e) {
      reader.batchFailed(b, e);
      break;
    }
    const got = chain.hex();
    chain = new Lanes();
    if (got !== cursor.chain) {
      const lastSeq = cursor.firstSeq + cursor.count - 1;
      return diverge({
        seq: lastSeq, event: last?.event, field: 'detail', expected: cursor.chain, actual: got,
        note: `the outcome chain of events ${cursor.firstSeq}..${lastSeq} differs although every 32-bit tag matched`,
      });
    }
  }

  res.state = m.stateHash();
  const st = reader.status;
  if (until !== undefined) {
    res.verdict = reached ? 'until' : 'short';
    return res;
  }
  if (st.complete && st.end) {
    res.statesChecked++;
    if (st.end.state !== res.state) {
      return diverge({ seq: st.end.events, event: last?.event, field: 'state', expected: st.end.state, actual: res.state, note: 'final state hash' });
    }
    return res;
  }
  if (!opts.salvage) res.verdict = 'damaged';
  return res;
}

/** The machine's state summary: live mappings per device, swiotlb usage, IOVA usage, dma-debug entries. */
export function stateSummary(m: Machine): MachineSummary {
  return m.summary();
}
