// Compares two V8 .cpuprofiles (e.g. the replay of a 64-device log and of an 8-device log of the
// same mix) per event: the functions whose self or inclusive time per event grew the most.
//   pnpm tsx bench/profile-diff.ts PROFILE_A EVENTS_A PROFILE_B EVENTS_B [N]   (a directory: its largest .cpuprofile)
// Prints µs/event in A and in B, and B − A, for the N largest growths.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

function load(path: string): { self: Map<string, number>; incl: Map<string, number> } {
  if (statSync(path).isDirectory()) {
    const files = readdirSync(path).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(path, f));
    if (!files.length) throw new Error(`no .cpuprofile in ${path}`);
    path = files.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
  }
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const time = new Map<number, number>();
  p.samples.forEach((id, i) => time.set(id, (time.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const name = (x: Node): string => `${x.callFrame.functionName || '(anonymous)'} ${x.callFrame.url.split('/').slice(-2).join('/')}`;
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const x of p.nodes) {
    const t = time.get(x.id) ?? 0;
    if (!t) continue;
    self.set(name(x), (self.get(name(x)) ?? 0) + t);
    const seen = new Set<string>();
    for (let id: number | undefined = x.id; id !== undefined; id = parent.get(id)) {
      const k = name(byId.get(id)!);
      if (!seen.has(k)) incl.set(k, (incl.get(k) ?? 0) + t);
      seen.add(k);
    }
  }
  return { self, incl };
}

const [pa, ea, pb, eb, nArg] = process.argv.slice(2);
if (!pa || !ea || !pb || !eb) throw new Error('usage: profile-diff.ts PROFILE_A EVENTS_A PROFILE_B EVENTS_B [N]');
const a = load(pa);
const b = load(pb);
const na = Number(ea);
const nb = Number(eb);
const n = Number(nArg ?? 25);
const show = (title: string, ma: Map<string, number>, mb: Map<string, number>): void => {
  console.log(`${title} (µs/event: A, B, B − A)`);
  const keys = new Set([...ma.keys(), ...mb.keys()]);
  const rows = [...keys].map((k) => {
    const x = (ma.get(k) ?? 0) / na;
    const y = (mb.get(k) ?? 0) / nb;
    return { k, x, y, d: y - x };
  });
  for (const r of rows.sort((p, q) => q.d - p.d).slice(0, n)) {
    console.log(`${r.x.toFixed(2).padStart(8)} ${r.y.toFixed(2).padStart(8)} ${(r.d >= 0 ? '+' : '') + r.d.toFixed(2).padStart(7)}  ${r.k}`);
  }
};
show('self time', a.self, b.self);
show('inclusive time', a.incl, b.incl);
