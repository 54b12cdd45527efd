// Runner: bindings, Event construction and every expectation rule, against a scripted apply
// (these tests check the runner, not the model; scenarios.test.ts runs the model).
import { describe, expect, it } from 'vitest';
import type { MachineConfig } from '../config.ts';
import { emptyOutcome, type Event, type Outcome } from '../events.ts';
import { KernelBug, ModelInputError } from '../kernel.ts';
import { Machine } from '../machine.ts';
import { ScenarioError } from './errors.ts';
import { matchDmesgOrdered } from './expect.ts';
import { loadScenario } from './loader.ts';
import { formatFailure } from './report.ts';
import { runScenario, type RunResult } from './runner.ts';

/** A machine whose apply is `script`; records the events it was given. */
function fake(script: (ev: Event, o: Outcome, m: Machine) => void, extra: { leaks?: number } = {}) {
  const events: Event[] = [];
  const make = (cfg: MachineConfig): Machine => {
    const m = new Machine(cfg);
    let n = 0;
    Object.assign(m, {
      apply(ev: Event): Outcome {
        events.push(ev);
        const o = emptyOutcome(++n * 1000);
        m.k.out = o;
        script(ev, o, m);
        return o;
      },
      leaks: () => extra.leaks ?? 0,
      stateHash: () => 'h',
    });
    return m;
  };
  return { events, make };
}

const HEAD = `dmasim: 1
devices:
  - { name: "0000:01:00.0", driver: mlx5_core }
steps:
`;

function run(steps: string, script: (ev: Event, o: Outcome, m: Machine) => void, tail = '', extra: { leaks?: number } = {}): { r: RunResult; events: Event[] } {
  const f = fake(script, extra);
  const r = runScenario(loadScenario(HEAD + steps + tail, 's.yaml'), { machine: f.make });
  return { r, events: f.events };
}

/** map-*: bus address = phys + 0x1000; map-sg: one entry per segment; alloc: fixed pair. */
function simple(ev: Event, o: Outcome): void {
  switch (ev.op) {
    case 'map-single':
    case 'map-phys':
      o.result = ev.phys + 0x1000n;
      o.path = 'direct';
      o.trace.push({ system: 'dma', name: 'dma_map_phys', text: `${ev.dev} dma_addr=${o.result.toString(16)}` });
      break;
    case 'map-sg':
      o.sg = { segments: ev.segments, dma: ev.segments.map((s) => ({ addr: s.phys + 0x1000n, len: s.size })) };
      o.result = BigInt(ev.segments.length);
      break;
    case 'alloc-coherent':
      o.result = 0xfffff000n;
      o.phys = 0x200000n;
      break;
    case 'dev-read':
      o.data = new Uint8Array(ev.size).fill(0xab);
      break;
    default:
  }
}

describe('runScenario: bindings and events', () => {
  it('resolves $name, .phys, offsets and [i] from earlier outcomes', () => {
    const { r, events } = run(`  - { op: map-single, dev: "0000:01:00.0", phys: 0x5000, size: 64, dir: to-device, as: a }
  - { op: alloc-coherent, dev: "0000:01:00.0", size: 4KiB, as: ring }
  - { op: map-sg, dev: "0000:01:00.0", segments: [ { phys: 0x8000, size: 512 }, { phys: $ring.phys+0x100, size: 256 } ], dir: from-device, as: sg }
  - { op: unmap-single, dev: "0000:01:00.0", addr: $a+0x40, size: 64, dir: to-device }
  - { op: dev-read, dev: "0000:01:00.0", addr: "$sg[1]-4", size: 4 }
  - { op: free-coherent, dev: "0000:01:00.0", addr: $ring, size: 4KiB }
  - { op: unmap-sg, dev: "0000:01:00.0", sg: $sg, dir: from-device }
  - { op: cpu-read, phys: $a.phys, size: 8 }
`, simple);
    expect(r.passed).toBe(true);
    expect(events[2]).toMatchObject({ op: 'map-sg', segments: [{ phys: 0x8000n, size: 512 }, { phys: 0x200100n, size: 256 }] });
    expect(events[3]).toMatchObject({ op: 'unmap-single', addr: 0x6040n, size: 64, dir: 1, attrs: 0, cpu: 0, dev: '0000:01:00.0' });
    expect(events[4]).toMatchObject({ op: 'dev-read', addr: 0x201100n - 4n });
    expect(events[5]).toMatchObject({ op: 'free-coherent', addr: 0xfffff000n, cpuAddr: 0x200000n });
    expect(events[6]).toMatchObject({ op: 'unmap-sg', sg: { segments: [{ phys: 0x8000n }, { phys: 0x200100n }] } });
    expect(events[7]).toMatchObject({ op: 'cpu-read', phys: 0x5000n });
  });

  it('reports a reference that cannot be given a value as a failed step that did not run', () => {
    const { r, events } = run(`  - { op: map-sg, dev: "0000:01:00.0", segments: [ { phys: 0x8000, size: 512 } ], dir: to-device, as: sg }
  - { op: dev-read, dev: "0000:01:00.0", addr: "$sg[3]", size: 4 }
`, simple);
    expect(events).toHaveLength(1);
    expect(r.passed).toBe(false);
    expect(r.steps[1]!.notRun).toMatch(/\$sg\[3\]: steps\[0\] mapped 1 entries/);
    expect(r.failures[0]).toMatchObject({ loc: { line: 6, col: 5 }, key: 'step' });
  });
});

