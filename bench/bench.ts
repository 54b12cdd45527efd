// The benchmark driver: runs the figures a plan asks for and collects results. run.ts is its CLI;
// test/bench-smoke.test.ts runs it on a tiny plan.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { machineInfo } from './machine.ts';
import { measureMemory, measureSeek, replayFigureInChild } from './memory-seek.ts';
import { MIX_NAMES, type MixName } from './mixes.ts';
import { runPipeline } from './pipeline-figures.ts';
import { timeReplay } from './replay-figures.ts';
import { targets, type PipelineRow, type Results } from './report.ts';
import { interleaved, now, rate, ratio, summarize } from './stats.ts';

export const FIGURES = ['replay', 'pipeline', 'memory', 'seek'] as const;
export type Figure = (typeof FIGURES)[number];

export interface Plan {
  quick: boolean;
  figures: Figure[];
  seed: bigint;
  /** Replay: events in each mix's fixed log, devices it was recorded with, runs per figure. */
  replayEvents: number;
  replayDevices: number;
  replayRuns: number;
  replayMixes: MixName[];
  /**
   * Pipeline + transport: events per run, device counts, runs, mixes. The full plan runs 480 k
   * events: on 2 cores the device threads begin issuing up to ~0.3 s apart after the start barrier
   * (the first ones take the CPU), so with the 120 k of earlier rounds the steady window (every
   * device running) was as short as 1.4 k events in some 8-device runs (BENCHMARKS.md, tenth round).
   */
  pipelineEvents: number;
  /**
   * ...but at least this many per device: each program must get well past its ring fill, and past
   * the window of batches it queued while the other threads were still starting (8 × 256 records),
   * or the steady window measures a start-up transient. At 64 devices the last device's first
   * batch waits behind the others' in-flight batches (up to 64 × 8 × 256 records): with 8000 events
   * each the first program ended before it, and the window was 2–17 k events; the full plan's
   * 16000 each (1.02 M events) gave a window of 623 k in a trial run (BENCHMARKS.md, tenth round).
   */
  pipelineMinPerDevice: number;
  pipelineDevices: number[];
  pipelineRuns: number;
  /**
   * Before each mix's rows, one run of this many events at its first device count, not counted:
   * the coordinator runs in the bench's own process, and the first run of a mix there compiled
   * that mix's model paths as it went — the 2-device row's first run was 20–40 % slower than its
   * other two in every set measured (BENCHMARKS.md, fifteenth round). 0: none.
   */
  pipelineWarmupEvents: number;
  pipelineMixes: MixName[];
  /** Memory + seek: one long stress run (and its replay) of this mix. */
  memoryEvents: number;
  memoryDevices: number;
  memoryMix: MixName;
  seekRuns: number;
}

export function defaultPlan(quick: boolean): Plan {
  return quick
    ? {
      quick, figures: [...FIGURES], seed: 1n,
      replayEvents: 50_000, replayDevices: 8, replayRuns: 3, replayMixes: [...MIX_NAMES],
      pipelineEvents: 100_000, pipelineMinPerDevice: 4000, pipelineDevices: [2, 8, 64], pipelineRuns: 1, pipelineWarmupEvents: 25_000, pipelineMixes: ['mixed'],
      memoryEvents: 150_000, memoryDevices: 8, memoryMix: 'mixed', seekRuns: 1,
    }
    : {
      quick, figures: [...FIGURES], seed: 1n,
      replayEvents: 200_000, replayDevices: 8, replayRuns: 5, replayMixes: [...MIX_NAMES],
      pipelineEvents: 480_000, pipelineMinPerDevice: 16_000, pipelineDevices: [2, 8, 64], pipelineRuns: 3, pipelineWarmupEvents: 120_000, pipelineMixes: [...MIX_NAMES],
      memoryEvents: 10_000_000, memoryDevices: 8, memoryMix: 'mixed', seekRuns: 1,
    };
}

export type Log = (msg: string) => void;

