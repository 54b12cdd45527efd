// The results document (bench/results.json) and its printed form: markdown tables, one per figure,
// and the target checks.

import type { MachineInfo } from './machine.ts';
import type { MemoryFigure, SeekFigure } from './memory-seek.ts';
import { rssAt } from './memory-seek.ts';
import type { MixName } from './mixes.ts';
import { mib, si, type Summary } from './stats.ts';

export interface ReplayRow {
  mix: MixName;
  devices: number;
  events: number;
  /** events/s of `replay(log)` (read, decode, Machine.apply, digest, compare, state marks), first event to last. */
  replay: Summary;
  /** events/s over the whole replay() call: opening, machine construction and the final state hash included. */
  replayWhole: Summary;
  /** events/s of the bare reducer ceiling: read, decode, Map insert/delete of the same keys. */
  ceiling: Summary;
  /** events/s of the Map work alone (reading and decoding excluded). */
  bareMap: Summary;
  /** events/s of reading and decoding alone. */
  decode: Summary;
  ratio: number;
  ratioBareMap: number;
}

export interface LogSizeRow {
  mix: MixName;
  events: number;
  fileBytes: number;
  /** Batch + end frame bytes per event (preamble and header excluded). */
  bytesPerEvent: number;
  fileBytesPerEvent: number;
}

export interface PipelineRow {
  mix: MixName;
  devices: number;
  threads: number;
  events: number;
  /** Steady-state events/s, model + log (fsync per batch). */
  pipeline: Summary;
  /** Same, thread start-up and teardown included. */
  pipelineWall: Summary;
  /** Events in each run's steady window (what `pipeline` is measured over). */
  window: Summary;
  /** events/s from the start barrier's release to the end of the run (PipelineRun.goEps). */
  pipelineFromGo: Summary;
  /** Steady-state events/s with the NullModel and no log. */
  transport: Summary;
  /** pipeline / replay of the same mix (figure 1: the fixed log, recorded with replayDevices devices). */
  ratioToReplay: number;
  /** events/s replaying the first pipeline run's own log, over the same events as its steady window. */
  ownReplay: number;
  /** pipeline / ownReplay. */
  ratioToOwnReplay: number;
  /** pipeline / transport. */
  ratioToTransport: number;
  /** The coordinator thread's event-loop utilization over each run's steady window (1: never idle, the pipeline is bound by the coordinator). */
  coordinatorBusy: Summary;
  /** The coordinator thread's CPU time over each steady window, as a share of it (Linux only). */
  coordinatorCpu: Summary;
  /** The whole process's CPU time per event applied in each steady window (every thread: coordinator, devices, GC), in µs. */
  cpuPerEvent: Summary;
  /** pipeline / the same mix's 2-device pipeline. */
  ratioTo2: number | null;
  /** ratioToOwnReplay / the 2-device run's ratioToOwnReplay: scaling with the mix's per-device composition factored out. */
  ratioTo2Normalized: number | null;
  /** pipelineFromGo / the 2-device run's. */
  ratioTo2FromGo: number | null;
}

export interface Target {
  figure: string;
  what: string;
  target: string;
  value: string;
  met: boolean;
}

export interface Results {
  command: string;
  quick: boolean;
  machine: MachineInfo;
  plan: Record<string, unknown>;
  replay: ReplayRow[];
  logSize: LogSizeRow[];
  pipeline: PipelineRow[];
  memory: MemoryFigure | null;
  seek: SeekFigure | null;
  targets: Target[];
  missing: string[];
  totalSeconds: number;
}

