import { runStress, defaultStressPlatform } from '/work/main/packages/workers/src/index.ts';
import { MapModel } from '/work/main/packages/workers/src/testing/fake-model.ts';
const plat = defaultStressPlatform(4, 1n);
const programs = plat.config.devices.map((d, i) => ({ dev: d.name, program: { kind: 'workload' as const, workload: plat.workloads[i]!, params: { ops: 50000 } } }));
for (const threads of ['inline', 2, 4] as const) {
  for (const schedule of [{ mode: 'free' as const }, { mode: 'random' as const, seed: 5n }, { mode: 'pct' as const, seed: 5n, depth: 3 }]) {
    const m = new MapModel();
    const t0 = Date.now();
    const r = await runStress({ config: plat.config, programs, schedule, threads, model: m, deviceTimeoutMs: 5000 });
    console.log(threads, schedule.mode, r.end, r.events, Date.now() - t0, 'ms', m.stateHash(), r.devices.map((d) => `${d.status}:${d.events}/${d.skipped}${d.message ? ' ' + d.message : ''}`).join(' '), JSON.stringify(r.findingCounts));
  }
}
