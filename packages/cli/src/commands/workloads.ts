// `dmasim workloads`: the device behaviours a stress run or a scenario's `programs:` can name,
// with their parameters, defaults and the driver bugs each can inject.

import type { Command } from 'commander';
import { BUG_PREFIX, WORKLOADS, type Workload } from '@dmasim/workers';
import { EXIT } from '../errors.ts';
import type { SetExit } from './index.ts';

const say = (s: string): void => void process.stdout.write(s + '\n');

export function workloadLines(ws: readonly Workload[] = WORKLOADS): string[] {
  const out: string[] = [];
  for (const w of ws) {
    out.push(`${w.name}: ${w.summary}`);
    const params = w.params.filter((p) => !p.name.startsWith(BUG_PREFIX));
    const bugs = w.params.filter((p) => p.name.startsWith(BUG_PREFIX));
    for (const p of params) {
      const range = p.kind === 'enum' ? ` (${p.choices?.join(' | ')})` : '';
      // A default longer than its column (multi-queue's queue list) still gets two spaces before the help.
      const def = String(p.default === '' ? '(first)' : p.default);
      out.push(`  ${p.name.padEnd(16)}${p.kind.padEnd(7)}default ${def.padEnd(9)}${def.length >= 9 ? '  ' : ''}${p.help}${range}`);
    }
    out.push(`  bug knobs (rate 0..1, default 0): ${bugs.map((b) => b.name).join(', ')}`);
    out.push('');
  }
  out.push('Bug knobs inject the classic driver bugs at a seeded rate per buffer or I/O:');
  for (const b of WORKLOADS.flatMap((w) => w.params).filter((p, i, a) => p.name.startsWith(BUG_PREFIX) && a.findIndex((q) => q.name === p.name) === i)) {
    out.push(`  ${b.name.padEnd(26)}${b.help}`);
  }
  out.push('');
  out.push('In a scenario:  programs: { "0000:01:00.0": { workload: nic-rx, ring: 256, buffer: 2KiB, ops: 100000, bug-leak: 0.001 } }');
  out.push('On the command line:  dmasim stress --workload nvme --param queue-depth=64 --bug double-unmap=0.01');
  return out;
}

export function registerWorkloads(program: Command, setExit: SetExit): void {
  program
    .command('workloads')
    .description('list the device workloads, their parameters and bug knobs')
    .option('--json', 'print them as JSON')
    .action((flags: { json?: boolean }) => {
      if (flags.json) say(JSON.stringify(WORKLOADS.map((w) => ({ name: w.name, summary: w.summary, params: w.params, bugs: w.bugs })), null, 2));
      else for (const l of workloadLines()) say(l);
      setExit(EXIT.OK);
    });
}
