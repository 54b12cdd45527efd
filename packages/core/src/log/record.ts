// Recording: a Machine that appends every applied event and its outcome digest to a LogWriter,
// and the one-call helper that records a scenario run (`dmasim run --record`).

import { rmSync } from 'node:fs';
import type { MachineConfig, Profile } from '../config.ts';
import type { Event, Outcome } from '../events.ts';
import { Machine } from '../machine.ts';
import { runScenario, type RunResult } from '../scenario/runner.ts';
import type { Scenario } from '../scenario/types.ts';
import type { EndRecord } from './format.ts';
import { LogWriter, type LogHeaderInput, type LogWriterOptions } from './writer.ts';

/** A Machine whose every apply (returned or thrown) is appended to `writer`. */
export class RecordingMachine extends Machine {
  constructor(config: MachineConfig, readonly writer: LogWriter) {
    super(config);
  }

  /** Both ways in (apply and applyAs) come through here. */
  override applyAs(ev: Event, op: Event['op'], cpu: number): Outcome {
    let out: Outcome;
    try {
      out = super.applyAs(ev, op, cpu);
    } catch (e) {
      this.writer.appendThrown(ev, e);
      throw e;
    }
    this.writer.append(ev, out);
    return out;
  }
}

/**
 * A machine factory for runners that build their own machine (runScenario's `machine` option):
 * the log is opened when the machine is built, since only then is the final config known.
 */
export class Recorder {
  private w: LogWriter | undefined;
  private m: RecordingMachine | undefined;

  constructor(readonly path: string, readonly header: Omit<LogHeaderInput, 'config'>, readonly opts: LogWriterOptions = {}) {}

  readonly machine = (config: MachineConfig): Machine => {
    if (this.w) throw new Error('Recorder: one machine per recording');
    this.w = LogWriter.open(this.path, { ...this.header, config }, { ...this.opts, stateHash: () => m.stateHash() });
    const m = new RecordingMachine(config, this.w);
    this.m = m;
    return m;
  };

  get writer(): LogWriter | undefined {
    return this.w;
  }

  /** Writes the final batch and end frame (the final state hash). */
  close(): EndRecord | undefined {
    if (!this.w || !this.m) return undefined;
    return this.w.close(this.m.stateHash());
  }

  /** Leaves the log unclosed (the run died before finishing); it still reads up to here. */
  abandon(): void {
    this.w?.abandon();
  }
}

export interface RecordedRun {
  result: RunResult;
  log: string;
  end: EndRecord;
}

/** Runs a scenario and records it to `logPath`; the log replays to the same outcomes and state. */
export function recordScenarioRun(
  s: Scenario,
  logPath: string,
  o: { dmasim: string; profile?: Profile; source?: string; created?: LogHeaderInput['created']; writer?: LogWriterOptions },
): RecordedRun {
  const header: Omit<LogHeaderInput, 'config'> = {
    dmasim: o.dmasim,
    scenario: { name: s.name, file: s.file, ...(o.source !== undefined ? { source: o.source } : {}) },
    schedule: { mode: 'script' },
    ...(o.created ? { created: o.created } : {}),
  };
  const rec = new Recorder(logPath, header, o.writer ?? {});
  let result: RunResult;
  try {
    result = runScenario(s, { ...(o.profile ? { profile: o.profile } : {}), machine: rec.machine });
  } catch (e) {
    rec.abandon();
    // A run refused as bad input leaves nothing worth replaying; anything else keeps its partial log.
    if ((e as { code?: unknown }).code === 'BAD_INPUT') rmSync(logPath, { force: true });
    throw e;
  }
  const end = rec.close();
  if (!end) throw new Error(`recording ${logPath}: the run built no machine`);
  return { result, log: logPath, end };
}
