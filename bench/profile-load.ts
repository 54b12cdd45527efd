// Reads a V8 .cpuprofile (from `node --cpu-prof`) into self and inclusive time per function, for
// profile-top.ts and profile-diff.ts.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

/** Self and inclusive time (µs) per function of a .cpuprofile (a directory: its largest one), and the file read. */
export function loadProfile(path: string): { path: string; self: Map<string, number>; incl: Map<string, number> } {
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
  return { path, self, incl };
}

