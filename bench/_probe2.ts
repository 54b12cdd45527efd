import { runStress, defaultStressPlatform, logHash } from '../packages/workers/src/index.ts';
const n = Number(process.argv[2] ?? 16);
const plat = defaultStressPlatform(n, 1n);
const programs = plat.config.devices.map((d, i) => ({ dev: d.name, program: { kind: 'workload' as const, workload: plat.workloads[i]!, params: { ops: 10 } } }));
for (let k = 0; k < 2; k++) {
let t = performance.now();
const r = await runStress({ config: plat.config, programs, schedule: { mode: 'free' }, threads: Number(process.argv[3] ?? n) });
console.log('startup+tiny run', n, r.events, (performance.now() - t).toFixed(0), 'ms');
}
const p2 = plat.config.devices.map((d, i) => ({ dev: d.name, program: { kind: 'workload' as const, workload: plat.workloads[i]!, params: { ops: 2000 } } }));
for (let k = 0; k < 2; k++) { await runStress({ config: plat.config, programs: p2, schedule: { mode: 'random', seed: 3n }, threads: 'inline', out: `/tmp/bx/d${k}.dlog` }); console.log(logHash(`/tmp/bx/d${k}.dlog`)); }
