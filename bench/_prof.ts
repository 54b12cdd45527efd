import { replay } from '../packages/core/src/index.ts';
const t = performance.now();
const rr = replay(process.argv[2] ?? '/tmp/bx/p.dlog');
console.log(rr.verdict, rr.events, (performance.now() - t).toFixed(0));
