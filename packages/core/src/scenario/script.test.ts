// The step script on its own: what device workers use to check a program's steps, whose events
// are built and applied elsewhere (observe), and to run a top-level script through another apply.
import { describe, expect, it } from 'vitest';
import { emptyOutcome, type Event } from '../events.ts';
import { formatFailure } from './report.ts';
import { loadScenario } from './loader.ts';
import { StepScript } from './script.ts';

const s = loadScenario(`dmasim: 1
devices:
  - { name: a, driver: nvme }
steps:
  - { op: map-single, dev: a, phys: 0x1000, size: 4KiB, dir: to-device, as: buf }
  - { op: dev-read, dev: a, addr: $buf+0x40, size: 4, expect: { fault: none, data: "00000000" } }
  - { op: unmap-single, dev: a, addr: $buf, size: 4KiB, dir: to-device, expect: { addr: $buf } }
`, 'p.yaml');
const [map, read, unmap] = s.steps as [typeof s.steps[0], typeof s.steps[0], typeof s.steps[0]];

const out = (result: bigint, extra: Partial<ReturnType<typeof emptyOutcome>> = {}) => ({ ...emptyOutcome(0), result, ...extra });

describe('StepScript.observe', () => {
  it('binds each observation and resolves later expectations against the latest binding', () => {
    const sc = new StepScript('p.yaml');
    for (const addr of [0xfffff000n, 0xffffe000n]) {
      expect(sc.observe(map, { op: 'map-single', dev: 'a', cpu: 0, phys: 0x1000n, size: 4096, dir: 1, attrs: 0 }, out(addr)).failures).toEqual([]);
      const ok = sc.observe(unmap, { op: 'unmap-single', dev: 'a', cpu: 0, addr, size: 4096, dir: 1, attrs: 0 }, out(addr));
      expect(ok.failures).toEqual([]);
    }
    // An outcome whose address is not the current binding's fails at the expectation's key.
    const bad = sc.observe(unmap, { op: 'unmap-single', dev: 'a', cpu: 0, addr: 0xfffff000n, size: 4096, dir: 1, attrs: 0 }, out(0xfffff000n));
    expect(bad.failures.flatMap(formatFailure)).toEqual(['p.yaml:7:83: steps[2] unmap-single: addr: expected 0xffffe000, actual 0xfffff000']);
  });

  it('checks every key present (data, fault) and reports a kernel BUG at the step', () => {
    const sc = new StepScript('p.yaml');
    const ev: Event = { op: 'dev-read', dev: 'a', cpu: 0, addr: 0x40n, size: 4 };
    const r = sc.observe(read, ev, out(0n, { data: new Uint8Array([0, 0, 1, 0]), fault: 'unmapped', error: true }), 'kernel BUG at x.c:1!');
    expect(r.failures.map((f) => f.key)).toEqual(['bug', 'fault', 'data']);
    expect(sc.crashed).toBe(read);
  });
});

describe('StepScript.run', () => {
  it('hands the built event to apply; a step apply did not run is a failure, and so is every step after a crash', () => {
    const sc = new StepScript('p.yaml');
    const seen: Event[] = [];
    const r1 = sc.run(map, (ev) => (seen.push(ev), { notRun: 'the run was stopped' }));
    expect(seen).toEqual([{ op: 'map-single', dev: 'a', cpu: 0, phys: 0x1000n, size: 4096, dir: 1, attrs: 0 }]);
    expect(r1.failures.flatMap(formatFailure)).toEqual(['p.yaml:5:5: steps[0] map-single: step: expected runs, actual not run: the run was stopped']);
    // $buf was never bound: the reference cannot be resolved, the step does not run.
    const r2 = sc.run(read, () => { throw new Error('not called'); });
    expect(r2.notRun).toMatch(/unbound reference \$buf/);
    const r3 = sc.run(map, () => ({ outcome: out(0xfffff000n), bug: 'kernel BUG at mapping.c!' }));
    expect(r3.bug).toBe('kernel BUG at mapping.c!');
    expect(sc.run(unmap, () => { throw new Error('not called'); }).notRun).toBe('the kernel crashed at steps[0]');
  });
});
