// Figures 5 and 6: peak RSS of a long stress run and of its replay (each in its own process), RSS
// sampled along the way to show it does not grow with run length; then the time `dmasim replay
// --until N` takes to reach the middle and the end of that log, against the same command's
// start-up time (--until 1) measured alongside.

import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildResult } from './child.ts';
import type { MixName } from './mixes.ts';
import { now, summarize, type Summary } from './stats.ts';

const ROOT = join(import.meta.dirname, '..');

function tsx(args: string[]): { stdout: string; ms: number; status: number | null; stderr: string } {
  const t = now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = now() - t;
  if (r.error) throw r.error;
  return { stdout: r.stdout, stderr: r.stderr, ms, status: r.status };
}

function child(args: string[]): ChildResult {
  const r = tsx([join(ROOT, 'bench', 'child.ts'), ...args]);
  if (r.status !== 0) throw new Error(`bench/child.ts ${args.join(' ')} exited ${r.status}: ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ChildResult;
}

export interface MemoryFigure {
  mix: MixName;
  devices: number;
  events: number;
  logBytes: number;
  stress: ChildResult;
  replay: ChildResult;
}

export function measureMemory(mix: MixName, devices: number, events: number, seed: bigint, log: string): MemoryFigure {
  const stress = child(['stress', mix, String(devices), String(events), log, String(seed)]);
  if (stress.verdict !== 'completed') throw new Error(`memory stress run ended ${stress.verdict}`);
  const replay = child(['replay', log, String(Math.max(1, Math.floor(stress.events / 10)))]);
  if (replay.verdict !== 'identical') throw new Error(`memory replay: ${replay.verdict}`);
  return { mix, devices, events: stress.events, logBytes: statSync(log).size, stress, replay };
}

/** RSS closest to after `n` events. */
export function rssAt(r: ChildResult, n: number): number {
  let best = r.rss[0];
  for (const s of r.rss) if (Math.abs(s.events - n) < Math.abs((best?.events ?? Infinity) - n)) best = s;
  return best?.bytes ?? 0;
}

export interface SeekFigure {
  events: number;
  /** `dmasim replay LOG --until 1`: process start-up, log open, one event. */
  startup: Summary;
  middle: { until: number; ms: Summary };
  end: { until: number; ms: Summary };
}

export function measureSeek(log: string, events: number, runs: number): SeekFigure {
  const mid = Math.floor(events / 2);
  const go = (until: number): number => {
    const r = tsx([join(ROOT, 'packages', 'cli', 'src', 'bin.ts'), 'replay', log, '--until', String(until)]);
    if (r.status !== 0 || !r.stdout.includes(`up to event ${until}`)) throw new Error(`dmasim replay --until ${until} exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    return r.ms;
  };
  const s: number[] = [];
  const m: number[] = [];
  const e: number[] = [];
  for (let i = 0; i < runs; i++) {
    s.push(go(1));
    m.push(go(mid));
    e.push(go(events));
  }
  return { events, startup: summarize(s), middle: { until: mid, ms: summarize(m) }, end: { until: events, ms: summarize(e) } };
}
