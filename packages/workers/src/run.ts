// One stress run: builds the machine, starts a device program per device (threads or inline),
// wires ports → bus → coordinator → Machine.apply → log, reports progress, and returns a summary.

import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { FINDING_KINDS, LogWriter, Machine, STATE_HASH_VERSION, type Event, type MachineConfig, type Outcome, type Step } from '@dmasim/core';
import { makeBus } from './bus.ts';
import type { MessagePort } from 'node:worker_threads';
import { Coordinator, isReady, type DeviceStats, type EventSink, type Model, type RunEnd, type RunFinding, type RunFindingKind, type TestHooks } from './coordinator.ts';
import type { DeviceTask, ProgramSpec } from './device-task.ts';
import { deviceInfo, deviceRegions } from './platform.ts';
import { makeHost } from './pool.ts';
import { DEFAULT_WINDOW } from './protocol.ts';
import { describeSchedule, type ScheduleSpec } from './schedule.ts';
import { runScript, type ScriptStep } from './script.ts';

/**
 * State hash marks in stress logs: every 64 Ki events. Replay still checks every event's outcome
 * digest; the marks only localise a state divergence, and hashing the model state is not free.
 */
export const STATE_HASH_EVERY = 1 << 16;

/** Model invariants (swiotlb slot lists, IOVA trees: linear cost) are checked every 4 Ki events. */
export const INVARIANT_EVERY = 4096;

export interface ProgramAssignment { dev: string; program: ProgramSpec }

export interface StressOptions {
  config: MachineConfig;
  programs: ProgramAssignment[];
  schedule: ScheduleSpec;
  /** Device threads; 'inline' runs every program on this thread. Default: one per device up to 16. */
  threads?: number | 'inline';
  /**
   * Nice value for the device threads (Linux; 0: leave them at the coordinator's priority). The
   * coordinator is the run's bottleneck: devices issue calls faster than it applies them, and a
   * device thread woken by a returned batch would otherwise take the CPU from it.
   */
  deviceNice?: number;
  window?: number;
  /** Event log path; no log when absent. */
  out?: string;
  /** Extra header facts (scenario, command line) for the log. */
  scenario?: { name: string; file?: string; source?: string };
  dmasimVersion?: string;
  deviceTimeoutMs?: number;
  /** Check model invariants every N events (0 = never; default INVARIANT_EVERY), and at the end. */
  invariantEvery?: number;
  hooks?: TestHooks;
  /** Progress callback, every progressMs of wall time. */
  onProgress?: (p: Progress) => void;
  progressMs?: number;
  /** Lifecycle notes for the run's pino log (never per event). */
  note?: (level: 'info' | 'warn', msg: string, extra?: Record<string, unknown>) => void;
  /** Observe every applied event (scenario expectations, tests). */
  onEvent?: (seq: number, dev: number, ev: Event, out: Outcome) => void;
  /**
   * Let the machine reuse one outcome object for every device event (Machine.recycleOutcomes).
   * Default: true without onEvent, false with it, since an onEvent may keep outcomes; pass true
   * when yours reads each outcome only during its call (the bench's pipeline figure does).
   */
  reuseOutcomes?: boolean;
  /** Observe every dropped call (a device's record the coordinator skipped): with onEvent, each record in order. */
  onSkip?: (dev: number) => void;
  /** A scenario's top-level steps: applied in order before any device program's call. */
  script?: Step[];
  /** Replace the model (transport benchmarks measure without one). */
  model?: Model;
  /** The machine to run (built from `config` by the caller, who reads its final state); default a new one. */
  machine?: Machine;
  /** Abort signal: stops the run cleanly (Ctrl-C). */
  signal?: AbortSignal;
}

export interface Progress {
  events: number;
  elapsedMs: number;
  running: number;
  findings: number;
  liveMappings?: number;
  swiotlbUsed?: number;
  swiotlbTotal?: number;
  iovaPfns?: number;
}

export interface StressResult {
  end: RunEnd;
  events: number;
  /** Wall time from the start barrier's release to the end (thread start-up excluded). */
  elapsedMs: number;
  /** Wall time to start the device threads (until every program was ready). */
  startupMs: number;
  devices: DeviceStats[];
  findingCounts: Partial<Record<RunFindingKind, number>>;
  firstFindings: RunFinding[];
  findings: RunFinding[];
  /** dma-debug's error_count at the end. */
  debugErrors: number;
  stateHash: string;
  logPath?: string;
  /** sha256 of the log's event frames (everything after the header): equal logs, equal hash. */
  logHash?: string;
  threads: number;
  /** Most batches one device had queued at the coordinator (bounded by the window). */
  maxQueuedBatches: number;
  schedule: string;
  /** What each top-level script step did. */
  script: ScriptStep[];
  /** Calls each device program issued (from its task's result; absent if its thread died). */
  issued: Record<string, number>;
}