describe('runScenario: step expectations', () => {
  const map = (expect: string): string => `  - op: map-single\n    dev: "0000:01:00.0"\n    phys: 0x5000\n    size: 64\n    dir: to-device\n    expect: ${expect}\n`;

  it('passes when every present key holds', () => {
    const { r } = run(map('{ error: false, addr: 0x6000, value: 0x6000, path: direct, trace: [ "dma_map_phys: 0000:01:00.0 dma_addr=6000" ], dmesg: [], findings: [], fault: none, ran: { trace: false } }'), simple);
    expect(r.failures).toEqual([]);
  });

  it('reports each failing key at its position, expected vs actual', () => {
    const { r } = run(map('{ addr: 0x7000, path: swiotlb, trace: [] }'), simple);
    expect(r.failures.map((f) => [f.key, f.expected, f.actual, f.loc.line])).toEqual([
      ['addr', ['0x7000'], ['0x6000'], 10],
      ['path', ['swiotlb'], ['direct'], 10],
      ['trace', ['(none)'], ['dma_map_phys: 0000:01:00.0 dma_addr=6000'], 10],
    ]);
    expect(formatFailure(r.failures[0]!)).toEqual(['s.yaml:10:15: steps[0] map-single: addr: expected 0x7000, actual 0x6000']);
    expect(formatFailure(r.failures[2]!)).toEqual([
      's.yaml:10:44: steps[0] map-single: trace',
      '      expected | actual',
      '    ! (none)   | dma_map_phys: 0000:01:00.0 dma_addr=6000',
    ]);
  });

  it('compares value as a signed 64-bit number (errnos)', () => {
    const { r } = run('  - { op: set-mask, dev: "0000:01:00.0", bits: 8, expect: { value: -5, error: true } }\n', (_ev, o) => {
      o.result = -5n;
      o.error = true;
    });
    expect(r.passed).toBe(true);
  });

  it('matches dmesg entries as ordered substrings', () => {
    const lines = ['DMA-API: a 0: first', 'second third', 'fourth'];
    expect(matchDmesgOrdered(['first'], lines)).toBe(-1);
    expect(matchDmesgOrdered(['second', 'third', 'fourth'], lines)).toBe(-1); // same line allowed
    expect(matchDmesgOrdered(['fourth', 'second'], lines)).toBe(1); // not backwards
    expect(matchDmesgOrdered(['fifth'], lines)).toBe(0);
    const print = (_ev: Event, o: Outcome): void => void o.dmesg.push(...lines);
    expect(run('  - { op: unbind, dev: "0000:01:00.0", expect: { dmesg: [ "first", "fourth" ] } }\n', print).r.passed).toBe(true);
    expect(run('  - { op: unbind, dev: "0000:01:00.0", expect: { dmesg: [ "fourth", "first" ] } }\n', print).r.failures[0]!.key).toBe('dmesg');
    expect(run('  - { op: unbind, dev: "0000:01:00.0", expect: { dmesg: [] } }\n', print).r.failures[0]!.key).toBe('dmesg');
  });

  it('checks findings as a multiset of kinds, and read data as hex or fill', () => {
    const access = (ev: Event, o: Outcome): void => {
      if (ev.op !== 'dev-read') return;
      o.data = new Uint8Array([1, 2, 3, 4]);
      o.fault = 'none';
      o.findings.push({ kind: 'unmapped-access', message: 'x' });
    };
    const step = (e: string): string => `  - { op: dev-read, dev: "0000:01:00.0", addr: 0x1000, size: 4, expect: ${e} }\n`;
    expect(run(step('{ findings: [ unmapped-access ], data: "01020304", fault: none }'), access).r.passed).toBe(true);
    expect(run(step('{ findings: [] }'), access).r.failures[0]!.actual).toEqual(['unmapped-access: x']);
    expect(run(step('{ data: "01020305" }'), access).r.failures[0]!.note).toBe('first difference at byte 3');
    expect(run(step('{ fill: 0x01 }'), access).r.failures[0]!.note).toBe('byte 1 is 0x02');
  });

  it('stops at a kernel BUG: expected with bug: true, later steps do not run', () => {
    const bug = (ev: Event): void => {
      if (ev.op === 'map-single') throw new KernelBug('kernel BUG at kernel/dma/mapping.c');
    };
    const ok = run(map('{ bug: true }'), bug);
    expect(ok.r.passed).toBe(true);
    expect(ok.r.crashedAt).toBe(0);
    const unexpected = run(map('{ error: true }') + '  - { op: unbind, dev: "0000:01:00.0" }\n', bug);
    expect(unexpected.r.failures.map((f) => f.key)).toEqual(['bug', 'error', 'step']);
    expect(unexpected.events).toHaveLength(1);
  });
});