const ms = (s: Summary): string => `${si(s.median)} (${si(s.min)}–${si(s.max)})`;
const x2 = (r: number): string => r.toFixed(2);
const x3 = (r: number): string => r.toFixed(3);
const secs = (s: Summary): string => `${(s.median / 1000).toFixed(2)} s (${(s.min / 1000).toFixed(2)}–${(s.max / 1000).toFixed(2)})`;

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function targets(r: Results): Target[] {
  const t: Target[] = [];
  for (const row of r.replay) {
    const need = row.mix === 'direct-only' ? 0.3 : row.mix.startsWith('iommu') ? 0.15 : null;
    if (need !== null) t.push({ figure: '1 replay', what: `${row.mix}: replay / ceiling`, target: `≥ ${need}`, value: x3(row.ratio), met: row.ratio >= need });
  }
  for (const row of r.pipeline) {
    if (row.devices === 8) t.push({ figure: '2 pipeline', what: `${row.mix}, 8 devices: pipeline / replay`, target: '≥ 0.60', value: x2(row.ratioToReplay), met: row.ratioToReplay >= 0.6 });
    if (row.devices === 64 && row.ratioTo2 !== null) t.push({ figure: '2 pipeline', what: `${row.mix}, 64 devices / 2 devices`, target: '≥ 0.80', value: x2(row.ratioTo2), met: row.ratioTo2 >= 0.8 });
    if (row.devices === 64 && row.ratioTo2Normalized !== null) {
      t.push({ figure: '2 pipeline', what: `${row.mix}, 64 / 2 devices, each over its own log's replay`, target: '(≥ 0.80)', value: x2(row.ratioTo2Normalized), met: row.ratioTo2Normalized >= 0.8 });
    }
    if (row.devices === 64 && row.ratioTo2FromGo !== null) {
      t.push({ figure: '2 pipeline', what: `${row.mix}, 64 / 2 devices, from the start barrier to the end`, target: '(≥ 0.80)', value: x2(row.ratioTo2FromGo), met: row.ratioTo2FromGo >= 0.8 });
    }
  }
  for (const row of r.logSize) t.push({ figure: '4 log size', what: `${row.mix}: bytes/event`, target: '≤ 16', value: row.bytesPerEvent.toFixed(2), met: row.bytesPerEvent <= 16 });
  const m = r.memory;
  // A quick run is far too short for the simulated memory to fill up (the swiotlb pool alone takes
  // ~1 M events of the mixed platform to cycle through): flatness is judged on full runs only.
  if (m && !r.quick) {
    const first = m.stress.rss[0];
    const last = m.stress.rss.at(-1);
    if (first && last) {
      const grow = last.bytes / first.bytes;
      t.push({ figure: '5 memory', what: `stress: RSS after ${si(last.events)} / after ${si(first.events)} events`, target: '≤ 1.15 (flat)', value: x2(grow), met: grow <= 1.15 });
    }
  }
  const sk = r.seek;
  if (sk && sk.tenth.maxRss && sk.end.maxRss && !r.quick) {
    const grow = sk.end.maxRss / sk.tenth.maxRss;
    t.push({ figure: '5 memory', what: `replay: peak RSS to event ${si(sk.end.until)} / to event ${si(sk.tenth.until)}`, target: '≤ 1.15 (flat)', value: x2(grow), met: grow <= 1.15 });
  }
  return t;
}

