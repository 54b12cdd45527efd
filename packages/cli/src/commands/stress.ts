// `dmasim stress [SCENARIO]`: device programs in worker threads against one coordinator; prints
// the seed and settings first, progress while it runs, the summary, log path and the exact replay
// and reproduce commands last. `--seeds A..B` runs a campaign of seeded runs over the cores.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { pino, type Logger } from 'pino';
import { formatFailure, PROFILES, type MachineConfig, type Profile, type Scenario } from '@dmasim/core';
import {
  BUG_KNOBS, BUG_PREFIX, ParamError, defaultStressPlatform, describeSchedule, findWorkload, parseSeedRange, progressLine, runCampaign, runScenarioPrograms,
  DEFAULT_DEVICE_NICE, resolveParams, runStress, scenarioPrograms, scenarioRunFailed, seedLine, summaryLines, WORKLOADS, type FailOn, type ProgramAssignment, type ScenarioRunResult,
  type ScheduleSpec, type StressOptions, type StressResult,
} from '@dmasim/workers';
import { EXIT, InputError } from '../errors.ts';
import { VERSION } from '../version.ts';
import type { SetExit } from './index.ts';
import { parseProfile, readScenario } from './scenario-io.ts';

export interface StressFlags {
  devices?: string; workload?: string; ops?: string; seed?: string; schedule: string; depth: string; out?: string;
  failOn: string; logLevel: string; logFile?: string; seeds?: string; jobs?: string; threads?: string; bug: string[];
  param: string[]; kernel?: string; deviceTimeout: string; deviceNice: string; window?: string; progress?: boolean; stopOnFirst?: boolean;
}

const say = (s: string): void => void process.stdout.write(s + '\n');

function int(flag: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InputError(`${flag}: expected an integer in ${min}..${max}, got "${v}"`);
  return n;
}

export function parseSeed(v: string): bigint {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(v.trim())) throw new InputError(`--seed: expected a non-negative integer, got "${v}"`);
  return BigInt(v.trim());
}

function keyVals(flag: string, xs: string[]): [string, string][] {
  return xs.map((x) => {
    const i = x.indexOf('=');
    if (i <= 0) throw new InputError(`${flag}: expected key=value, got "${x}"`);
    return [x.slice(0, i).trim(), x.slice(i + 1).trim()];
  });
}

interface Setup {
  config: MachineConfig;
  programs: ProgramAssignment[];
  scenario?: Scenario;
  repro: string[];
}

/** The platform and programs: the scenario's, or the default platform with --devices/--workload. */
function setup(file: string | undefined, f: StressFlags, seed: bigint | undefined, profile: Profile | undefined): Setup {
  const ops = int('--ops', f.ops, 1);
  const overrides = new Map<string, string>();
  for (const [k, v] of keyVals('--bug', f.bug)) {
    if (!(k in BUG_KNOBS)) throw new InputError(`--bug: unknown bug knob "${k}" (known: ${Object.keys(BUG_KNOBS).join(', ')})`);
    overrides.set(BUG_PREFIX + k, v);
  }
  for (const [k, v] of keyVals('--param', f.param)) overrides.set(k, v);
  const repro: string[] = [];
  if (file !== undefined) {
    if (f.devices !== undefined || f.workload !== undefined) throw new InputError('--devices and --workload choose the default platform; a scenario file names its own devices and programs');
    const s = readScenario(file);
    if (!s.programs?.length) throw new InputError(`${file}: no programs: section: nothing runs concurrently (run it with dmasim run ${file})`);
    const config: MachineConfig = { ...s.config, ...(profile ? { profile } : {}), ...(seed !== undefined ? { seed } : {}) };
    const programs = scenarioPrograms(s, ops);
    applyOverrides(programs, overrides);
    repro.push(file);
    return { config, programs, scenario: s, repro };
  }
  const n = int('--devices', f.devices, 1, 250) ?? 6;
  const plat = defaultStressPlatform(n, seed ?? 0n, profile ?? '6.18');
  const w = f.workload ?? 'mix';
  if (w !== 'mix' && !findWorkload(w)) throw new InputError(`--workload: unknown workload "${w}" (known: mix, ${WORKLOADS.map((x) => x.name).join(', ')})`);
  const programs: ProgramAssignment[] = plat.config.devices.map((d, i) => ({
    dev: d.name,
    program: { kind: 'workload', workload: w === 'mix' ? plat.workloads[i]! : w, params: { ops: ops ?? 20000 } },
  }));
  applyOverrides(programs, overrides);
  repro.push('--devices', String(n), '--workload', w, '--ops', String(ops ?? 20000));
  return { config: plat.config, programs, repro };
}

