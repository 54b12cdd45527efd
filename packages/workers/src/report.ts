// Text for a stress run's end: the summary table (events, per-device counts, findings by kind with
// the first event of each, dma-debug errors), and the log, replay and reproduce lines.

import type { MachineConfig } from '@dmasim/core';
import type { SeedResult } from './campaign-task.ts';
import type { RunFinding } from './coordinator.ts';
import type { Progress, StressResult } from './run.ts';

export function fmtRate(events: number, ms: number): string {
  const r = ms > 0 ? (events * 1000) / ms : 0;
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)} M/s` : r >= 1e3 ? `${(r / 1e3).toFixed(1)} k/s` : `${r.toFixed(0)}/s`;
}

function pad(s: string | number, n: number): string {
  return String(s).padEnd(n);
}

function rpad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

/** One plain progress line (non-TTY output, and the pino progress record). */
export function progressLine(p: Progress): string {
  const parts = [`${p.events} events`, fmtRate(p.events, p.elapsedMs), `${p.running} running`, `findings ${p.findings}`];
  if (p.liveMappings !== undefined) parts.push(`live mappings ${p.liveMappings}`);
  if (p.swiotlbTotal) parts.push(`swiotlb ${p.swiotlbUsed}/${p.swiotlbTotal}`);
  if (p.iovaPfns !== undefined) parts.push(`iova pfns ${p.iovaPfns}`);
  return `[${(p.elapsedMs / 1000).toFixed(1)}s] ${parts.join(', ')}`;
}

export function findingLine(f: RunFinding): string {
  return `first at event ${f.seq}${f.dev ? ` (${f.dev})` : ''}: ${f.message}`;
}

export interface SummaryContext {
  config: MachineConfig;
  workloads: Map<string, string>;
  replay?: string;
  reproduce?: string;
}

export function summaryLines(r: StressResult, ctx: SummaryContext): string[] {
  const out: string[] = [];
  const end = r.end === 'completed' ? '' : ` (run ${r.end})`;
  out.push(`summary${end}`);
  out.push(`  events       ${r.events} in ${(r.elapsedMs / 1000).toFixed(1)} s (${fmtRate(r.events, r.elapsedMs)}), ${r.threads ? `${r.threads} device thread${r.threads === 1 ? '' : 's'}` : 'inline'}, ${r.schedule}`);
  if (r.script.length) out.push(`  script       ${r.script.length} top-level steps applied first`);
  out.push('  devices');
  out.push(`    ${pad('device', 14)}${pad('driver', 12)}${pad('path', 13)}${pad('workload', 16)}${pad('status', 8)}${rpad('events', 9)}${rpad('errors', 8)}${rpad('faults', 8)}${rpad('findings', 9)}${rpad('dma-debug', 10)}${rpad('dropped', 9)}`);
  for (const d of r.devices) {
    const c = ctx.config.devices.find((x) => x.name === d.name);
    const path = c ? (c.dma === 'iommu' ? `iommu:${c.domain}` : c.dma) : '?';
    out.push(`    ${pad(d.name, 14)}${pad(c?.driver ?? '?', 12)}${pad(path, 13)}${pad(ctx.workloads.get(d.name) ?? '-', 16)}${pad(d.status, 8)}${rpad(d.events, 9)}${rpad(d.errors, 8)}${rpad(d.faults, 8)}${rpad(d.findings, 9)}${rpad(d.debugLines, 10)}${rpad(d.skipped, 9)}`);
    if (d.message && d.status !== 'ended') out.push(`      ${d.message}`);
    const inj = Object.entries(d.injected);
    if (inj.length) out.push(`      injected bugs: ${inj.map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  }
  const kinds = r.firstFindings;
  if (kinds.length === 0) out.push('  findings     none');
  else {
    out.push('  findings');
    for (const f of kinds) out.push(`    ${pad(f.kind, 20)}${rpad(r.findingCounts[f.kind] ?? 0, 7)}  ${findingLine(f)}`);
  }
  out.push(`  dma-debug    error_count ${r.debugErrors}`);
  out.push(`  state        ${r.stateHash}`);
  if (r.logPath) out.push(`  log          ${r.logPath}  (log hash ${r.logHash})`);
  if (ctx.replay) out.push(`replay:    ${ctx.replay}`);
  if (ctx.reproduce) out.push(`reproduce: ${ctx.reproduce}`);
  return out;
}

export function seedLine(r: SeedResult): string {
  const counts = Object.entries(r.findingCounts).map(([k, n]) => `${k} ×${n}`).join(', ');
  const first = r.firstFindings[0];
  return `seed ${r.seed}: ${r.failed ? 'FAIL' : 'ok'}  ${r.events} events${counts ? `, ${counts}` : ''}${r.debugErrors ? `, dma-debug errors ${r.debugErrors}` : ''}${r.end !== 'completed' ? ` (run ${r.end})` : ''}${first && r.failed ? `\n    ${findingLine(first)}` : ''}${r.failures?.length ? `\n    ${r.failures.join('\n    ')}` : ''}${r.logPath ? `\n    log ${r.logPath}` : ''}`;
}
