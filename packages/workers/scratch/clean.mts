import { runStress, defaultStressPlatform, WORKLOADS } from '/work/main/packages/workers/src/index.ts';
const plat = defaultStressPlatform(6, 1n);
const bug = process.argv[2];
for (const w of WORKLOADS) {
  const programs = plat.config.devices.map((d) => ({ dev: d.name, program: { kind: 'workload' as const, workload: w.name, params: { ops: 3000, ...(bug && w.bugs.includes(bug as never) ? { ['bug-' + bug]: 0.05 } : {}) } } }));
  const r = await runStress({ config: plat.config, programs, schedule: { mode: 'random', seed: 3n }, threads: 'inline' });
  console.log(w.name.padEnd(15), r.end, r.events, 'debugErrors', r.debugErrors, JSON.stringify(r.findingCounts), r.devices.map((d) => `${d.name.slice(5,7)}:${d.status}/${d.errors}e/${d.faults}f/${d.debugLines}d/${d.skipped}s`).join(' '));
  for (const f of r.firstFindings) console.log('   ', f.kind, f.dev, f.seq, f.message.slice(0, 200));
}
