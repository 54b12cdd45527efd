// Where replay time goes by DMA API call: replays a log and charges the time between consecutive
// events to the op of the later one (apply + digest + compare + the reader's share). The median
// per op leaves out the rare big stalls (a batch decode, a state-hash mark, GC) that the mean
// charges to whichever op follows them. A tool for BENCHMARKS.md, not part of `pnpm bench`.
//   pnpm tsx bench/op-costs.ts LOG [TIMES]   (the last of TIMES replays in one process, default 3: warm)

import '../packages/cli/src/v8-tuning.ts'; // as dmasim and the bench run
import { replay } from '../packages/core/src/index.ts';

const [file, timesArg = '3'] = process.argv.slice(2);
if (!file) throw new Error('usage: pnpm tsx bench/op-costs.ts LOG [TIMES]');
// Replayed TIMES times in one process; the table is the last replay's (warm, as figure 1's median).
let per = new Map<string, number[]>();
let t = 0;
let t0 = 0;
let r: ReturnType<typeof replay> | undefined;
for (let i = 0; i < Math.max(1, Number(timesArg)); i++) {
  per = new Map();
  t = t0 = performance.now();
  r = replay(file, {
    onEvent: (rec) => {
      const now = performance.now();
      let xs = per.get(rec.event.op);
      if (!xs) per.set(rec.event.op, (xs = []));
      xs.push(now - t);
      t = now;
    },
  });
}
const total = performance.now() - t0;
console.log(`${file}: ${r!.verdict}, ${r!.events} events, ${Math.round((r!.events * 1000) / total)} ev/s`);
console.log('op                  events  time share  median µs  mean µs');
const rows = [...per].map(([op, xs]) => {
  const sum = xs.reduce((a, b) => a + b, 0);
  const s = [...xs].sort((a, b) => a - b);
  return { op, n: xs.length, sum, median: s[s.length >> 1]!, mean: sum / xs.length };
});
for (const x of rows.sort((a, b) => b.sum - a.sum)) {
  console.log(`${x.op.padEnd(18)} ${((x.n / r!.events) * 100).toFixed(1).padStart(7)}% ${((x.sum / total) * 100).toFixed(1).padStart(10)}% ${(x.median * 1000).toFixed(1).padStart(10)} ${(x.mean * 1000).toFixed(1).padStart(8)}`);
}