/** The device threads' nice value `dmasim stress` and the bench use (StressOptions.deviceNice). */
export const DEFAULT_DEVICE_NICE = 19;

export async function runStress(o: StressOptions): Promise<StressResult> {
  const cfg = o.config;
  const names = o.programs.map((p) => p.dev);
  const machine = o.model ? null : (o.machine ?? new Machine(cfg));
  // A log is always written in the current format, whose state marks are version-STATE_HASH_VERSION
  // hashes: a machine set to an older definition would write marks no replay of the log matches.
  if (o.out && machine && machine.hashVersion !== STATE_HASH_VERSION) {
    throw new Error(`runStress: the machine hashes its state with definition ${machine.hashVersion}, but the log it writes records definition ${STATE_HASH_VERSION}; leave Machine.hashVersion at its default`);
  }
  const model: Model = o.model ?? machine!;
  const window = o.window ?? DEFAULT_WINDOW;
  const host = makeHost(o.threads, names.length);
  const regions = deviceRegions(cfg, names.length);
  const log = o.out
    ? LogWriter.open(o.out, {
      dmasim: o.dmasimVersion ?? '0.1.0',
      config: cfg,
      ...(o.scenario ? { scenario: o.scenario } : {}),
      schedule: scheduleHeader(o.schedule, host.threads),
    }, { stateHash: () => model.stateHash(), stateHashEvery: STATE_HASH_EVERY })
    : null;
  const sink: EventSink | undefined = log
    ? { append: (ev, out, thrown) => (out ? log.append(ev, out) : log.appendThrown(ev, thrown)) }
    : undefined;

  const tasks: Omit<DeviceTask, 'port'>[] = o.programs.map((p, i) => ({
    device: deviceInfo(cfg, p.dev),
    program: p.program,
    seed: cfg.seed,
    window,
    cpus: cfg.platform.cpus,
    pageSize: cfg.platform.pageSize,
    region: regions[i]!,
    mmio: cfg.platform.mmio,
    // Only device threads of their own (a campaign runs its inline programs on its pool's threads).
    ...(o.deviceNice && host.kind === 'threads' ? { nice: o.deviceNice } : {}),
  }));
  const expectedSteps = o.programs.reduce((n, p) => n + expectedOps(p.program), 0);
  const started = host.start(tasks);
  const coord = new Coordinator({
    model,
    devices: names,
    schedule: o.schedule,
    expectedSteps,
    window,
    ...(sink ? { sink } : {}),
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
    ...(o.onSkip ? { onSkip: o.onSkip } : {}),
    ...(machine ? { checkInvariants: () => machine.checkInvariants() } : {}),
    invariantEvery: o.invariantEvery ?? INVARIANT_EVERY,
    deviceTimeoutMs: o.deviceTimeoutMs ?? 30_000,
    send: (dev, msg, transfer) => started.ports[dev]!.postMessage(msg, transfer ?? []),
    abort: (dev) => host.abort(dev),
    ...(o.hooks ? { hooks: o.hooks } : {}),
    ...(o.note ? { note: o.note } : {}),
  });
  const tStart = Date.now();
  let t0 = tStart;
  const progress = (): Progress => {
    const p: Progress = { events: coord.seq, elapsedMs: Date.now() - t0, running: coord.running, findings: sumCounts(coord.findingCounts) };
    const s = machine?.summary();
    if (s) {
      p.liveMappings = s.devices.reduce((n, d) => n + d.liveMappings, 0);
      p.swiotlbUsed = s.swiotlb.used;
      p.swiotlbTotal = s.swiotlb.total;
      p.iovaPfns = s.iova.reduce((n, d) => n + d.allocatedPfns, 0);
    }
    return p;
  };
  const timer = o.onProgress ? setInterval(() => o.onProgress!(progress()), o.progressMs ?? 1000) : null;
  const onAbort = (): void => coord.stop('stopped', 'interrupted');
  o.signal?.addEventListener('abort', onAbort);
  let end: RunEnd;
  let script: ScriptStep[] = [];
  const issued: Record<string, number> = {};
  let startupMs = 0;
  const recycled = machine?.recycleOutcomes ?? false;
  try {
    const ready = started.ports.map((p, i) => waitReady(p, started.tasks[i]!, o.deviceTimeoutMs ?? 30_000));
    const done = coord.start(makeBus(started.ports, started.tasks));
    if (o.script?.length) script = runScript(coord, model, o.scenario?.file ?? '(script)', o.script);
    // From here on the coordinator is done with each outcome before the next event (it takes the
    // result, counts and finding texts; the log folds it into a digest), so one object can serve
    // every event — unless onEvent shows outcomes to a caller who may keep them (reuseOutcomes).
    // The script's steps above keep theirs. Restored when the run ends.
    if (machine && (o.reuseOutcomes ?? !o.onEvent)) machine.recycleOutcomes = true;
    await Promise.all(ready);
    for (const p of started.ports) p.postMessage({ t: 'go' });
    coord.released();
    startupMs = Date.now() - tStart;
    t0 = Date.now();
    end = await done;
    if (end === 'completed' && coord.finalInvariants()) end = 'invariant';
  } catch (e) {
    log?.abandon();
    throw e;
  } finally {
    if (machine) machine.recycleOutcomes = recycled;
    if (timer) clearInterval(timer);
    o.signal?.removeEventListener('abort', onAbort);
    for (const p of started.ports) p.close();
    // Ended programs return promptly; a hung one is terminated with the pool.
    await Promise.race([Promise.allSettled(started.tasks), new Promise((r) => setTimeout(r, 2000).unref())]);
    await host.close();
    for (const t of await Promise.allSettled(started.tasks)) if (t.status === 'fulfilled') issued[t.value.dev] = t.value.issued;
  }
  o.onProgress?.(progress());
  const stateHash = model.stateHash();
  const res: StressResult = {
    end,
    events: coord.seq,
    elapsedMs: Date.now() - t0,
    startupMs,
    devices: coord.deviceStats.map((d) => ({ ...d })),
    findingCounts: Object.fromEntries(coord.findingCounts),
    firstFindings: [...coord.findingCounts.keys()].map((k) => coord.firstOf(k)!).sort((a, b) => a.seq - b.seq),
    findings: coord.findings,
    debugErrors: machine ? machine.k.debug.errorCount : 0,
    stateHash,
    threads: host.threads,
    maxQueuedBatches: coord.maxQueuedBatches,
    schedule: describeSchedule(o.schedule),
    script,
    issued,
  };
  if (log) {
    log.close(stateHash);
    res.logPath = log.path;
    res.logHash = logHash(log.path);
  }
  return res;
}

