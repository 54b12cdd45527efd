// The piscina task: one device program, run for the life of the run on a worker thread (or, for
// the inline host, on the coordinator's thread), talking to the coordinator only through `port`.

import { readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getPriority, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isMainThread, type MessagePort } from 'node:worker_threads';
import { Prng, type MmioRegion } from '@dmasim/core';
import { DeviceDriver, StopSignal } from './driver.ts';
import { Bugs, type DeviceInfo, type ModuleContext } from './workloads/common.ts';
import { findWorkload } from './workloads/index.ts';
import { OPS_PARAM, resolveParams, type ParamValue, type Resolved } from './workloads/params.ts';
import { runSteps } from './workloads/steps.ts';
import type { Step } from '@dmasim/core';

export type ProgramSpec =
  | { kind: 'workload'; workload: string; params: Record<string, ParamValue> }
  | { kind: 'steps'; steps: Step[]; repeat: number }
  /** A module exporting `run(ctx)` (tests and out-of-tree workloads); params are passed raw. */
  | { kind: 'module'; url: string; params: Record<string, ParamValue> };

export interface DeviceTask {
  port: MessagePort;
  device: DeviceInfo;
  program: ProgramSpec;
  /** The run seed (the program's PRNG is forked from it by device name). */
  seed: bigint;
  window: number;
  cpus: number;
  pageSize: number;
  region: { base: bigint; size: bigint };
  mmio: MmioRegion[];
  /** Lower this program's thread to this nice value (StressOptions.deviceNice); 0 or absent: leave it. */
  nice?: number;
}

export interface TaskResult {
  dev: string;
  status: 'ended' | 'failed' | 'stopped';
  issued: number;
}

/** What the END record carries (JSON in its ext payload). */
export interface EndInfo {
  issued: number;
  injected: Record<string, number>;
}

export default async function deviceTask(t: DeviceTask): Promise<TaskResult> {
  if (t.nice) lowerThreadPriority(t.nice);
  // Start barrier: every program starts when all threads are up, so free mode really interleaves.
  const first = await new Promise<unknown>((resolve) => {
    t.port.once('message', resolve);
    t.port.postMessage({ t: 'ready' });
  });
  const dev = t.device.name;
  // Stopped before the start (the top-level script crashed the kernel or was refused): never start.
  if ((first as { t?: unknown } | null)?.t === 'stop') {
    t.port.close();
    return { dev, status: 'stopped', issued: 0 };
  }
  const drv = new DeviceDriver(t.port, t.window);
  try {
    const injected = await runProgram(drv, t);
    const info: EndInfo = { issued: drv.issued, injected };
    await drv.end(JSON.stringify(info));
    return { dev, status: 'ended', issued: drv.issued };
  } catch (e) {
    if (e instanceof StopSignal || drv.isStopped) return { dev, status: 'stopped', issued: drv.issued };
    const err = e instanceof Error ? e : new Error(String(e));
    try {
      await drv.fail(`${err.name === 'Error' ? '' : err.name + ': '}${err.message}`);
    } catch (e2) {
      if (!(e2 instanceof StopSignal)) throw e2;
    }
    return { dev, status: 'failed', issued: drv.issued };
  } finally {
    drv.close();
  }
}

type ProgramModule = { run?: (ctx: ModuleContext) => Promise<void> };

/**
 * Piscina loads this file through tsx's require hook in a worker thread, where Node 20 does not
 * apply tsx's ESM hooks to dynamic import(): a TypeScript program module then goes by require too.
 */
async function loadModule(url: string): Promise<ProgramModule> {
  try {
    return (await import(url)) as ProgramModule;
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw e;
    return createRequire(import.meta.url)(fileURLToPath(url)) as ProgramModule;
  }
}

async function runProgram(drv: DeviceDriver, t: DeviceTask): Promise<Record<string, number>> {
  const prng = new Prng(t.seed).fork(`program:${t.device.name}`);
  const p = t.program;
  if (p.kind === 'steps') {
    await runSteps(drv, p.steps, p.repeat);
    return {};
  }
  let run: (ctx: ModuleContext) => Promise<void>;
  let params: Resolved;
  let knobs: ModuleContext['bugs'];
  if (p.kind === 'workload') {
    const w = findWorkload(p.workload);
    if (!w) throw new Error(`unknown workload "${p.workload}"`);
    params = resolveParams(`workload ${w.name} on ${t.device.name}`, w.params, p.params);
    knobs = new Bugs(prng.fork('bugs'), params, w.bugs);
    run = (ctx) => w.run(ctx);
  } else {
    const mod = await loadModule(p.url);
    if (typeof mod.run !== 'function') throw new Error(`program module ${p.url} exports no run(ctx)`);
    params = Object.fromEntries(Object.entries(p.params).map(([k, v]) => [k, typeof v === 'number' || typeof v === 'string' ? v : String(v)]));
    knobs = new Bugs(prng.fork('bugs'), params, []);
    run = mod.run;
  }
  const ops = typeof params[OPS_PARAM.name] === 'number' ? (params[OPS_PARAM.name] as number) : Number(OPS_PARAM.default);
  const ctx: ModuleContext = {
    drv, dev: t.device, prng, p: params, bugs: knobs, region: t.region, lane: { index: 0, count: 1 }, cpus: t.cpus, pageSize: t.pageSize, mmio: t.mmio,
    more: () => drv.issued < ops,
  };
  await run(ctx);
  // The driver is unloaded at the end of the run: dma-debug's leak check runs here.
  await drv.issue({ op: 'unbind', cpu: t.device.index % t.cpus });
  return { ...knobs.injected };
}

/**
 * Lowers the calling worker thread's scheduling priority to `nice` (never raises it). Linux only:
 * setpriority() on a thread id (from /proc/thread-self) applies to that thread alone. On the
 * coordinator's thread (the inline host), or where the thread id cannot be read, nothing changes.
 */
export function lowerThreadPriority(nice: number): void {
  if (isMainThread) return;
  let tid: number;
  try {
    tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return;
  }
  if (!Number.isInteger(tid) || tid <= 0 || tid === process.pid) return;
  try {
    if (getPriority(tid) < nice) setPriority(tid, nice);
  } catch {
    // Not permitted here: the thread keeps its priority.
  }
}
