// Figures 2 and 3: a mix produced live by N device workers (piscina threads) through the bus into
// the coordinator, which applies each event to the model and appends it to the log (fsync at every
// batch boundary); and the transport ceiling — the same programs, the same bus encoding, the same
// coordinator, with the model replaced by a constant-time NullModel and no log.

import { readFileSync, rmSync } from 'node:fs';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Event } from '../packages/core/src/index.ts';
import { DEFAULT_DEVICE_NICE, runStress, type Model, type StressResult } from '../packages/workers/src/index.ts';
import { MIXES, type MixName } from './mixes.ts';
import { NullModel } from './null-model.ts';
import { now, rate } from './stats.ts';

export interface PipelineRun {
  events: number;
  /** Steady-state rate: from the moment every device has had an event applied until the first program ends (thread start-up and the ragged end excluded). */
  eps: number;
  /** Rate over the whole runStress call, thread start-up and teardown included. */
  wallEps: number;
  /**
   * Rate from the start barrier's release to the end of the run (every event; thread start-up
   * excluded, the backlog of the first batches and the ragged end included): a figure that does
   * not depend on the steady window (at 64 devices with 8000 events each it was a few thousand
   * events long).
   */
  goEps: number;
  wallMs: number;
  threads: number;
  end: string;
  /** The steady window as event sequence numbers (to replay exactly the same stretch). */
  window: { first: number; last: number };
  /**
   * The coordinator's event-loop utilization over the steady window (performance.
   * eventLoopUtilization of this thread: 1 when it never waited for a device). Like the two
   * below, NaN when no program's end closed the window.
   */
  elu: number;
  /** The coordinator thread's CPU time over the steady window, as a share of the window (Linux: /proc; else NaN). */
  coordinatorCpu: number;
  /** The process's CPU time (all threads) per event of the steady window, in µs. */
  cpuPerEventUs: number;
}

/**
 * CPU time (user + system) of this process's main thread, in ms, from /proc/self/task/PID/stat
 * (utime and stime, in the 100 Hz ticks /proc reports on Linux); NaN where there is no /proc.
 * Node 20 has no per-thread CPU clock (process.threadCpuUsage is Node 23).
 */
function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

export interface PipelineOptions {
  mix: MixName;
  devices: number;
  events: number;
  seed: bigint;
  /** Log path (fsync'd at batch boundaries); none for the transport ceiling. */
  out?: string;
  /** true: NullModel instead of the Machine (transport ceiling). */
  noModel?: boolean;
  /** Leave the log in place (the caller replays it and deletes it). */
  keepLog?: boolean;
  /** Device threads (default: runStress's, one per device up to 16). */
  threads?: number;
  /** Device thread nice value (runStress's deviceNice; default DEFAULT_DEVICE_NICE, as `dmasim stress`). */
  deviceNice?: number;
}

export async function runPipeline(o: PipelineOptions): Promise<PipelineRun> {
  const { config, programs } = MIXES[o.mix].build(o.devices, Math.ceil(o.events / o.devices), o.seed);
  // The steady window opens once every device has had an event applied (all threads are up and
  // compiled) and closes when the first program ends (its final `unbind`): in between every device
  // is running. Sampled every 256 events to keep the hook cheap.
  let n = 0;
  let waiting = o.devices;
  const seen = new Uint8Array(o.devices);
  let tFirst = 0;
  let nFirst = 0;
  let tLast = 0;
  let nLast = 0;
  let closed = false;
  let elu0: EventLoopUtilization | undefined;
  let elu = NaN;
  let cpu0: NodeJS.CpuUsage | undefined;
  let cpuUs: NodeJS.CpuUsage | undefined;
  let main0 = NaN;
  let mainCpu = NaN;
  const onEvent = (seq: number, dev: number, ev: Event): void => {
    n = seq;
    if (closed) return;
    if (waiting > 0) {
      if (dev >= 0 && !seen[dev]) {
        seen[dev] = 1;
        if (--waiting === 0) {
          tFirst = now();
          nFirst = n;
          elu0 = performance.eventLoopUtilization();
          cpu0 = process.cpuUsage();
          main0 = mainThreadCpuMs();
        }
      }
    } else if (ev.op === 'unbind') {
      tLast = now();
      nLast = n;
      closed = true;
      elu = performance.eventLoopUtilization(elu0).utilization;
      cpuUs = process.cpuUsage(cpu0);
      mainCpu = (mainThreadCpuMs() - main0) / (tLast - tFirst);
    } else if ((n & 255) === 0) {
      tLast = now();
      nLast = n;
    }
  };
  const model: Model | undefined = o.noModel ? new NullModel() : undefined;
  const t = now();
  let r: StressResult;
  try {
    r = await runStress({
      // onEvent reads only seq, dev and op: outcomes are reused, as in `dmasim stress` (no onEvent).
      config, programs, schedule: { mode: 'free' }, onEvent, reuseOutcomes: true, dmasimVersion: 'bench',
      ...(o.out ? { out: o.out } : {}), ...(model ? { model } : {}), ...(o.threads ? { threads: o.threads } : {}), deviceNice: o.deviceNice ?? DEFAULT_DEVICE_NICE,
    });
  } finally {
    if (o.out && !o.keepLog) rmSync(o.out, { force: true });
  }
  const wallMs = now() - t;
  if (r.end !== 'completed') throw new Error(`pipeline ${o.mix} × ${o.devices}: run ended ${r.end}: ${r.findings.slice(0, 3).map((f) => f.message).join('; ')}`);
  const failed = r.devices.filter((d) => d.status !== 'ended');
  if (failed.length) throw new Error(`pipeline ${o.mix} × ${o.devices}: device ${failed[0]!.name} ${failed[0]!.status}: ${failed[0]!.message ?? ''}`);
  return {
    events: r.events,
    eps: nLast > nFirst ? rate(nLast - nFirst, tLast - tFirst) : rate(r.events, wallMs),
    wallEps: rate(r.events, wallMs),
    goEps: rate(r.events, r.elapsedMs),
    wallMs,
    threads: r.threads,
    end: r.end,
    window: { first: nFirst, last: nLast },
    elu, coordinatorCpu: mainCpu, cpuPerEventUs: cpuUs && nLast > nFirst ? (cpuUs.user + cpuUs.system) / (nLast - nFirst) : NaN,
  };
}
