// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time and
// the most inclusive time, in percent of all samples. Used to find the hot paths BENCHMARKS.md names.
//   pnpm tsx bench/profile-top.ts PROFILE_OR_DIR [N]   (a directory: its largest .cpuprofile)

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

let path = process.argv[2] ?? '.';
if (statSync(path).isDirectory()) {
  const files = readdirSync(path).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(path, f));
  if (!files.length) throw new Error(`no .cpuprofile in ${path}`);
  path = files.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
}
const n = Number(process.argv[3] ?? 30);
const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const parent = new Map<number, number>();
for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
const time = new Map<number, number>();
p.samples.forEach((id, i) => time.set(id, (time.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const name = (x: Node): string => `${x.callFrame.functionName || '(anonymous)'} ${x.callFrame.url.split('/').slice(-2).join('/')}`;
const self = new Map<string, number>();
const incl = new Map<string, number>();
let total = 0;
for (const x of p.nodes) {
  const t = time.get(x.id) ?? 0;
  if (!t) continue;
  total += t;
  self.set(name(x), (self.get(name(x)) ?? 0) + t);
  const seen = new Set<string>();
  for (let id: number | undefined = x.id; id !== undefined; id = parent.get(id)) {
    const k = name(byId.get(id)!);
    if (!seen.has(k)) incl.set(k, (incl.get(k) ?? 0) + t);
    seen.add(k);
  }
}
const show = (title: string, m: Map<string, number>): void => {
  console.log(title);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${((v / total) * 100).toFixed(1).padStart(6)}%  ${k}`);
};
console.log(`${path}: ${(total / 1e6).toFixed(2)} s sampled`);
show('self time', self);
show('inclusive time', incl);