/** --bug / --param apply to every workload program that takes the parameter; unknown everywhere is an error. */
function applyOverrides(programs: ProgramAssignment[], overrides: Map<string, string>): void {
  for (const [k, v] of overrides) {
    let used = false;
    for (const p of programs) {
      if (p.program.kind !== 'workload') continue;
      const w = findWorkload(p.program.workload)!;
      if (!w.params.some((s) => s.name === k)) continue;
      p.program.params[k] = v;
      used = true;
    }
    if (!used) throw new InputError(`${k.startsWith(BUG_PREFIX) ? '--bug' : '--param'}: no program's workload takes "${k}"`);
  }
  // Every value is checked here, before any thread starts (exit 2), as scenario files are at load:
  // the parameter's own parse and the workload's check (e.g. multi-queue's queues list).
  for (const p of programs) {
    if (p.program.kind !== 'workload') continue;
    const w = findWorkload(p.program.workload)!;
    const where = `workload ${w.name} on ${p.dev}`;
    try {
      const resolved = resolveParams(where, w.params, p.program.params); // not inside check?.(): that skips it when there is no check
      w.check?.(where, resolved);
    } catch (e) {
      if (!(e instanceof ParamError)) throw e;
      throw new InputError(e.message);
    }
  }
}

function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function schedSpec(f: { schedule: string; depth: string }, seed: bigint): ScheduleSpec {
  if (f.schedule === 'free') return { mode: 'free' };
  if (f.schedule === 'random') return { mode: 'random', seed };
  if (f.schedule === 'pct') return { mode: 'pct', seed, depth: int('--depth', f.depth, 1, 1000)! };
  throw new InputError(`--schedule: expected free, random or pct, got "${f.schedule}"`);
}

function failOnOf(v: string): FailOn {
  if (v === 'findings' || v === 'debug' || v === 'none') return v;
  throw new InputError(`--fail-on: expected findings, debug or none, got "${v}"`);
}

function logger(path: string, level: string): Logger {
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(level)) throw new InputError(`--log-level: expected one of ${levels.join(', ')}, got "${level}"`);
  mkdirSync(dirname(path), { recursive: true });
  return pino({ level, base: { run: 'stress' } }, pino.destination({ dest: path, sync: true }));
}

