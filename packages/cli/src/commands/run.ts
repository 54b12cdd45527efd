// `dmasim run FILE...`: runs scenario files, checks their expectations, prints pass/fail per
// scenario and a closing `N passed, N failed` line. Files with `programs:` run through the device
// workers (run-programs.ts), under a seeded schedule unless --schedule says otherwise.

import type { Command } from 'commander';
import { dmesgLine, formatFailure, ftraceHeader, ftraceLine, ftraceTask, runResultJson, type Profile, type RunResult } from '@dmasim/core';
import { EXIT } from '../errors.ts';
import type { SetExit } from './index.ts';
import { isBadInput, parseProfile, readScenario } from './scenario-io.ts';
import { checkRecordFlags, replayCommand, runLogPath, runMaybeRecorded, type RecordFlags } from './record-run.ts';
import { runProgramsFile } from './run-programs.ts';
import { dmaApiLines } from './log-text.ts';

export interface RunFlags extends RecordFlags {
  kernel?: string; json?: boolean; trace?: boolean; dmesg?: boolean; dmaApi?: boolean;
  /** Files with programs: the schedule (default random), its seed (default the file's seed) and PCT depth. */
  schedule?: string; seed?: string; depth?: string;
}

const out = (s: string): void => void process.stdout.write(s + '\n');
const err = (s: string): void => void process.stderr.write(s + '\n');

export function traceText(r: Pick<RunResult, 'trace' | 'config'>): string[] {
  return [
    ...ftraceHeader(r.trace.length, r.config.platform.cpus),
    ...r.trace.map((t) => ftraceLine(t.rec, { ...ftraceTask(r.config, t.dev), cpu: t.cpu, timeNs: t.timeNs })),
  ];
}

function printResult(r: RunResult, flags: RunFlags, logPath?: string): void {
  if (flags.json) {
    const j = runResultJson(r);
    out(JSON.stringify(logPath === undefined || !j || typeof j !== 'object' || Array.isArray(j) ? j : { ...j, log: logPath, replay: replayCommand(logPath) }));
    return;
  }
  const steps = `${r.steps.length} step${r.steps.length === 1 ? '' : 's'}`;
  out(`${r.passed ? 'PASS' : 'FAIL'}  ${r.file}  ${r.name} [${r.profile}]  ${steps}${r.passed ? '' : `, ${r.failures.length} failed expectation${r.failures.length === 1 ? '' : 's'}`}`);
  if (logPath !== undefined) out(`  recorded: ${replayCommand(logPath)}`);
  for (const f of r.failures) for (const l of formatFailure(f)) out('  ' + l);
  if (flags.trace) for (const l of traceText(r)) out(l);
  if (flags.dmesg) for (const d of r.dmesg) out(dmesgLine(d.timeNs, d.line));
  if (flags.dmaApi) for (const l of dmaApiLines(r.final.errorCount, r.final.debugDump)) out(l);
}

/** Runs the files; returns the exit code (worst of: 3 internal, 2 bad input, 1 failed, 0). */
export async function runFiles(files: string[], flags: RunFlags): Promise<number> {
  const profile: Profile | undefined = flags.kernel === undefined ? undefined : parseProfile('--kernel', flags.kernel);
  checkRecordFlags(files, flags);
  let passed = 0;
  let failed = 0;
  let code: number = EXIT.OK;
  const logs: string[] = [];
  for (const file of files) {
    try {
      const s = readScenario(file);
      const logPath = runLogPath(file, flags);
      let ok: boolean;
      if (s.programs?.length) ok = await runProgramsFile(s, file, flags, profile, logPath);
      else {
        const r = runMaybeRecorded(s, file, logPath, profile);
        printResult(r, flags, logPath);
        ok = r.passed;
      }
      if (logPath !== undefined) logs.push(logPath);
      if (ok) passed++;
      else {
        failed++;
        code = Math.max(code, EXIT.FOUND);
      }
    } catch (e) {
      failed++;
      if (isBadInput(e)) {
        code = Math.max(code, EXIT.BAD_INPUT);
        err(`dmasim: ${e.message}`);
        if (flags.json) out(JSON.stringify({ file, status: 'bad-input', error: e.message }));
        else out(`ERROR ${file}  bad input`);
      } else {
        code = EXIT.INTERNAL;
        const x = e instanceof Error ? e : new Error(String(e));
        err(`dmasim: internal error: ${x.message}\n${(x.cause instanceof Error ? x.cause.stack : x.stack) ?? ''}\nThis is a bug in dmasim: please report it with the command line and the scenario file.`);
        if (flags.json) out(JSON.stringify({ file, status: 'internal-error', error: x.message }));
        else out(`ERROR ${file}  internal error`);
      }
    }
  }
  const replays = logs.length === 0 ? '' : logs.length === 1 ? `; replay: ${replayCommand(logs[0]!)}` : `; ${logs.length} runs recorded, each replay command under its result`;
  const summary = `${passed} passed, ${failed} failed${replays}`;
  if (flags.json) err(summary);
  else out(summary);
  return code;
}

export function registerRun(program: Command, setExit: SetExit): void {
  program
    .command('run')
    .description('run scenario files and check their expectations (exit 1 if one fails)')
    .argument('<files...>', 'scenario files (YAML, see docs/scenarios.md)')
    .option('--kernel <profile>', "model profile 6.17 or 6.18 (overrides each file's kernel:)")
    .option('--json', 'print one JSON result per scenario (one per line)')
    .option('--trace', "print each run's trace in ftrace text form")
    .option('--dmesg', "print each run's kernel log")
    .option('--dma-api', "print dma-debug's debugfs view at the end of each run: error_count and dump")
    .option('--record <log>', 'record the run to this event log (default: a new file in runs/)')
    .option('--no-record', 'do not record the run')
    .option('--schedule <s>', 'files with programs: free, random or pct (default random: reproducible)')
    .option('--seed <n>', "files with programs: schedule and run seed (default the file's seed:)")
    .option('--depth <d>', 'files with programs: PCT depth', '3')
    .action(async (files: string[], flags: RunFlags) => {
      setExit(await runFiles(files, flags));
    });
}
