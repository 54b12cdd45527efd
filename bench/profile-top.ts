// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time and
// the most inclusive time, in percent of all samples. Used to find the hot paths BENCHMARKS.md names.
//   pnpm tsx bench/profile-top.ts PROFILE_OR_DIR [N]   (a directory: its largest .cpuprofile)

import { loadProfile } from './profile-load.ts';

const n = Number(process.argv[3] ?? 30);
const { path, self, incl } = loadProfile(process.argv[2] ?? '.');
let total = 0;
for (const v of self.values()) total += v;
const show = (title: string, m: Map<string, number>): void => {
  console.log(title);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${((v / total) * 100).toFixed(1).padStart(6)}%  ${k}`);
};
console.log(`${path}: ${(total / 1e6).toFixed(2)} s sampled`);
show('self time', self);
show('inclusive time', incl);
