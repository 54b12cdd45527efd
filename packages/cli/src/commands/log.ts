// `dmasim log LOG`: inspects a recorded run — header, then the events (filtered by device, op and
// sequence range) with their recorded results; `--trace` re-applies the events to print the
// selected ones' trace events as ftrace text (the log keeps digests, not text).

import type { Command } from 'commander';
import {
  ftraceLine, ftraceTask, replay, toJson, type Event, type LogHeader, type LogReader, type LogRecord, type Outcome,
} from '@dmasim/core';
import { EXIT, InputError } from '../errors.ts';
import type { SetExit } from './index.ts';
import { damageText, eventText, openLog, recoveredText } from './log-text.ts';
import { parseSeq } from './replay.ts';

export interface LogFlags { device?: string; op?: string; from?: string; to?: string; json?: boolean; trace?: boolean }

const out = (s: string): void => void process.stdout.write(s + '\n');
const err = (s: string): void => void process.stderr.write(s + '\n');

/** `dmasim log … | head`: when the reader goes away, stop quietly instead of dying on EPIPE. */
let stdoutClosed = false;
let watching = false;
function watchStdout(): void {
  if (watching) return;
  watching = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stdoutClosed = true;
  });
}
/** Lets a pending EPIPE surface during a long listing (stdout errors arrive asynchronously). */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

const OP_FAMILIES: Record<string, (op: string) => boolean> = {
  map: (op) => op.startsWith('map-'),
  unmap: (op) => op.startsWith('unmap-'),
  sync: (op) => op.startsWith('sync-'),
  sg: (op) => op.endsWith('-sg') || op.startsWith('sync-sg-'),
  coherent: (op) => op === 'alloc-coherent' || op === 'free-coherent',
  access: (op) => op.startsWith('dev-') || op.startsWith('cpu-'),
};
const ALL_OPS = [
  'map-single', 'map-page', 'map-phys', 'map-resource', 'unmap-single', 'unmap-page', 'unmap-phys', 'unmap-resource',
  'map-sg', 'unmap-sg', 'sync-for-cpu', 'sync-for-device', 'sync-sg-for-cpu', 'sync-sg-for-device', 'alloc-coherent',
  'free-coherent', 'mapping-error', 'set-mask', 'max-mapping-size', 'unbind', 'dev-read', 'dev-write', 'cpu-read',
  'cpu-write', 'advance-time', 'flush-iotlb',
];

/** `--op map,unmap-page`: op names or families (map, unmap, sync, sg, coherent, access). */
export function opFilter(spec: string): (op: string) => boolean {
  const tests = spec.split(',').map((w) => w.trim()).filter(Boolean).map((w) => {
    const fam = OP_FAMILIES[w];
    if (fam) return fam;
    if (ALL_OPS.includes(w)) return (op: string) => op === w;
    throw new InputError(`--op: unknown op "${w}" (ops: ${ALL_OPS.join(', ')}; families: ${Object.keys(OP_FAMILIES).join(', ')})`);
  });
  if (tests.length === 0) throw new InputError('--op: expected an op name or family');
  return (op) => tests.some((t) => t(op));
}

function headerLines(file: string, h: LogHeader): string[] {
  const c = h.created;
  const devs = h.config.devices.map((d) => `${d.name} (${d.dma}${d.domain ? ` ${d.domain}` : ''})`).join(', ');
  const sc = h.scenario ? `, scenario ${h.scenario.name}${h.scenario.file ? ` (${h.scenario.file})` : ''}` : '';
  const sched = h.schedule ? `, schedule ${Object.entries(h.schedule).map(([k, v]) => `${k}=${String(v)}`).join(' ')}` : '';
  return [
    `log ${file}: format ${h.format}, written by dmasim ${h.dmasim} at ${c.at}${c.host ? ` on ${c.host}` : ''}`,
    `  kernel ${h.profile}, seed ${h.seed}${sc}${sched}`,
    `  devices: ${devs || 'none'}`,
    `  batches of ${h.batchEvents} events, a state hash every ${h.stateHashEvery}`,
  ];
}

function resultText(r: LogRecord): string {
  const v = r.result < 0n ? `-0x${(-r.result).toString(16)}` : `0x${r.result.toString(16)}`;
  return `-> ${v} ${r.path}${r.error ? ' error' : ''}${r.thrown ? ` threw ${r.thrown}` : ''}`;
}

