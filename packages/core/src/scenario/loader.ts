// loadScenario(text, file): a scenario file (format version 1, docs/scenarios.md) → a Scenario:
// MachineConfig, typed steps, whole-run expect and programs. Pure: no file I/O here.

import { isMap, isScalar, LineCounter, parseDocument, type Node } from 'yaml';
import { DEFAULT_PROFILE, PROFILES, type MachineConfig, type Profile } from '../config.ts';
import { U64_MAX } from '../util/hex.ts';
import { ScenarioError, type Loc } from './errors.ts';
import { Reader, sub } from './reader.ts';
import { readDevices, readDomains, readPlatform } from './schema-machine.ts';
import { readFindingCounts, readSteps, readStrings, type StepContext } from './schema-steps.ts';
import type { Program, ProgramParam, RunExpect, Scenario } from './types.ts';
import { parseInteger } from './values.ts';

const TOP_KEYS = ['dmasim', 'name', 'description', 'kernel', 'seed', 'platform', 'domains', 'devices', 'steps', 'programs', 'expect'] as const;
const RUN_EXPECT_KEYS = ['error-count', 'dmesg', 'findings', 'leaks', 'debug-entries'] as const;

/** Parses and validates a scenario. Throws ScenarioError (code BAD_INPUT, located) on any problem. */
export function loadScenario(text: string, file: string): Scenario {
  const lc = new LineCounter();
  let doc;
  try {
    // failsafe: every scalar stays text; reader.ts gives it its meaning (exact integers, units).
    doc = parseDocument(text, { lineCounter: lc, schema: 'failsafe', prettyErrors: false, uniqueKeys: true, version: '1.2' });
  } catch (e) {
    throw new ScenarioError(file, 1, 1, '', `YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const pos = lc.linePos(problem.pos[0]);
    const msg = problem.message.split('\n')[0]!;
    throw ScenarioError.at(file, pos, '', `YAML: ${msg}`);
  }
  const r = new Reader(file, doc, lc);
  const root = r.deref(doc.contents as Node | null);
  if (!isMap(root)) r.expected(root, '', 'a scenario (a YAML map starting with dmasim: 1)');
  const m = r.map(root, '', TOP_KEYS);

  const versionNode = m.need('dmasim');
  if (!isScalar(versionNode) || String(versionNode.value).trim() !== '1') r.fail(versionNode, 'dmasim', `expected format version 1, got ${r.describe(versionNode)}`);

  const name = m.has('name') ? r.str(m.get('name'), 'name') : baseName(file);
  const description = m.has('description') ? r.str(m.get('description'), 'description') : '';
  const kernel: Profile = m.has('kernel') ? r.oneOf(m.get('kernel'), 'kernel', PROFILES) : DEFAULT_PROFILE;
  const seed = m.has('seed') ? r.big(m.get('seed'), 'seed', 0n, U64_MAX, 'a seed in 0..2^64-1') : 0n;

  const platform = readPlatform(r, m.get('platform'), 'platform');
  const domains = readDomains(r, m.get('domains'), 'domains');
  const devices = readDevices(r, m.get('devices'), 'devices', domains);
  const config: MachineConfig = { profile: kernel, seed, platform, domains, devices };

  const ctx: StepContext = { devices: new Set(devices.map((d) => d.name)), domains: new Set(domains.map((d) => d.name)), cpus: platform.cpus };
  const steps = readSteps(r, m.get('steps'), 'steps', ctx);

  const sectionLocs: Scenario['sectionLocs'] = {};
  for (const k of ['platform', 'domains', 'devices'] as const) if (m.has(k)) sectionLocs[k] = m.keyLoc(k);
  const s: Scenario = { file, version: 1, name, description, kernel, config, steps, sectionLocs };
  if (m.has('programs') && !r.isNothing(m.get('programs'))) s.programs = readPrograms(r, m.get('programs'), 'programs', ctx);
  if (m.has('expect') && !r.isNothing(m.get('expect'))) s.expect = readRunExpect(r, m.get('expect'), 'expect');
  return s;
}

function baseName(file: string): string {
  const b = file.split(/[\\/]/).pop() ?? file;
  return b.replace(/\.ya?ml$/i, '');
}

function readRunExpect(r: Reader, node: Node | null, path: string): RunExpect {
  const m = r.map(node, path, RUN_EXPECT_KEYS);
  const keyLocs: Record<string, Loc> = {};
  for (const k of m.keys()) keyLocs[k] = m.keyLoc(k);
  const e: RunExpect = { loc: m.loc, keyLocs };
  const count = (k: string): number => r.int(m.get(k), m.path_(k), 0, Number.MAX_SAFE_INTEGER, 'a count');
  if (m.has('error-count')) e.errorCount = count('error-count');
  if (m.has('dmesg')) e.dmesg = r.isNothing(m.get('dmesg')) ? [] : readStrings(r, m.get('dmesg'), m.path_('dmesg'), 'kernel log substrings');
  if (m.has('findings')) e.findings = r.isNothing(m.get('findings')) ? {} : readFindingCounts(r, m.get('findings'), m.path_('findings'));
  if (m.has('leaks')) e.leaks = count('leaks');
  if (m.has('debug-entries')) e.debugEntries = count('debug-entries');
  return e;
}

/** Key path for a map key that is not a plain identifier (device names contain ':' and '.'). */
function keyPath(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? sub(path, key) : `${path}[${JSON.stringify(key)}]`;
}

function readPrograms(r: Reader, node: Node | null, path: string, ctx: StepContext): Program[] {
  const n = r.deref(node);
  if (!isMap(n)) r.expected(n, path, 'a map from device name to program');
  const m = r.map(n, path, [...ctx.devices], 'a map from device name to program');
  return m.keys().map((dev): Program => {
    const p = keyPath(path, dev);
    const pn = m.get(dev);
    if (!isMap(pn)) r.expected(pn, p, 'a program: { workload: NAME, ...parameters } or { steps: [...], repeat: N }');
    const loc = r.loc(pn);
    const isSteps = pn.items.some((it) => isScalar(it.key) && String(it.key.value) === 'steps');
    if (isSteps) {
      const pm = r.map(pn, p, ['steps', 'repeat']);
      const steps = readSteps(r, pm.need('steps'), pm.path_('steps'), { ...ctx, programDev: dev });
      if (steps.length === 0) r.fail(pm.get('steps'), pm.path_('steps'), 'expected at least one step');
      const repeat = pm.has('repeat') ? r.int(pm.get('repeat'), pm.path_('repeat'), 1, Number.MAX_SAFE_INTEGER, 'a repeat count of at least 1') : 1;
      return { kind: 'steps', dev, loc, path: p, steps, repeat };
    }
    // Workload parameters belong to the workload (`dmasim workloads` lists them); the worker that
    // runs it checks names and ranges. Here: `workload` is required and every value is a scalar.
    const keys = pn.items.map((it) => (isScalar(it.key) ? String(it.key.value) : ''));
    const pm = r.map(pn, p, keys.filter((k) => k !== ''));
    const workload = r.str(pm.need('workload'), pm.path_('workload'), 'a workload name (see dmasim workloads)');
    const params: Record<string, ProgramParam> = {};
    for (const k of pm.keys()) {
      if (k === 'workload') continue;
      const vn = pm.get(k);
      const kp = pm.path_(k);
      const text = r.text(vn, kp, 'a scalar workload parameter');
      const param: ProgramParam = { text, loc: r.loc(vn), path: kp };
      const iv = parseInteger(text);
      if (iv.ok) param.int = iv.value;
      if (text === 'true' || text === 'false') param.bool = text === 'true';
      params[k] = param;
    }
    return { kind: 'workload', dev, loc, path: p, workload, params };
  });
}
