// Self time of every function called (directly or not) under one function, in percent of all
// samples: what a hot function's inclusive time is made of. A tool for BENCHMARKS.md:
//   pnpm tsx bench/profile-under.ts PROFILE_OR_DIR FUNCTION [N]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface Node { id: number; callFrame: { functionName: string; url: string }; children?: number[] }
const [src = '.', fn, nArg = '25'] = process.argv.slice(2);
if (!fn) throw new Error('usage: pnpm tsx bench/profile-under.ts PROFILE_OR_DIR FUNCTION [N]');
const path = statSync(src).isDirectory()
  ? readdirSync(src).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(src, f)).sort((a, b) => statSync(b).size - statSync(a).size)[0]!
  : src;
const p = JSON.parse(readFileSync(path, 'utf8')) as { nodes: Node[]; samples: number[] };
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const counts = new Map<number, number>();
for (const s of p.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
const name = (n: Node): string => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}`;
const under = new Map<string, number>();
let inside = 0;
const walk = (n: Node, within: boolean): void => {
  const w = within || n.callFrame.functionName === fn;
  if (w) {
    const c = counts.get(n.id) ?? 0;
    inside += c;
    under.set(name(n), (under.get(name(n)) ?? 0) + c);
  }
  for (const c of n.children ?? []) walk(byId.get(c)!, w);
};
walk(p.nodes[0]!, false);
const total = p.samples.length;
console.log(`${path}: ${fn} and below: ${((inside / total) * 100).toFixed(1)} % of samples`);
for (const [k, v] of [...under].sort((a, b) => b[1] - a[1]).slice(0, Number(nArg))) console.log(`${((v / total) * 100).toFixed(1).padStart(6)}%  ${k}`);