/** Prints the selected records (or their ftrace lines); returns the exit code. */
export async function logFile(file: string, flags: LogFlags): Promise<number> {
  watchStdout();
  const from = flags.from === undefined ? 1 : parseSeq('--from', flags.from);
  const to = flags.to === undefined ? Infinity : parseSeq('--to', flags.to);
  if (to < from) throw new InputError(`--from ${from} --to ${to}: empty range`);
  const opOk = flags.op === undefined ? () => true : opFilter(flags.op);
  const selected = (r: LogRecord): boolean =>
    r.seq >= from && r.seq <= to && opOk(r.event.op) && (flags.device === undefined || ('dev' in r.event && r.event.dev === flags.device));
  const reader = openLog(file);
  try {
    if (flags.device !== undefined && !reader.header.config.devices.some((d) => d.name === flags.device)) {
      throw new InputError(`--device: ${file} has no device "${flags.device}" (devices: ${reader.header.config.devices.map((d) => d.name).join(', ')})`);
    }
    return flags.trace ? printTrace(file, reader, selected, to, flags) : await printRecords(file, reader, selected, from, to, flags);
  } finally {
    reader.close();
  }
}

function finish(file: string, reader: LogReader, shown: number, stoppedEarly: boolean, json: boolean | undefined): number {
  const st = reader.status;
  if (json) out(JSON.stringify(toJson({ status: { shown, complete: st.complete, events: st.events, end: st.end, damage: st.damage } })));
  if (!stoppedEarly && st.damage) {
    err(`dmasim: ${file}: ${damageText(st.damage)}; ${recoveredText(st)}`);
    return EXIT.BAD_INPUT;
  }
  if (!json) {
    const tail = stoppedEarly ? '' : st.complete ? `, complete, final state ${st.end!.state}` : '';
    out(`${shown} event${shown === 1 ? '' : 's'} shown${stoppedEarly ? '' : ` of ${st.events}`}${tail}`);
  }
  return EXIT.OK;
}

async function printRecords(file: string, reader: LogReader, selected: (r: LogRecord) => boolean, from: number, to: number, flags: LogFlags): Promise<number> {
  if (flags.json) out(JSON.stringify(toJson({ header: reader.header })));
  else for (const l of headerLines(file, reader.header)) out(l);
  let shown = 0;
  let stoppedEarly = false;
  for (const r of reader.records(from)) {
    if (r.seq > to) {
      stoppedEarly = true;
      break;
    }
    if (!selected(r)) continue;
    if (++shown % 4096 === 0) {
      await tick();
      if (stdoutClosed) return EXIT.OK;
    }
    if (flags.json) out(JSON.stringify(toJson({ seq: r.seq, event: r.event, result: r.result, error: r.error, path: r.path, thrown: r.thrown, tag: r.tag.toString(16).padStart(8, '0') })));
    else out(`${String(r.seq).padStart(8)}  ${eventText(r.event)} ${resultText(r)}`);
  }
  return finish(file, reader, shown, stoppedEarly, flags.json);
}

/** ftrace text of the selected events, as trace_pipe prints it (no header: the log is streamed). */
function printTrace(file: string, reader: LogReader, selected: (r: LogRecord) => boolean, to: number, flags: LogFlags): number {
  const cfg = reader.header.config;
  let shown = 0;
  const onEvent = (r: LogRecord, o: Outcome | undefined): void => {
    if (!o || !selected(r)) return;
    shown++;
    const ev: Event = r.event;
    const task = ftraceTask(cfg, 'dev' in ev ? ev.dev : undefined);
    for (const t of o.trace) {
      const line = ftraceLine(t, { ...task, cpu: ev.cpu, timeNs: o.timeNs });
      out(flags.json ? JSON.stringify({ seq: r.seq, line }) : line);
    }
  };
  const res = replay(reader, { ...(Number.isFinite(to) ? { until: to } : {}), salvage: true, onEvent });
  if (res.verdict === 'divergent') {
    const d = res.divergence!;
    err(`dmasim: ${file}: replay diverged at event ${d.seq} (${d.field}: expected ${d.expected}, actual ${d.actual}); trace text after it would not be the recorded run's`);
    return EXIT.FOUND;
  }
  return finish(file, reader, shown, res.verdict === 'until', flags.json);
}

export function registerLog(program: Command, setExit: SetExit): void {
  program
    .command('log')
    .description('inspect a recorded run: header and events, filtered; --trace prints them as ftrace text')
    .argument('<log>', 'event log')
    .option('--device <name>', 'only events of this device')
    .option('--op <ops>', 'only these ops or families, comma-separated (map, unmap, sync, sg, coherent, access, or op names)')
    .option('--from <n>', 'first event number to show')
    .option('--to <n>', 'last event number to show')
    .option('--json', 'one JSON object per line: header, events, status')
    .option('--trace', "re-apply the events and print the selected ones' trace events as ftrace text")
    .action(async (log: string, flags: LogFlags) => {
      setExit(await logFile(log, flags));
    });
}
