// Kernel text forms of a run's output: ftrace lines (`trace` file format, with a synthetic but
// well-formed task/cpu/timestamp prefix from the virtual clock) and dmesg lines with timestamps.

import type { MachineConfig } from '../config.ts';
import type { TraceRec } from '../events.ts';

/** The task an event is attributed to in an ftrace line. */
export interface FtraceTask { comm: string; pid: number }

export interface FtraceContext extends FtraceTask {
  cpu: number;
  timeNs: number;
}

/** TASK_COMM_LEN is 16 including the NUL. */
const COMM_MAX = 15;

/**
 * The task for an event: a device's calls run in a task named after its driver with a stable
 * synthetic pid (1000 + the device's index); calls without a device (timers firing while time
 * advances) in the idle task, as softirq work on an idle CPU would show.
 */
export function ftraceTask(config: Pick<MachineConfig, 'devices'>, dev?: string): FtraceTask {
  const i = dev === undefined ? -1 : config.devices.findIndex((d) => d.name === dev);
  if (i < 0) return { comm: '<idle>', pid: 0 };
  return { comm: config.devices[i]!.driver.slice(0, COMM_MAX), pid: 1000 + i };
}

/** `secs.usecs` of a virtual time, with secs right-aligned in 5 columns as the kernel prints it. */
function stamp(timeNs: number): string {
  const us = Math.floor(timeNs / 1000);
  const secs = Math.floor(us / 1_000_000);
  return `${String(secs).padStart(5)}.${String(us % 1_000_000).padStart(6, '0')}`;
}

/**
 * One line of the ftrace `trace` file: `<comm>-<pid> [<cpu>] <flags> <secs>.<usecs>: <name>: <text>`,
 * laid out as the kernel's print_trace_fmt does (comm right-aligned in 16, pid left-aligned in 7,
 * cpu as %03d, the five latency-flag columns shown as dots: irqs on, no resched, not in irq).
 */
export function ftraceLine(rec: TraceRec, ctx: FtraceContext): string {
  const task = `${ctx.comm.padStart(16)}-${String(ctx.pid).padEnd(7)}`;
  return `${task} [${String(ctx.cpu).padStart(3, '0')}] ..... ${stamp(ctx.timeNs)}: ${rec.name}: ${rec.text}`;
}

/** The header the kernel prints at the top of the `trace` file (tracer: nop). */
export function ftraceHeader(entries: number, cpus: number): string[] {
  return [
    '# tracer: nop',
    '#',
    `# entries-in-buffer/entries-written: ${entries}/${entries}   #P:${cpus}`,
    '#',
    '#                                _-----=> irqs-off/BH-disabled',
    '#                               / _----=> need-resched',
    '#                              | / _---=> hardirq/softirq',
    '#                              || / _--=> preempt-depth',
    '#                              ||| / _-=> migrate-disable',
    '#                              |||| /     delay',
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
    '#              | |         |   |||||     |         |',
  ];
}

/** A kernel log line as dmesg prints it: `[%5lu.%06lu] <text>`. */
export function dmesgLine(timeNs: number, text: string): string {
  return `[${stamp(timeNs)}] ${text}`;
}
