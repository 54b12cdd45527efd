// `dmasim replay LOG`: re-applies a recorded run to a fresh machine and reports
// `replay identical: N events, state <hash>` (exit 0) or the first divergence (exit 1).

import type { Command } from 'commander';
import { replay, stateSummary, toJson, traceLine, type ReplayResult } from '@dmasim/core';
import { EXIT, InputError } from '../errors.ts';
import type { SetExit } from './index.ts';
import { damageText, eventText, openLog, recoveredText, summaryLines } from './log-text.ts';

export interface ReplayFlags { until?: string; salvage?: boolean; json?: boolean }

const out = (s: string): void => void process.stdout.write(s + '\n');
const err = (s: string): void => void process.stderr.write(s + '\n');

export function parseSeq(flag: string, v: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) throw new InputError(`${flag}: expected an event number ≥ 1, got "${v}"`);
  return Number(v);
}

function jsonResult(file: string, r: ReplayResult, code: number): string {
  const st = r.log;
  return JSON.stringify(toJson({
    file,
    verdict: r.verdict,
    exit: code,
    events: r.events,
    state: r.state,
    statesChecked: r.statesChecked,
    log: { complete: st.complete, events: st.events, batches: st.batches, end: st.end, damage: st.damage },
    divergence: r.divergence && {
      seq: r.divergence.seq, field: r.divergence.field, expected: r.divergence.expected, actual: r.divergence.actual,
      note: r.divergence.note, event: r.divergence.event,
      outcome: r.divergence.outcome && { ...r.divergence.outcome, trace: r.divergence.outcome.trace.map(traceLine) },
    },
    summary: r.verdict === 'until' ? stateSummary(r.machine) : undefined,
  }));
}

/** Replays `file`; prints the verdict; returns the exit code. */
export function replayFile(file: string, flags: ReplayFlags): number {
  const until = flags.until === undefined ? undefined : parseSeq('--until', flags.until);
  const reader = openLog(file);
  let r: ReplayResult;
  try {
    r = replay(reader, { ...(until !== undefined ? { until } : {}), ...(flags.salvage ? { salvage: true } : {}) });
  } finally {
    reader.close();
  }
  const st = r.log;
  const code = r.verdict === 'divergent' ? EXIT.FOUND : r.verdict === 'damaged' || r.verdict === 'short' ? EXIT.BAD_INPUT : EXIT.OK;
  if (flags.json) {
    out(jsonResult(file, r, code));
    if (code === EXIT.BAD_INPUT) err(`dmasim: ${file}: ${st.damage ? damageText(st.damage) : `the log has ${st.events} events; --until ${until} is beyond its end`}`);
    return code;
  }
  switch (r.verdict) {
    case 'identical':
      out(`replay identical: ${r.events} events, state ${r.state}${st.damage ? ' (salvaged: the readable prefix of a damaged log)' : ''}`);
      if (st.damage) err(`dmasim: ${file}: salvaged: ${damageText(st.damage)}; ${recoveredText(st)}; the final state could not be checked`);
      break;
    case 'until':
      out(`replay identical up to event ${until}: ${r.events} events, state ${r.state}`);
      for (const l of summaryLines(r.machine)) out(l);
      break;
    case 'short':
      err(`dmasim: ${file}: the log ${st.complete ? 'has' : `(${st.damage ? damageText(st.damage) : 'incomplete'}) yields`} ${st.events} events; --until ${until} is beyond its end (they replay identically, state ${r.state})`);
      break;
    case 'damaged':
      err(`dmasim: ${file}: ${st.damage ? damageText(st.damage) : 'damaged log'}`);
      err(`dmasim: ${file}: ${recoveredText(st)}; ${r.events} replayed identically (state ${r.state}); rerun with --salvage to accept the readable prefix`);
      break;
    case 'divergent': {
      const d = r.divergence!;
      out(`replay diverged at event ${d.seq}: ${d.field} differs`);
      if (d.event) out(`  event:    ${eventText(d.event)}`);
      out(`  expected: ${d.expected}`);
      out(`  actual:   ${d.actual}`);
      if (d.note) out(`  (${d.note})`);
      if (d.outcome) {
        out(`  replayed outcome: result 0x${d.outcome.result.toString(16)}, path ${d.outcome.path}${d.outcome.error ? ', error' : ''}`);
        for (const t of d.outcome.trace) out(`    trace: ${traceLine(t)}`);
        for (const l of d.outcome.dmesg) out(`    dmesg: ${l}`);
        for (const f of d.outcome.findings) out(`    finding: ${f.kind}: ${f.message}`);
      }
      break;
    }
  }
  return code;
}

export function registerReplay(program: Command, setExit: SetExit): void {
  program
    .command('replay')
    .description('replay a recorded run through a fresh machine; exit 1 at the first divergence')
    .argument('<log>', 'event log (written by `dmasim run` / `dmasim stress`)')
    .option('--until <n>', 'stop after event N and print the machine state summary')
    .option('--salvage', 'replay the readable prefix of a damaged or unclosed log')
    .option('--json', 'print the verdict as one JSON object')
    .action((log: string, flags: ReplayFlags) => {
      setExit(replayFile(log, flags));
    });
}