export async function stress(file: string | undefined, f: StressFlags): Promise<number> {
  const profile = f.kernel === undefined ? undefined : parseProfile('--kernel', f.kernel);
  const failOn = failOnOf(f.failOn);
  if (f.seeds !== undefined) return campaign(file, f, profile, failOn);
  const seed = f.seed !== undefined ? parseSeed(f.seed) : undefined;
  const s = setup(file, f, seed, profile);
  const runSeed = seed ?? (file !== undefined ? s.config.seed : BigInt('0x' + randomBytes(4).toString('hex')));
  s.config.seed = runSeed;
  const schedule = schedSpec(f, runSeed);
  const out = f.out ?? join('runs', `stress-${runSeed}-${f.schedule}.dmalog`);
  const logPath = f.logFile ?? out.replace(/\.dmalog$/, '') + '.pino.log';
  const log = logger(logPath, f.logLevel);
  const threads = f.threads === 'inline' ? 'inline' : int('--threads', f.threads, 1, 256);
  const workloads = new Map(s.programs.map((p) => [p.dev, p.program.kind === 'workload' ? p.program.workload : 'steps']));

  say(`dmasim stress: seed ${runSeed}, ${describeSchedule(schedule)}, kernel ${s.config.profile}, ${s.programs.length} device programs${s.scenario ? `, scenario ${s.scenario.file}` : ''}`);
  for (const p of s.programs) {
    const d = s.config.devices.find((x) => x.name === p.dev)!;
    say(`  ${p.dev.padEnd(14)}${d.driver.padEnd(12)}${(d.dma === 'iommu' ? `iommu:${d.domain}` : d.dma).padEnd(13)}${workloads.get(p.dev)}`);
  }
  say(`  log ${out}, pino log ${logPath} (${f.logLevel})`);
  log.info({ seed: String(runSeed), schedule: describeSchedule(schedule), devices: s.programs.length, out }, 'stress run starting');

  const tty = process.stdout.isTTY === true && f.progress !== false;
  const total = s.programs.reduce((n, p) => n + (p.program.kind === 'steps' ? p.program.steps.length * p.program.repeat : Number(p.program.params.ops ?? 20000)), 0);
  const bar = tty ? new cliProgress.SingleBar({ format: ' {bar} {percentage}% | {value} events | {rate} | live {live} | swiotlb {swiotlb} | iova {iova} | findings {findings}', hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  bar?.start(total, 0, { rate: '-', live: '-', swiotlb: '-', iova: '-', findings: 0 });
  let lastPlain = 0;
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  let r: StressResult;
  let checked: ScenarioRunResult | undefined;
  const window = int('--window', f.window, 1, 1024);
  const common: Pick<StressOptions, 'signal' | 'progressMs' | 'onProgress' | 'note' | 'deviceTimeoutMs' | 'deviceNice' | 'threads' | 'window'> = {
    ...(threads !== undefined ? { threads } : {}),
    deviceNice: int('--device-nice', f.deviceNice, 0, 19)!,
    ...(window !== undefined ? { window } : {}),
    deviceTimeoutMs: int('--device-timeout', f.deviceTimeout, 100)!,
    signal: ac.signal,
    progressMs: tty ? 200 : 1000,
    onProgress: (p) => {
      if (bar) {
        bar.setTotal(Math.max(total, p.events));
        bar.update(p.events, {
          rate: `${Math.round((p.events * 1000) / Math.max(1, p.elapsedMs))}/s`, findings: p.findings, live: p.liveMappings ?? '-',
          swiotlb: p.swiotlbTotal ? `${p.swiotlbUsed}/${p.swiotlbTotal}` : '-', iova: p.iovaPfns ?? '-',
        });
      } else if (p.elapsedMs - lastPlain >= 2000 || p.running === 0) {
        lastPlain = p.elapsedMs;
        say(progressLine(p));
      }
      if (p.elapsedMs - lastPlain < 1000) log.info({ progress: p }, 'progress');
    },
    note: (level, msg, extra) => log[level](extra ?? {}, msg),
  };
  try {
    if (s.scenario) {
      // A scenario file: its steps, then its programs, with every expect: block checked.
      checked = await runScenarioPrograms(s.scenario, {
        schedule, seed: runSeed, profile: s.config.profile, programs: s.programs, out, dmasimVersion: VERSION, ...common,
      });
      r = checked.stress;
    } else {
      r = await runStress({ config: s.config, programs: s.programs, schedule, out, dmasimVersion: VERSION, ...common });
    }
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
  const findings = Object.values(r.findingCounts).reduce((a, b) => a + (b ?? 0), 0);
  const repro = ['dmasim', 'stress', ...s.repro, '--seed', String(runSeed), '--schedule', f.schedule, ...(f.schedule === 'pct' ? ['--depth', f.depth] : []),
    ...(f.kernel ? ['--kernel', f.kernel] : []), ...f.bug.flatMap((b) => ['--bug', b]), ...f.param.flatMap((p) => ['--param', p])].map(quote).join(' ');
  const lines = summaryLines(r, {
    config: s.config, workloads,
    replay: `dmasim replay ${quote(out)}`,
    reproduce: schedule.mode === 'free' ? `${repro}   (free schedule: the interleaving differs; the log above replays this one exactly)` : repro,
  });
  // The scenario's expectations go before the replay and reproduce lines, which stay last.
  if (checked) lines.splice(lines.length - 2, 0, ...expectationLines(checked));
  for (const l of lines) say(l);
  log.info({ end: r.end, events: r.events, findings: r.findingCounts, debugErrors: r.debugErrors, logHash: r.logHash, expectationsFailed: checked?.failures.length }, 'stress run finished');
  log.flush();
  if (checked && s.scenario) return scenarioRunFailed(checked, s.scenario, failOn) ? EXIT.FOUND : EXIT.OK;
  if (r.end === 'crashed' || r.end === 'invariant') return failOn === 'none' ? EXIT.OK : EXIT.FOUND;
  if (failOn === 'none') return EXIT.OK;
  return findings > 0 || (failOn === 'debug' && r.debugErrors > 0) ? EXIT.FOUND : EXIT.OK;
}

function expectationLines(c: ScenarioRunResult): string[] {
  if (c.passed) return ['  expectations hold'];
  return [`  expectations ${c.failures.length} failed`, ...c.failures.flatMap(formatFailure).map((l) => '    ' + l)];
}

async function campaign(file: string | undefined, f: StressFlags, profile: Profile | undefined, failOn: FailOn): Promise<number> {
  if (f.schedule !== 'random' && f.schedule !== 'pct') throw new InputError('--seeds runs seeded schedules: add --schedule random or --schedule pct');
  if (f.seed !== undefined) throw new InputError('--seed and --seeds exclude each other');
  let seeds: bigint[];
  try {
    seeds = parseSeedRange(f.seeds!);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  const s = setup(file, f, undefined, profile);
  const depth = int('--depth', f.depth, 1, 1000)!;
  const outDir = f.out ?? join('runs', `campaign-${f.schedule}-${seeds[0]}-${seeds[seeds.length - 1]}`);
  mkdirSync(outDir, { recursive: true });
  const jobs = int('--jobs', f.jobs, 1, 256);
  say(`dmasim stress campaign: seeds ${f.seeds} (${seeds.length}), --schedule ${f.schedule}${f.schedule === 'pct' ? ` --depth ${depth}` : ''}, kernel ${s.config.profile}, ${s.programs.length} device programs, logs in ${outDir}`);
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  let res;
  try {
    res = await runCampaign({
      task: {
        config: s.config, programs: s.programs, mode: f.schedule, depth, keepLog: false, failOn, dmasimVersion: VERSION,
        deviceTimeoutMs: int('--device-timeout', f.deviceTimeout, 100)!,
        ...(s.scenario ? { checks: s.scenario, scenario: { name: s.scenario.name, file: s.scenario.file } } : {}),
      },
      seeds, outDir, ...(jobs !== undefined ? { jobs } : {}), stopOnFirst: f.stopOnFirst === true, signal: ac.signal,
      onResult: (r, done, total) => {
        if (r.failed) say(seedLine(r));
        else if (done % 10 === 0 || done === total) say(`  ${done}/${total} seeds run`);
      },
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
  say(`campaign: ${res.results.length} seeds run on ${res.jobs} threads, ${res.failing.length} failing`);
  for (const r of res.failing) {
    say(`  seed ${r.seed}: log ${r.logPath}`);
    say(`    replay:    dmasim replay ${quote(r.logPath ?? '')}`);
    say(`    reproduce: ${['dmasim', 'stress', ...s.repro, '--seed', String(r.seed), '--schedule', f.schedule, ...(f.schedule === 'pct' ? ['--depth', String(depth)] : []), ...f.bug.flatMap((b) => ['--bug', b]), ...f.param.flatMap((p) => ['--param', p])].map(quote).join(' ')}`);
  }
  return res.failing.length > 0 ? EXIT.FOUND : EXIT.OK;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function registerStress(program: Command, setExit: SetExit): void {
  program
    .command('stress')
    .description('run device programs in worker threads against one coordinator; find DMA API bugs (exit 1 on findings)')
    .argument('[scenario]', 'scenario file with programs: (default: the built-in multi-device platform)')
    .option('--devices <n>', 'devices on the default platform (direct, iommu strict/lazy, legacy ops, 32-bit)', undefined)
    .option('--workload <w>', `workload for every device, or mix (${WORKLOADS.map((w) => w.name).join(', ')})`)
    .option('--ops <n>', 'DMA API calls per device program (default 20000)')
    .option('--seed <s>', 'run seed: machine PRNG, program PRNGs and seeded schedules (default: random, printed)')
    .option('--schedule <s>', 'free (real thread interleaving), random, or pct', 'free')
    .option('--depth <d>', 'PCT bug depth (priority change points + 1)', '3')
    .option('--out <path>', 'event log (campaign: directory of logs) (default runs/stress-SEED-SCHEDULE.dmalog)')
    .option('--fail-on <what>', 'exit 1 on: findings, debug (findings or dma-debug errors), none; a scenario file also exits 1 on a failed expect:', 'findings')
    .option('--log-level <level>', 'pino log level (fatal .. trace, silent)', 'info')
    .option('--log-file <path>', 'pino log file (default: next to the event log, .pino.log)')
    .option('--seeds <A..B>', 'campaign: one seeded run per seed, spread over the cores')
    .option('--jobs <n>', 'campaign: concurrent seeds (default: cores)')
    .option('--stop-on-first', 'campaign: stop after the first failing seed')
    .option('--threads <n>', "device threads (default one per device, up to 16; 'inline' = none)")
    .option('--bug <knob=rate>', `inject a driver bug at a seeded rate (${Object.keys(BUG_KNOBS).join(', ')})`, collect, [])
    .option('--param <key=value>', 'workload parameter for every program that takes it (see dmasim workloads)', collect, [])
    .option('--kernel <profile>', `model profile (${PROFILES.join(', ')})`)
    .option('--device-timeout <ms>', 'a device program silent this long is declared hung', '30000')
    .option('--window <batches>', 'in-flight batches per device (backpressure window)')
    .option('--device-nice <n>', 'nice value of the device threads, 0..19 (Linux): below the coordinator, which is the bottleneck', String(DEFAULT_DEVICE_NICE))
    .option('--no-progress', 'no progress bar on a terminal')
    .addHelpText('after', '\nExamples:\n  dmasim stress --ops 200000\n  dmasim stress --seed 7 --schedule pct --depth 3 --bug access-after-unmap=0.001\n  dmasim stress --seeds 1..200 --schedule pct --stop-on-first')
    .action(async (file: string | undefined, flags: StressFlags) => {
      setExit(await stress(file, flags));
    });
}