/** Resolves when the device's thread is up (its program waits for 'go'), died, or took too long. */
function waitReady(port: MessagePort, task: Promise<unknown>, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(finish, timeoutMs);
    function finish(): void {
      clearTimeout(timer);
      port.off('message', on);
      resolve();
    }
    function on(m: unknown): void {
      if (isReady(m)) finish();
    }
    port.on('message', on);
    task.then(finish, finish);
  });
}

function scheduleHeader(s: ScheduleSpec, threads: number): { mode: string; seed?: bigint; workers?: number; depth?: number } {
  if (s.mode === 'free') return { mode: 'free', workers: threads };
  if (s.mode === 'random') return { mode: 'random', seed: s.seed, workers: threads };
  return { mode: 'pct', seed: s.seed, depth: s.depth, workers: threads };
}

function expectedOps(p: ProgramSpec): number {
  if (p.kind === 'steps') return p.steps.length * p.repeat;
  const ops = p.params.ops;
  const n = typeof ops === 'number' ? ops : typeof ops === 'bigint' ? Number(ops) : typeof ops === 'string' ? Number(ops) : 10000;
  return Number.isFinite(n) ? n : 10000;
}

function sumCounts(m: Map<RunFindingKind, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

/** Finding kinds the model reports (the rest are the run's own: worker failures, refusals). */
export const MODEL_FINDING_KINDS: readonly string[] = FINDING_KINDS;

/**
 * sha256 of a log's frames after the header. The header holds wall-clock creation facts and the
 * thread count; everything after it is a function of the events, outcomes and state hashes alone.
 */
export function logHash(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(16);
    readSync(fd, head, 0, 16, 12);
    let pos = 12 + 28 + head.readUInt32LE(0);
    const h = createHash('sha256');
    const buf = Buffer.alloc(1 << 20);
    while (pos < size) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
    return h.digest('hex').slice(0, 32);
  } finally {
    closeSync(fd);
  }
}