export async function runBench(plan: Plan, dir: string, command: string, log: Log = () => {}): Promise<Results> {
  const t0 = now();
  const res: Results = {
    command, quick: plan.quick, machine: machineInfo(), plan: { ...plan, seed: String(plan.seed) },
    replay: [], logSize: [], pipeline: [], memory: null, seek: null, targets: [], missing: [], totalSeconds: 0,
  };
  const want = new Set(plan.figures);
  const replayEps = new Map<MixName, number>();

  if (want.has('replay') || want.has('pipeline')) {
    const mixes = want.has('replay') ? plan.replayMixes : plan.pipelineMixes;
    for (const mix of mixes) {
      log(`recording the ${mix} mix (${plan.replayEvents} events, ${plan.replayDevices} devices; recorded and replayed in a process of its own)`);
      // A process per mix: a mix replayed earlier in the same process leaves a large heap and
      // polymorphic reader code behind, which slowed the next mixes' ceiling by up to 1.6x and so
      // flattered their ratios. Within the process, replay and ceiling runs still alternate.
      const { row, size } = replayFigureInChild(mix, plan.replayDevices, plan.replayEvents, plan.seed, plan.replayRuns, join(dir, `${mix}.dlog`));
      res.logSize.push(size);
      res.replay.push(row);
      replayEps.set(mix, row.replay.median);
      log(`  replay ${Math.round(row.replay.median)} ev/s, ceiling ${Math.round(row.ceiling.median)} ev/s, ratio ${row.ratio.toFixed(3)}; ${size.bytesPerEvent.toFixed(2)} B/event`);
    }
  }

  if (want.has('pipeline')) {
    for (const mix of plan.pipelineMixes) {
      if (plan.pipelineWarmupEvents > 0) {
        const devices = plan.pipelineDevices[0]!;
        log(`pipeline ${mix} × ${devices} devices: warm-up run (${plan.pipelineWarmupEvents} events, not counted)`);
        await runPipeline({ mix, devices, events: plan.pipelineWarmupEvents, seed: plan.seed, out: join(dir, `pipe-${mix}-warm-up.dlog`) });
      }
      let two: PipelineRow | null = null;
      for (const devices of plan.pipelineDevices) {
        const events = Math.max(plan.pipelineEvents, devices * plan.pipelineMinPerDevice);
        log(`pipeline ${mix} × ${devices} devices (${events} events, ${plan.pipelineRuns} runs, with the transport ceiling)`);
        let threads = 0;
        let applied = 0;
        let ownReplay = 0;
        const wall: number[] = [];
        const windows: number[] = [];
        const fromGo: number[] = [];
        const busy: number[] = [];
        const mainCpu: number[] = [];
        const cpu: number[] = [];
        const logFile = join(dir, `pipe-${mix}-${devices}.dlog`);
        const s = await interleaved(plan.pipelineRuns, {
          pipeline: async () => {
            const first = wall.length === 0;
            const r = await runPipeline({ mix, devices, events, seed: plan.seed, out: logFile, keepLog: first });
            threads = r.threads;
            applied = r.events;
            wall.push(r.wallEps);
            windows.push(r.window.last - r.window.first);
            fromGo.push(r.goEps);
            busy.push(r.elu);
            mainCpu.push(r.coordinatorCpu);
            cpu.push(r.cpuPerEventUs);
            if (first) {
              // The very same events through replay, timed over the same stretch (the run's steady window).
              const rr = timeReplay(logFile, r.window);
              ownReplay = rate(rr.events, rr.ms);
              rmSync(logFile, { force: true });
            }
            return r.eps;
          },
          transport: async () => (await runPipeline({ mix, devices, events, seed: plan.seed, noModel: true })).eps,
        });
        const rep = replayEps.get(mix) ?? 0;
        const row: PipelineRow = {
          mix, devices, threads, events: applied, pipeline: s.pipeline, pipelineWall: summarize(wall), window: summarize(windows), pipelineFromGo: summarize(fromGo), transport: s.transport,
          coordinatorBusy: summarize(busy), coordinatorCpu: summarize(mainCpu), cpuPerEvent: summarize(cpu),
          ratioToReplay: rep ? s.pipeline.median / rep : 0,
          ownReplay,
          ratioToOwnReplay: ownReplay ? s.pipeline.median / ownReplay : 0,
          ratioToTransport: ratio(s.pipeline, s.transport),
          ratioTo2: null,
          ratioTo2Normalized: null,
          ratioTo2FromGo: null,
        };
        if (devices === 2) two = row;
        else if (two) {
          row.ratioTo2 = row.pipeline.median / two.pipeline.median;
          row.ratioTo2Normalized = two.ratioToOwnReplay ? row.ratioToOwnReplay / two.ratioToOwnReplay : null;
          row.ratioTo2FromGo = row.pipelineFromGo.median / two.pipelineFromGo.median;
        }
        res.pipeline.push(row);
        log(`  pipeline ${Math.round(row.pipeline.median)} ev/s (${row.ratioToReplay.toFixed(2)} of replay (1), ${row.ratioToOwnReplay.toFixed(2)} of its own log's replay), transport ${Math.round(row.transport.median)} ev/s`);
      }
    }
  }

  if (want.has('memory') || want.has('seek')) {
    // One long run serves both: its process's RSS, then `dmasim replay --until N` on its log (the
    // replay's RSS at a tenth and at the end of the log come from those commands).
    const file = join(dir, `long-${plan.memoryMix}.dlog`);
    log(`memory: a ${plan.memoryEvents}-event stress run of ${plan.memoryMix} with ${plan.memoryDevices} devices (child process)`);
    res.memory = measureMemory(plan.memoryMix, plan.memoryDevices, plan.memoryEvents, plan.seed, file);
    log(`  stress peak RSS ${(res.memory.stress.maxRss / 2 ** 20).toFixed(0)} MiB`);
    log(`seek: dmasim replay --until N on the ${res.memory.events}-event log (N = 1, a tenth, the middle, the end; ${plan.seekRuns} run(s) each)`);
    res.seek = measureSeek(file, res.memory.events, plan.seekRuns);
    rmSync(file, { force: true });
  }

  res.targets = targets(res);
  res.totalSeconds = (now() - t0) / 1000;
  return res;
}

