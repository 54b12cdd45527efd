// Compares two V8 .cpuprofiles (e.g. the replay of a 64-device log and of an 8-device log of the
// same mix) per event: the functions whose self or inclusive time per event grew the most.
//   pnpm tsx bench/profile-diff.ts PROFILE_A EVENTS_A PROFILE_B EVENTS_B [N]   (a directory: its largest .cpuprofile)
// Prints µs/event in A and in B, and B − A, for the N largest growths.

import { loadProfile } from './profile-load.ts';

const [pa, ea, pb, eb, nArg] = process.argv.slice(2);
if (!pa || !ea || !pb || !eb) throw new Error('usage: profile-diff.ts PROFILE_A EVENTS_A PROFILE_B EVENTS_B [N]');
const a = loadProfile(pa);
const b = loadProfile(pb);
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