describe('runScenario: whole-run expectations and errors', () => {
  it('checks error-count, dmesg anywhere, findings per kind, leaks and debug-entries', () => {
    const script = (ev: Event, o: Outcome, m: Machine): void => {
      if (ev.op !== 'unbind') return;
      o.dmesg.push('DMA-API: mlx5_core 0000:01:00.0: device driver has pending DMA allocations');
      o.findings.push({ kind: 'stale-iotlb', message: 'y' });
      m.k.debug.errorCount = 2;
    };
    const good = run('  - { op: unbind, dev: "0000:01:00.0" }\n', script, 'expect:\n  error-count: 2\n  dmesg: [ "pending DMA allocations" ]\n  findings: { stale-iotlb: 1 }\n  leaks: 3\n  debug-entries: 0\n', { leaks: 3 });
    expect(good.r.failures).toEqual([]);
    const bad = run('  - { op: unbind, dev: "0000:01:00.0" }\n', script, 'expect:\n  error-count: 0\n  findings: {}\n  leaks: 0\n', { leaks: 3 });
    expect(bad.r.failures.map((f) => [f.where, f.key, f.loc.line])).toEqual([
      ['expect', 'error-count', 7],
      ['expect', 'leaks', 9],
      ['expect', 'findings', 8],
    ]);
  });

  it('turns the model refusing a request into a located ScenarioError', () => {
    const refuse = (): void => {
      throw new ModelInputError('op unbind is not yet modelled');
    };
    expect(() => run('  - { op: unbind, dev: "0000:01:00.0" }\n', refuse)).toThrow(new ScenarioError('s.yaml', 5, 5, 'steps[0]', 'unbind: op unbind is not yet modelled'));
  });

  it('adds the step location to an internal error', () => {
    const boom = (): void => {
      throw new TypeError('x is undefined');
    };
    expect(() => run('  - { op: unbind, dev: "0000:01:00.0" }\n', boom)).toThrow('s.yaml:5:5: steps[0] unbind: x is undefined');
  });

  it('refuses to run programs itself, naming the command that runs them', () => {
    const s = loadScenario('dmasim: 1\ndevices: [ { name: a } ]\nprograms:\n  a: { workload: nvme }\n', 'p.yaml');
    expect(() => runScenario(s)).toThrow(/p\.yaml:4:6: programs: .*`dmasim run p\.yaml` or `dmasim stress p\.yaml`/);
  });

  it('takes the profile from the file unless overridden', () => {
    const s = loadScenario('dmasim: 1\nkernel: "6.17"\n', 'k.yaml');
    const f = fake(() => {});
    expect(runScenario(s, { machine: f.make }).profile).toBe('6.17');
    expect(runScenario(s, { machine: f.make, profile: '6.18' }).config.profile).toBe('6.18');
  });
});

describe('runScenario: a configuration the model refuses', () => {
  it('is a ScenarioError at the section the model names', () => {
    // 2 GiB of slots in 1 GiB of RAM: only the model knows where the default pool must go.
    const s = loadScenario('dmasim: 1\nplatform:\n  ram: [ { base: 0, size: 1GiB } ]\n  swiotlb: { slots: 1048576 }\n', 'm.yaml');
    expect(() => runScenario(s)).toThrow(ScenarioError);
    expect(() => runScenario(s)).toThrow(/^m\.yaml:2:1: platform: platform\.swiotlb: no room for 1048576 slots/);
  });
});
