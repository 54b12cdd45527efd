// Child-process entry for the memory figure: a stress run in a fresh process, so its peak RSS
// (getrusage maxrss, every thread included) belongs to that run alone; it runs until at least
// EVENTS events are applied, with RSS sampled every tenth of EVENTS. Prints one JSON line.
//   tsx bench/child.ts stress MIX DEVICES EVENTS LOG SEED
// Also figures 1 and 4 for one mix in a fresh process: tsx bench/child.ts replay MIX DEVICES EVENTS LOG SEED RUNS

import '../packages/cli/src/v8-tuning.ts'; // first, as in bin.ts: the bench measures what dmasim runs
import { runStress } from '../packages/workers/src/index.ts';
import { MIXES, parseMixes } from './mixes.ts';
import { replayFigure } from './replay-figures.ts';
import { now } from './stats.ts';

/** At most this share of the calls asked for is applied (mixed: 0.904), so asking EVENTS / CALLS_APPLIED calls reaches EVENTS events. */
const CALLS_APPLIED = 0.9;

export interface ChildResult {
  events: number;
  ms: number;
  /** RSS (bytes) after every `every`-th event. */
  rss: { events: number; bytes: number; heapBytes: number }[];
  /** Peak RSS of the process (bytes). */
  maxRss: number;
  verdict: string;
}

function sampler(every: number): { tick: (n: number) => void; rss: ChildResult['rss'] } {
  const rss: ChildResult['rss'] = [];
  return {
    rss,
    tick: (n) => {
      if (n % every === 0) {
        const m = process.memoryUsage();
        rss.push({ events: n, bytes: m.rss, heapBytes: m.heapUsed });
      }
    },
  };
}

async function main(argv: string[]): Promise<ChildResult | Awaited<ReturnType<typeof replayFigure>>> {
  const [what, ...rest] = argv;
  if (what === 'replay') {
    const [mixName, devices, events, log, seed, runs] = rest;
    return replayFigure(parseMixes(mixName)[0]!, Number(devices), Number(events), BigInt(seed ?? 1), Number(runs), log!);
  }
  if (what === 'stress') {
    const [mixName, devices, events, log, seed] = rest;
    const mix = MIXES[parseMixes(mixName)[0]!];
    // EVENTS is the number of applied events the run must reach (the "10 M-event run"),
    // sampled every tenth of it. Not every call a device asks for becomes an event — on the mixed
    // platform ~0.904 of them do (NVMe behind an IOMMU asks for scatterlist entries that were
    // merged, which are dropped) — so the devices are given EVENTS / CALLS_APPLIED calls.
    const n = Number(events);
    const every = Math.max(1, Math.floor(n / 10));
    const s = sampler(every);
    const { config, programs } = mix.build(Number(devices), Math.ceil(n / CALLS_APPLIED / Number(devices)), BigInt(seed ?? 1));
    let k = 0;
    const t = now();
    const r = await runStress({ config, programs, schedule: { mode: 'free' }, out: log!, dmasimVersion: 'bench', onEvent: () => s.tick(++k) });
    return { events: r.events, ms: now() - t, rss: s.rss, maxRss: process.resourceUsage().maxRSS * 1024, verdict: r.end };
  }
  throw new Error(`bench/child.ts: unknown command ${what}`);
}

process.stdout.write(JSON.stringify(await main(process.argv.slice(2))) + '\n');
