// Shared by `replay` and `log`: opening a log as bad input on failure, and the text forms of
// events, damage and the state summary.

import {
  ATTR_TABLE, DIR_SCENARIO_NAMES, LogFormatError, LogReader, bytesToHex, stateSummary,
  type Event, type LogDamage, type LogStatus, type Machine,
} from '@dmasim/core';
import { InputError } from '../errors.ts';

/** Opens a log; a missing, unreadable, foreign, unknown-version or header-damaged one is bad input. */
export function openLog(path: string): LogReader {
  try {
    return LogReader.open(path);
  } catch (e) {
    if (e instanceof LogFormatError) throw new InputError(e.message);
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new InputError(`${path}: no such file`);
    if (code === 'EISDIR') throw new InputError(`${path}: is a directory`);
    if (code === 'EACCES') throw new InputError(`${path}: permission denied`);
    throw e;
  }
}

const hex = (v: bigint): string => (v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`);

function attrsText(a: number): string {
  const names = ATTR_TABLE.filter(([bit]) => a & bit).map(([, , n]) => n);
  const rest = ATTR_TABLE.reduce((x, [bit]) => x & ~bit, a);
  if (rest) names.push(`0x${rest.toString(16)}`);
  return `[${names.join(',')}]`;
}

/** `key=value` text of an event's arguments, in the scenario format's words. */
export function eventArgs(ev: Event): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(ev)) {
    if (k === 'op' || k === 'dev' || k === 'cpu') continue;
    if (k === 'dir' && typeof v === 'number') parts.push(`dir=${DIR_SCENARIO_NAMES[v] ?? v}`);
    else if (k === 'attrs' && typeof v === 'number') parts.push(`attrs=${attrsText(v)}`);
    else if (k === 'segments' && Array.isArray(v)) parts.push(`segments=[${(v as { phys: bigint; size: number }[]).map((s) => `${hex(s.phys)}+${s.size}`).join(' ')}]`);
    else if (k === 'sg' && v && typeof v === 'object') {
      const sg = v as { segments: unknown[]; dma: { addr: bigint; len: number }[] };
      parts.push(`sg=[${sg.dma.map((d) => `${hex(d.addr)}+${d.len}`).join(' ')}](nents=${sg.segments.length})`);
    } else if (v instanceof Uint8Array) parts.push(`${k}=${bytesToHex(v)}`);
    else if (typeof v === 'bigint') parts.push(`${k}=${hex(v)}`);
    else if (k === 'fill' && typeof v === 'number') parts.push(`fill=0x${v.toString(16)}`);
    else parts.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? hex(x) : x))}`);
  }
  return parts.join(' ');
}

/** One line: `op dev cpu=N args`. */
export function eventText(ev: Event): string {
  const dev = 'dev' in ev ? ` ${ev.dev}` : '';
  return `${ev.op}${dev} cpu=${ev.cpu} ${eventArgs(ev)}`.trimEnd();
}

export function damageText(d: LogDamage): string {
  const what = d.kind === 'torn' ? 'torn tail' : d.kind === 'corrupt' ? 'corrupted frame' : 'unclosed log';
  return `${what} at byte ${d.offset}: ${d.message}`;
}

/** "recovered N events in B batches (complete batches before byte X)". */
export function recoveredText(st: LogStatus): string {
  const b = `${st.batches} batch${st.batches === 1 ? '' : 'es'}`;
  return `recovered ${st.events} event${st.events === 1 ? '' : 's'} in ${b}${st.damage ? ` (everything before byte ${st.damage.offset})` : ''}`;
}

function seconds(ns: number): string {
  return `${Math.floor(ns / 1e9)}.${String(Math.floor(ns / 1000) % 1_000_000).padStart(6, '0')} s`;
}

/** The machine's state summary as text lines. */
/** The debugfs view of dma-debug: dma-api/error_count and every line of dma-api/dump. */
export function dmaApiLines(errorCount: number, dump: readonly string[]): string[] {
  return [`dma-api/error_count: ${errorCount}`, `dma-api/dump: ${dump.length} entr${dump.length === 1 ? 'y' : 'ies'}`, ...dump.map((l) => '  ' + l)];
}

export function summaryLines(m: Machine): string[] {
  const s = stateSummary(m);
  const lines = [`state after event ${m.eventCount}, virtual time ${seconds(m.k.clock.nowNs)}, state hash ${m.stateHash()}`];
  for (const d of s.devices) lines.push(`  device ${d.name}: ${d.liveMappings} live mapping${d.liveMappings === 1 ? '' : 's'}`);
  lines.push(`  swiotlb: ${s.swiotlb.used} of ${s.swiotlb.total} slots in use`);
  for (const i of s.iova) lines.push(`  iova ${i.domain}: ${i.allocatedPfns} pfns allocated`);
  lines.push(`  dma-debug: ${s.debugEntries} entr${s.debugEntries === 1 ? 'y' : 'ies'}, ${s.debugErrors} error${s.debugErrors === 1 ? '' : 's'}`);
  lines.push(...dmaApiLines(m.k.debug.errorCount, m.k.debug.dump()).map((l) => '  ' + l));
  return lines;
}
