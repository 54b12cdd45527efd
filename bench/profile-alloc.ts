// Where a warm replay allocates: V8's sampling heap profiler with collected objects kept in the
// samples (so short-lived garbage counts, which `node --heap-prof` leaves out), after one warm-up
// replay. Prints the functions that allocate most, by bytes sampled. A tool for BENCHMARKS.md:
//   pnpm tsx bench/profile-alloc.ts LOG [TIMES] [N]
import { Session } from 'node:inspector/promises';
import { replay } from '../packages/core/src/index.ts';

const [file, timesArg = '2', nArg = '40'] = process.argv.slice(2);
if (!file) throw new Error('usage: bench/profile-alloc.ts LOG [TIMES] [N]');
replay(file, {}); // warm-up: compile, fill caches
const s = new Session();
s.connect();
await s.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
let events = 0;
for (let i = 0; i < Number(timesArg); i++) events += replay(file, {}).events;
const { profile } = await s.post('HeapProfiler.stopSampling');
interface Node { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }
const self = new Map<string, number>();
let total = 0;
const walk = (n: Node): void => {
  const cf = n.callFrame;
  const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
  total += n.selfSize;
  self.set(key, (self.get(key) ?? 0) + n.selfSize);
  for (const c of n.children) walk(c);
};
walk(profile.head as unknown as Node);
console.log(`${(total / events).toFixed(0)} bytes sampled per event over ${events} events`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(nArg))) {
  console.log(`${((v / total) * 100).toFixed(1).padStart(6)}%  ${(v / events).toFixed(0).padStart(5)} B/event  ${k}`);
}
