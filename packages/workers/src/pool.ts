// Device hosts: where device programs run. `threads` is a piscina pool in which each program is
// one long-lived task holding a thread slot; `inline` runs the same task on the coordinator's own
// thread (for campaigns, whose seeded schedules make the order thread-independent anyway).

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import deviceTask, { type DeviceTask, type TaskResult } from './device-task.ts';

export const DEVICE_TASK_URL = new URL('./device-task.ts', import.meta.url).href;

/** Default threads for n devices: one per device, up to 16 (then several programs share a thread). */
export function defaultThreads(devices: number): number {
  return Math.max(1, Math.min(devices, 16));
}

/**
 * Worker threads load TypeScript through tsx, under vitest and `pnpm dmasim` alike. A process
 * started with `node --cpu-prof…` passes those flags on, so each device thread writes a profile
 * of its own too (an explicit execArgv would otherwise leave them out).
 * @see docs/workers.md ("Threads")
 */
export function tsxExecArgv(parent: readonly string[] = process.execArgv): string[] {
  let loader: string;
  try {
    loader = import.meta.resolve('tsx');
  } catch {
    throw new Error('dmasim workers need the tsx loader (package "tsx") to run TypeScript device programs in worker threads');
  }
  return ['--import', loader, ...profilingFlags(parent)];
}

/**
 * The --cpu-prof flags of a node command line, with the value of any given as a separate argument.
 * --cpu-prof-name is left out: every thread would write its profile to that one file name, each
 * overwriting the last; without it each thread gets node's default name, which holds its thread id.
 */
function profilingFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--cpu-prof')) continue;
    const takesNext = a !== '--cpu-prof' && !a.includes('=') && i + 1 < argv.length; // --cpu-prof-dir DIR
    const value = takesNext ? argv[++i]! : undefined;
    if (a === '--cpu-prof-name' || a.startsWith('--cpu-prof-name=')) continue;
    out.push(a);
    if (value !== undefined) out.push(value);
  }
  return out;
}

export interface Started {
  /** The coordinator's end of each device's channel. */
  ports: MessagePort[];
  /** Each device task's settlement. */
  tasks: Promise<TaskResult>[];
}

export interface DeviceHost {
  readonly kind: 'threads' | 'inline';
  readonly threads: number;
  /** Starts one task per device; `tasks[i].port` is filled in here. */
  start(tasks: Omit<DeviceTask, 'port'>[]): Started;
  /** Kills device `dev`'s task (its thread, and any other program sharing it). */
  abort(dev: number): void;
  close(): Promise<void>;
}

export class ThreadHost implements DeviceHost {
  readonly kind = 'threads';
  private readonly pool: Piscina;
  private aborts: AbortController[] = [];
  /** Piscina gives an abortable task a thread of its own: only one-program-per-thread pools abort. */
  private readonly abortable: boolean;

  constructor(readonly threads: number, devices: number) {
    this.abortable = threads >= devices;
    this.pool = new Piscina({
      filename: DEVICE_TASK_URL,
      minThreads: threads,
      maxThreads: threads,
      // Every program holds its slot for the whole run: size the slots so none waits in the queue.
      concurrentTasksPerWorker: Math.max(1, Math.ceil(devices / threads)),
      idleTimeout: 60_000,
      // Programs are async and share their thread's event loop; blocking Atomics waits would stall them.
      atomics: 'disabled',
      execArgv: tsxExecArgv(),
    });
  }

  start(tasks: Omit<DeviceTask, 'port'>[]): Started {
    const ports: MessagePort[] = [];
    const settled: Promise<TaskResult>[] = [];
    this.aborts = tasks.map(() => new AbortController());
    tasks.forEach((t, i) => {
      const { port1, port2 } = new MessageChannel();
      ports.push(port1);
      const task: DeviceTask = { ...t, port: port2 };
      const opts = this.abortable ? { transferList: [port2], signal: this.aborts[i]!.signal } : { transferList: [port2] };
      settled.push(this.pool.run(task, opts) as Promise<TaskResult>);
    });
    return { ports, tasks: settled };
  }

  abort(dev: number): void {
    // Shared threads cannot lose one program: a hung one dies with the pool at the end of the run.
    if (this.abortable) this.aborts[dev]?.abort(new Error('device program timed out'));
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

export class InlineHost implements DeviceHost {
  readonly kind = 'inline';
  readonly threads = 0;

  start(tasks: Omit<DeviceTask, 'port'>[]): Started {
    const ports: MessagePort[] = [];
    const settled: Promise<TaskResult>[] = [];
    for (const t of tasks) {
      const { port1, port2 } = new MessageChannel();
      ports.push(port1);
      // Deferred so the coordinator subscribes before the first batch is posted.
      settled.push(Promise.resolve().then(() => deviceTask({ ...t, port: port2 })));
    }
    return { ports, tasks: settled };
  }

  abort(): void {
    // An inline program cannot be killed; it was sent a stop message and ends at its next call.
  }

  async close(): Promise<void> {}
}

export function makeHost(threads: number | 'inline' | undefined, devices: number): DeviceHost {
  if (threads === 'inline') return new InlineHost();
  return new ThreadHost(threads ?? defaultThreads(devices), devices);
}

export function cores(): number {
  return availableParallelism();
}
