// Figures 5 and 6: a long stress run in its own process (peak RSS, RSS sampled every tenth of the
// run to show it does not grow with run length), then `dmasim replay LOG --until N` on its log,
// each command its own process, timed and with its peak RSS (GNU time's maxrss): N = 1 (start-up),
// a tenth of the log, the middle and the end. A replay stopped at N holds what a full replay holds
// at N, so the tenth / end pair is the replay's RSS at 1 M and at 10 M events.

import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildResult } from './child.ts';
import type { MixName } from './mixes.ts';
import type { LogSizeRow, ReplayRow } from './report.ts';
import { now, summarize, type Summary } from './stats.ts';

const ROOT = join(import.meta.dirname, '..');
const GNU_TIME = '/usr/bin/time';

interface Ran { stdout: string; stderr: string; ms: number; status: number | null; maxRss: number | null }

/** Runs `node --import tsx ARGS` (under GNU time when present, for the peak RSS). */
function tsx(args: string[]): Ran {
  const node = [process.execPath, '--import', 'tsx', ...args];
  const timed = existsSync(GNU_TIME);
  const t = now();
  const r = timed
    ? spawnSync(GNU_TIME, ['-f', 'dmasim-bench-maxrss %M', ...node], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 })
    : spawnSync(node[0]!, node.slice(1), { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = now() - t;
  if (r.error) throw r.error;
  const m = /dmasim-bench-maxrss (\d+)/.exec(r.stderr);
  return { stdout: r.stdout, stderr: r.stderr, ms, status: r.status, maxRss: m ? Number(m[1]) * 1024 : null };
}

function child<T = ChildResult>(args: string[]): T {
  const r = tsx([join(ROOT, 'bench', 'child.ts'), ...args]);
  if (r.status !== 0) throw new Error(`bench/child.ts ${args.join(' ')} exited ${r.status}: ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}

/** Figures 1 and 4 for one mix in a fresh process (bench/child.ts replay). */
export function replayFigureInChild(mix: MixName, devices: number, events: number, seed: bigint, runs: number, log: string): { row: ReplayRow; size: LogSizeRow } {
  return child<{ row: ReplayRow; size: LogSizeRow }>(['replay', mix, String(devices), String(events), log, String(seed), String(runs)]);
}

export interface MemoryFigure {
  mix: MixName;
  devices: number;
  events: number;
  logBytes: number;
  stress: ChildResult;
}

export function measureMemory(mix: MixName, devices: number, events: number, seed: bigint, log: string): MemoryFigure {
  const stress = child(['stress', mix, String(devices), String(events), log, String(seed)]);
  if (stress.verdict !== 'completed') throw new Error(`memory stress run ended ${stress.verdict}`);
  return { mix, devices, events: stress.events, logBytes: statSync(log).size, stress };
}

/** RSS closest to after `n` events. */
export function rssAt(r: ChildResult, n: number): number {
  let best = r.rss[0];
  for (const s of r.rss) if (Math.abs(s.events - n) < Math.abs((best?.events ?? Infinity) - n)) best = s;
  return best?.bytes ?? 0;
}

export interface SeekPoint {
  until: number;
  /** Wall time of the whole command (ms). */
  ms: Summary;
  /** Peak RSS of the command (bytes), null without GNU time. */
  maxRss: number | null;
}

export interface SeekFigure {
  events: number;
  /** `--until 1`: process start-up, log open, machine construction, one event. */
  startup: SeekPoint;
  tenth: SeekPoint;
  middle: SeekPoint;
  end: SeekPoint;
}

export function measureSeek(log: string, events: number, runs: number): SeekFigure {
  const go = (until: number): SeekPoint => {
    const ms: number[] = [];
    let maxRss: number | null = null;
    for (let i = 0; i < runs; i++) {
      const r = tsx([join(ROOT, 'packages', 'cli', 'src', 'bin.ts'), 'replay', log, '--until', String(until)]);
      if (r.status !== 0 || !r.stdout.includes(`up to event ${until}`)) {
        throw new Error(`dmasim replay --until ${until} exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      }
      ms.push(r.ms);
      if (r.maxRss !== null) maxRss = Math.max(maxRss ?? 0, r.maxRss);
    }
    return { until, ms: summarize(ms), maxRss };
  };
  return {
    events,
    startup: go(1),
    tenth: go(Math.max(1, Math.floor(events / 10))),
    middle: go(Math.max(1, Math.floor(events / 2))),
    end: go(events),
  };
}
