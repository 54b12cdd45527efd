import { runStress, defaultStressPlatform } from '/work/main/packages/workers/src/index.ts';
import { MapModel } from '/work/main/packages/workers/src/testing/fake-model.ts';
const n = 8, ops = 250000;
const threads = Number(process.argv[2]);
const window = Number(process.argv[3]);
const plat = defaultStressPlatform(n, 1n);
const programs = plat.config.devices.map((d, i) => ({ dev: d.name, program: { kind: 'workload' as const, workload: plat.workloads[i]!, params: { ops } } }));
const r = await runStress({ config: plat.config, programs, schedule: { mode: 'free' }, threads, window, model: new MapModel(), deviceTimeoutMs: 10000 });
console.log('threads', threads, 'window', window, r.events, r.elapsedMs, Math.round(r.events / r.elapsedMs * 1000), 'ev/s');
