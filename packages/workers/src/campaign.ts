// Campaigns: many seeded runs of one setup spread over the machine's cores (one seed per campaign
// thread at a time), reporting the failing seeds with their logs, so CI can hunt for races.

import { join } from 'node:path';
import { Piscina } from 'piscina';
import type { SeedResult, SeedTask } from './campaign-task.ts';
import { cores, tsxExecArgv } from './pool.ts';

export const CAMPAIGN_TASK_URL = new URL('./campaign-task.ts', import.meta.url).href;

export interface CampaignOptions {
  task: Omit<SeedTask, 'seed' | 'logPath'>;
  seeds: bigint[];
  outDir: string;
  /** Concurrent seeds (default: the machine's cores). */
  jobs?: number;
  /** Stop scheduling new seeds after the first failing one. */
  stopOnFirst?: boolean;
  onResult?: (r: SeedResult, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface CampaignResult {
  results: SeedResult[];
  failing: SeedResult[];
  jobs: number;
}

/** Parses "A..B" (inclusive) or a single seed. */
export function parseSeedRange(text: string): bigint[] {
  const m = /^\s*(\d+)\s*(?:\.\.\s*(\d+))?\s*$/.exec(text);
  if (!m) throw new RangeError(`--seeds: expected A..B (e.g. 1..200), got "${text}"`);
  const a = BigInt(m[1]!);
  const b = m[2] === undefined ? a : BigInt(m[2]);
  if (b < a) throw new RangeError(`--seeds: ${a}..${b} is empty`);
  if (b - a >= 1_000_000n) throw new RangeError('--seeds: at most 1000000 seeds per campaign');
  const out: bigint[] = [];
  for (let s = a; s <= b; s++) out.push(s);
  return out;
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const jobs = Math.max(1, Math.min(o.jobs ?? cores(), o.seeds.length));
  const pool = new Piscina({ filename: CAMPAIGN_TASK_URL, minThreads: jobs, maxThreads: jobs, idleTimeout: 60_000, execArgv: tsxExecArgv(), atomics: 'disabled' });
  const results: SeedResult[] = [];
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  o.signal?.addEventListener('abort', onAbort);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (!stop.signal.aborted && next < o.seeds.length) {
      const seed = o.seeds[next++]!;
      const t: SeedTask = { ...o.task, seed, logPath: join(o.outDir, `seed-${seed}.dmalog`) };
      const r = (await pool.run(t)) as SeedResult;
      results.push(r);
      o.onResult?.(r, ++done, o.seeds.length);
      if (r.failed && o.stopOnFirst) stop.abort();
    }
  };
  try {
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await pool.destroy();
  }
  results.sort((a, b) => (a.seed < b.seed ? -1 : a.seed > b.seed ? 1 : 0));
  return { results, failing: results.filter((r) => r.failed), jobs };
}
