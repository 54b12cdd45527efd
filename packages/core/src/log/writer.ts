// LogWriter: append-only, batched, synchronous. A batch frame is written and fsync'd when it holds
// `batchEvents` events (or on flush()); close() writes the last batch and the end frame. A crash at
// any byte leaves every batch before the one being written readable.

import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import type { MachineConfig } from '../config.ts';
import type { Event, Outcome } from '../events.ts';
import { BatchEncoder } from './codec.ts';
import { outcomeDigest, thrownDigest, type OutcomeDigest } from './digest.ts';
import { encodeFrame, FRAME, LOG_FORMAT_VERSION, packr, preamble, stripUndefined, type EndRecord, type LogHeader } from './format.ts';

export const DEFAULT_BATCH_EVENTS = 8192;
export const DEFAULT_STATE_HASH_EVERY = 16384;

export interface LogHeaderInput {
  dmasim: string;
  config: MachineConfig;
  scenario?: LogHeader['scenario'];
  schedule?: LogHeader['schedule'];
  /** Defaults: now, this host, this pid, process.argv. */
  created?: Partial<LogHeader['created']>;
}

export interface LogWriterOptions {
  batchEvents?: number;
  stateHashEvery?: number;
  /** Returns the machine's state hash; called after every stateHashEvery-th event and at close. */
  stateHash?: () => string;
  /** fsync at batch boundaries and at close (default true). */
  fsync?: boolean;
}

export class LogWriter {
  readonly header: LogHeader;
  private fd: number;
  private enc = new BatchEncoder();
  private seq = 0;
  private firstSeq = 1;
  private closed = false;
  private readonly batchEvents: number;
  private readonly stateEvery: number;
  private readonly stateHash: (() => string) | undefined;
  private readonly doSync: boolean;
  /** Bytes written so far (preamble, header and every flushed frame). */
  bytes = 0;
  batches = 0;

  private constructor(readonly path: string, header: LogHeaderInput, opts: LogWriterOptions) {
    this.batchEvents = opts.batchEvents ?? DEFAULT_BATCH_EVENTS;
    this.stateEvery = opts.stateHashEvery ?? DEFAULT_STATE_HASH_EVERY;
    if (!(this.batchEvents >= 1 && Number.isSafeInteger(this.batchEvents))) throw new RangeError('batchEvents must be a positive integer');
    if (!(this.stateEvery >= 1 && Number.isSafeInteger(this.stateEvery))) throw new RangeError('stateHashEvery must be a positive integer');
    this.stateHash = opts.stateHash;
    this.doSync = opts.fsync ?? true;
    this.header = stripUndefined<LogHeader>({
      format: LOG_FORMAT_VERSION,
      dmasim: header.dmasim,
      profile: header.config.profile,
      seed: header.config.seed,
      config: header.config,
      scenario: header.scenario,
      schedule: header.schedule,
      created: {
        at: new Date().toISOString(),
        host: hostname(),
        pid: process.pid,
        argv: process.argv.slice(2),
        cwd: process.cwd(),
        ...header.created,
      },
      batchEvents: this.batchEvents,
      stateHashEvery: this.stateEvery,
    } as LogHeader);
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'w');
    this.write(preamble());
    this.write(encodeFrame(FRAME.header, packr.pack(this.header)));
    if (this.doSync) fsyncSync(this.fd);
  }

  /** Creates (or truncates) `path` and writes the preamble and header. */
  static open(path: string, header: LogHeaderInput, opts: LogWriterOptions = {}): LogWriter {
    return new LogWriter(path, header, opts);
  }

  /** Events appended so far; the next one gets sequence number events + 1. */
  get events(): number {
    return this.seq;
  }

  append(event: Event, outcome: Outcome): void {
    this.appendDigest(event, outcomeDigest(outcome, LOG_FORMAT_VERSION, this.digest));
  }

  /** The digest object append() fills for every event (the encoder takes what it needs at once). */
  private readonly digest: OutcomeDigest = { result: 0n, error: false, path: 'none', hi: 0, lo: 0, thrown: undefined };

  /** An event whose Machine.apply threw (e.g. a simulated kernel BUG). */
  appendThrown(event: Event, error: unknown): void {
    this.appendDigest(event, thrownDigest(error));
  }

  appendDigest(event: Event, digest: OutcomeDigest): void {
    if (this.closed) throw new Error(`log ${this.path} is closed`);
    this.enc.add(event, digest);
    this.seq++;
    if (this.stateHash && this.seq % this.stateEvery === 0) this.enc.addState(this.stateHash());
    if (this.enc.count >= this.batchEvents) this.flush();
  }

  /** Records a state hash taken after the last appended event (for callers without `stateHash`). */
  recordState(hash: string): void {
    if (this.closed) throw new Error(`log ${this.path} is closed`);
    if (this.seq > 0) this.enc.addState(hash);
  }

  /** Writes the pending events as one batch frame and fsyncs. */
  flush(): void {
    if (this.closed || (this.enc.count === 0 && !this.enc.hasStates)) return;
    const count = this.enc.count;
    this.write(encodeFrame(FRAME.batch, this.enc.finish(), this.firstSeq, count));
    this.firstSeq += count;
    this.batches++;
    if (this.doSync) fsyncSync(this.fd);
  }

  /** Flushes, writes the end frame with the final state hash, fsyncs and closes. */
  close(finalState?: string): EndRecord {
    if (this.closed) throw new Error(`log ${this.path} is already closed`);
    const state = finalState ?? this.stateHash?.();
    if (state === undefined) throw new Error('LogWriter.close needs the final state hash (pass it or give a stateHash option)');
    this.flush();
    const end: EndRecord = { events: this.seq, state };
    this.write(encodeFrame(FRAME.end, packr.pack(end)));
    if (this.doSync) fsyncSync(this.fd);
    closeSync(this.fd);
    this.closed = true;
    return end;
  }

  /** Closes the file without an end frame (the log then reads as unclosed). */
  abandon(): void {
    if (this.closed) return;
    closeSync(this.fd);
    this.closed = true;
  }

  private write(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
    this.bytes += b.length;
  }
}
