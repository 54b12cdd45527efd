// Recording of `dmasim run`: where each run's event log goes (`--record LOG`, `--no-record`, or by
// default a fresh file in runs/), the recorded run itself, and the command that replays it.

import { existsSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { recordScenarioRun, runScenario, type Profile, type RunResult, type Scenario } from '@dmasim/core';
import { InputError } from '../errors.ts';
import { VERSION } from '../version.ts';

export interface RecordFlags {
  /** A path (`--record LOG`), false (`--no-record`), or undefined: record into runs/. */
  record?: string | false;
}

/** Directory default recordings go to: $DMASIM_RUNS_DIR, else runs/ under the working directory. */
export function runsDir(): string {
  return process.env.DMASIM_RUNS_DIR || 'runs';
}

/** Refuses `--record LOG` with several files (one log per run). */
export function checkRecordFlags(files: string[], flags: RecordFlags): void {
  if (typeof flags.record === 'string' && files.length > 1) {
    throw new InputError(`--record ${flags.record}: one log holds one run, but ${files.length} files were given (without --record each run is recorded into ${runsDir()}/)`);
  }
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** The log a run of `file` records to, or undefined with --no-record. */
export function runLogPath(file: string, flags: RecordFlags): string | undefined {
  if (flags.record === false) return undefined;
  if (typeof flags.record === 'string') return flags.record;
  const base = join(runsDir(), `${basename(file, extname(file))}-${stamp(new Date())}`);
  let p = `${base}.dlog`;
  for (let i = 2; existsSync(p); i++) p = `${base}-${i}.dlog`;
  return p;
}

/** Runs the scenario, recording it to `logPath` when given. */
export function runMaybeRecorded(s: Scenario, file: string, logPath: string | undefined, profile: Profile | undefined): RunResult {
  if (logPath === undefined) return runScenario(s, profile ? { profile } : {});
  let source: string | undefined;
  try {
    source = readFileSync(file, 'utf8');
  } catch {
    source = undefined;
  }
  return recordScenarioRun(s, logPath, { dmasim: VERSION, ...(profile ? { profile } : {}), ...(source !== undefined ? { source } : {}) }).result;
}

/** The exact command that replays a log (quoted for a POSIX shell when needed). */
export function replayCommand(logPath: string): string {
  const q = /^[\w./:@%+=,-]+$/.test(logPath) ? logPath : `'${logPath.replace(/'/g, `'\\''`)}'`;
  return `dmasim replay ${q}`;
}