export function render(r: Results): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`dmasim benchmarks — ${r.quick ? 'QUICK (smaller counts)' : 'full'} — ${m.date}`);
  out.push(`machine: ${m.nproc} cores, ${m.cpu}, ${m.memGiB} GiB, node ${m.node}, ${m.platform}; load at start ${m.loadavg.join(' ')}; commit ${m.commit}${m.dirty ? ' (+ uncommitted changes)' : ''}`);
  out.push(`command: ${r.command}`);
  if (r.replay.length) {
    out.push('', '1. Replay from a log (events/s, median (min–max) of ' + r.replay[0]!.replay.runs.length + ' runs; ceiling = same log, same reader, Map reducer; ratio = replay median / the fastest ceiling (or bare Map) run)');
    out.push(table(
      ['mix', 'events', 'replay ev/s', 'ceiling ev/s', 'ratio', 'bare Map ev/s', 'ratio', 'read+decode ev/s', 'whole call ev/s'],
      r.replay.map((x) => [x.mix, si(x.events), ms(x.replay), ms(x.ceiling), x3(x.ratio), ms(x.bareMap), x3(x.ratioBareMap), ms(x.decode), si(x.replayWhole.median)]),
    ));
  }
  if (r.pipeline.length) {
    out.push('', '2–3. Live pipeline (device workers → bus → coordinator → model → log, fsync per batch) and transport ceiling (NullModel, no log); steady-state events/s, over each run\'s steady window (every device running: "least window" is the shortest run\'s, in events)' + warmUpNote(r.plan));
    out.push(table(
      ['mix', 'devices', 'threads', 'events', 'least window', 'pipeline ev/s', '/ replay (1)', 'own log replay ev/s', '/ own replay', '/ 2 devs', '(normalized)', 'transport ev/s', 'pipe / transport', 'from go ev/s', '/ 2 devs (from go)', 'incl. start-up ev/s', 'coordinator busy', 'coordinator CPU', 'CPU µs/event'],
      r.pipeline.map((x) => [
        x.mix, String(x.devices), String(x.threads), si(x.events), si(x.window.min), ms(x.pipeline), x2(x.ratioToReplay), si(x.ownReplay), x2(x.ratioToOwnReplay),
        x.ratioTo2 === null ? '' : x2(x.ratioTo2), x.ratioTo2Normalized === null ? '' : x2(x.ratioTo2Normalized), ms(x.transport), x2(x.ratioToTransport), ms(x.pipelineFromGo), x.ratioTo2FromGo === null ? '' : x2(x.ratioTo2FromGo), si(x.pipelineWall.median),
        x.coordinatorBusy ? x2(x.coordinatorBusy.median) : '', x.coordinatorCpu ? x2(x.coordinatorCpu.median) : '', x.cpuPerEvent ? x.cpuPerEvent.median.toFixed(2) : '',
      ]),
    ));
  }
  if (r.logSize.length) {
    out.push('', '4. Log size (the fixed replay logs)');
    out.push(table(['mix', 'events', 'bytes/event', 'file bytes/event', 'file MiB'], r.logSize.map((x) => [x.mix, si(x.events), x.bytesPerEvent.toFixed(2), x.fileBytesPerEvent.toFixed(2), mib(x.fileBytes).toFixed(1)])));
  }
  if (r.memory) {
    const mm = r.memory;
    const c = mm.stress;
    const first = c.rss[0]?.events ?? 0;
    const last = c.rss.at(-1)?.events ?? 0;
    const sk = r.seek;
    const rss = (b: number | null | undefined): string => (b ? `${mib(b).toFixed(0)} MiB` : 'n/a');
    out.push('', `5. Memory (${mm.mix}, ${mm.devices} devices, ${si(mm.events)} events, log ${mib(mm.logBytes).toFixed(0)} MiB; each run its own process)`);
    const rows = [['stress run', si((c.events * 1000) / c.ms), rss(rssAt(c, first)), rss(rssAt(c, last)), rss(c.maxRss), c.rss.map((s) => mib(s.bytes).toFixed(0)).join(' ')]];
    if (sk) rows.push(['replay (--until)', si((sk.end.until * 1000) / (sk.end.ms.median - sk.startup.ms.median)), rss(sk.tenth.maxRss), rss(sk.end.maxRss), rss(sk.end.maxRss), `peak to event 1: ${rss(sk.startup.maxRss)}, to the middle: ${rss(sk.middle.maxRss)}`]);
    // The stress row's columns are its samples at a tenth of the events asked for and at the last
    // tenth (the run goes a little past it); the replay row's are peaks to a tenth of the log and to its end.
    out.push(table(['run', 'ev/s', `RSS @ ${si(first)}`, `RSS @ ${si(last)} (replay: ${si(mm.events)})`, 'peak RSS', 'samples (MiB)'], rows));
  }
  if (r.seek) {
    const s = r.seek;
    const less = (p: { until: number; ms: Summary }): string[] => [`${((p.ms.median - s.startup.ms.median) / 1000).toFixed(2)} s`, si((p.until * 1000) / (p.ms.median - s.startup.ms.median))];
    out.push('', `6. Seek: \`dmasim replay LOG --until N\` on the ${si(s.events)}-event log (wall time of the whole command, median (min–max) of ${s.startup.ms.runs.length})`);
    out.push(table(['until', 'time', 'less start-up', 'events/s'], [
      ['1 (start-up)', secs(s.startup.ms), '', ''],
      [`${s.tenth.until} (a tenth)`, secs(s.tenth.ms), ...less(s.tenth)],
      [`${s.middle.until} (middle)`, secs(s.middle.ms), ...less(s.middle)],
      [`${s.end.until} (end)`, secs(s.end.ms), ...less(s.end)],
    ]));
  }
  if (r.targets.length) {
    out.push('', 'Targets');
    out.push(table(['figure', 'what', 'target', 'value', ''], r.targets.map((t) => [t.figure, t.what, t.target, t.value, t.met ? 'met' : 'MISSED'])));
  }
  if (r.quick && r.memory) out.push('', 'Quick run: the memory run is too short to reach the plateau (the simulated memory fills up over ~1 M events), so RSS flatness is checked on full runs only.');
  if (r.missing.length) out.push('', 'Not measured:', ...r.missing.map((x) => `- ${x}`));
  out.push('', `total ${r.totalSeconds.toFixed(0)} s`);
  return out.join('\n');
}

/** Figure 2's heading note on the plan's warm-up run (results written before it had one say nothing). */
function warmUpNote(plan: Record<string, unknown>): string {
  const events = Number(plan.pipelineWarmupEvents ?? 0);
  const devices = (plan.pipelineDevices as number[] | undefined)?.[0];
  return events > 0 ? `; each mix after a warm-up run of ${si(events)} events at ${devices} devices, not counted` : '';
}
