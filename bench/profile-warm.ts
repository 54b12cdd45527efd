// Replays one log several times in one process, for `node --cpu-prof` of the warm (JIT-compiled) replay,
// which is what figure 1's median measures (BENCHMARKS.md, "Profiling"):
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-warm.ts LOG [TIMES]
import '../packages/cli/src/v8-tuning.ts'; // as dmasim and the bench run
import { replay } from '../packages/core/src/index.ts';
import { rate } from './stats.ts';

const [file, timesArg = '4'] = process.argv.slice(2);
if (!file) throw new Error('usage: bench/profile-warm.ts LOG [TIMES]');
for (let i = 0; i < Number(timesArg); i++) {
  const t = performance.now();
  const c = process.cpuUsage();
  const r = replay(file, {});
  if (r.verdict !== 'identical') throw new Error(`replay ${r.verdict}`);
  const cpu = process.cpuUsage(c);
  // CPU time of the whole process (GC helper threads included) per event, beside the wall-clock rate.
  const cpuUs = (cpu.user + cpu.system) / r.events;
  console.log(`replay ${i + 1}: ${r.events} events, ${Math.round(rate(r.events, performance.now() - t))} ev/s, ${cpuUs.toFixed(2)} cpu µs/event`);
}
