import { runStress, defaultStressPlatform } from '/work/main/packages/workers/src/index.ts';
const plat = defaultStressPlatform(6, 1n);
const w = process.argv[2] ?? 'gpu-p2p';
const bug = process.argv[3];
const devs = (process.argv[4] ?? '0,1,2,3,4,5').split(',').map(Number);
const programs = plat.config.devices.filter((_, i) => devs.includes(i)).map((d) => ({ dev: d.name, program: { kind: 'workload' as const, workload: w, params: { ops: 3000, ...(bug ? { ['bug-' + bug]: 0.05 } : {}) } } }));
let shown = 0;
const r = await runStress({ config: plat.config, programs, schedule: { mode: 'random', seed: 3n }, threads: 'inline', onEvent: (seq, dev, ev, out) => {
  if ((out.dmesg.some((l) => l.startsWith('DMA-API')) || out.findings.length) && shown++ < 12) console.log(seq, ev.op, 'dev' in ev ? ev.dev : '', out.dmesg.join(' | ').slice(0, 300), out.findings.map((f) => f.kind + ': ' + f.message).join(' | ').slice(0, 300));
} });
console.log(r.end, r.events, r.debugErrors, JSON.stringify(r.findingCounts));
