// Loader: the scenario format as docs/scenarios.md and the public spec describe it — values,
// defaults, references, and located errors for bad input.
import { describe, expect, it } from 'vitest';
import { DMA_ATTR_MMIO, DMA_ATTR_SKIP_CPU_SYNC, DMA_FROM_DEVICE, DMA_TO_DEVICE } from '../dma/defs.ts';
import { ScenarioError } from './errors.ts';
import { loadScenario } from './loader.ts';

const F = 'scenarios/x.yaml';
const load = (text: string) => loadScenario(text, F);

function errorOf(text: string): ScenarioError {
  try {
    load(text);
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  throw new Error('expected a ScenarioError');
}

const DEV = `devices:\n  - name: "0000:01:00.0"\n    driver: mlx5_core\n`;

describe('loadScenario: values', () => {
  it('keeps 64-bit addresses exact and reads sizes with binary units', () => {
    const s = load(`dmasim: 1
platform:
  ram: [ { base: 0x0, size: 8GiB }, { base: 0xfffffff000000000, size: 16MiB } ]
  mmio: [ { name: gpu0-bar1, base: 0x3f00000000, size: 256MiB } ]
  swiotlb: { slots: 512, areas: 2, force: true, base: 0x40000000 }
${DEV}steps:
  - { op: map-phys, dev: "0000:01:00.0", phys: 0xfffffff000001234, size: 2KiB, dir: to-device, attrs: [ skip-cpu-sync, mmio ] }
`);
    expect(s.config.platform.ram[1]).toEqual({ base: 0xfffffff000000000n, size: 16n << 20n });
    expect(s.config.platform.mmio).toEqual([{ name: 'gpu0-bar1', base: 0x3f00000000n, size: 256n << 20n }]);
    expect(s.config.platform.swiotlb).toEqual({ slots: 512, areas: 2, force: true, base: 0x40000000n });
    const a = s.steps[0]!.args;
    expect(a).toMatchObject({ op: 'map-phys', size: 2048, dir: DMA_TO_DEVICE, attrs: DMA_ATTR_SKIP_CPU_SYNC | DMA_ATTR_MMIO });
    expect(a.op === 'map-phys' && a.phys).toMatchObject({ kind: 'lit', value: 0xfffffff000001234n });
  });

  it('fills defaults from defaultPlatform/defaultDomain/defaultDevice', () => {
    const s = load(`dmasim: 1
domains: [ { name: D0, mode: lazy, fq: { timeout: 1s } } ]
devices:
  - { name: a, dma: iommu, domain: D0 }
  - { name: b, mask: none }
  - { name: c, mask: 36, coherent-mask: 32, dma: ops, ops: { map-resource: true }, min-align-mask: 0xfff }
`);
    expect(s.kernel).toBe('6.18');
    expect(s.config.profile).toBe('6.18');
    expect(s.config.seed).toBe(0n);
    expect(s.config.platform.cpus).toBe(4);
    expect(s.config.domains[0]).toEqual({ name: 'D0', mode: 'lazy', granule: 4096, apertureBits: 48, fq: { size: 256, timeoutNs: 1_000_000_000 } });
    const [a, b, c] = s.config.devices;
    expect(a).toMatchObject({ dma: 'iommu', domain: 'D0', mask: 64, coherentMask: 64, driver: 'dmasim', coherent: true, pci: true });
    expect(b).toMatchObject({ mask: null, coherentMask: 32 });
    expect(c).toMatchObject({ dma: 'ops', ops: { mapResource: true }, mask: 36, coherentMask: 32, minAlignMask: 0xfff });
    expect(s.name).toBe('x');
  });

  it('reads kernel: 6.17 as the profile (and not as the number 6.17)', () => {
    expect(load('dmasim: 1\nkernel: 6.17\n').config.profile).toBe('6.17');
    expect(load('dmasim: 1\nkernel: "6.17"\n').kernel).toBe('6.17');
  });

  it('reads durations for advance-time and writes with data or fill', () => {
    const s = load(`dmasim: 1
${DEV}steps:
  - { op: advance-time, by: 10ms }
  - { op: advance-time, by: 500us }
  - { op: cpu-write, phys: 0x1000, data: "de ad be ef" }
  - { op: dev-write, dev: "0000:01:00.0", addr: 0x2000, size: 64, fill: 0xAB }
`);
    expect(s.steps.map((x) => x.args)).toMatchObject([
      { op: 'advance-time', byNs: 10_000_000 },
      { op: 'advance-time', byNs: 500_000 },
      { op: 'cpu-write', size: 4, write: { data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) } },
      { op: 'dev-write', size: 64, write: { fill: 0xab } },
    ]);
  });
});

describe('loadScenario: references', () => {
  it('parses $name, $name.phys, $name+0x40, $name-4 and $name[i]', () => {
    const s = load(`dmasim: 1
${DEV}steps:
  - { op: alloc-coherent, dev: "0000:01:00.0", size: 4KiB, as: ring }
  - { op: map-sg, dev: "0000:01:00.0", segments: [ { phys: $ring.phys, size: 4096 } ], dir: from-device, as: rx-sg }
  - { op: sync-for-cpu, dev: "0000:01:00.0", addr: $ring+0x40, size: 64, dir: from-device }
  - { op: dev-read, dev: "0000:01:00.0", addr: "$rx-sg[0]-4", size: 4 }
  - { op: unmap-sg, dev: "0000:01:00.0", sg: $rx-sg, dir: from-device }
`);
    const refs = s.steps.map((x) => x.args);
    expect(refs[1]).toMatchObject({ segments: [{ phys: { kind: 'ref', ref: { name: 'ring', part: { kind: 'phys' }, offset: 0n } } }], dir: DMA_FROM_DEVICE });
    expect(refs[2]).toMatchObject({ addr: { kind: 'ref', ref: { name: 'ring', part: { kind: 'addr' }, offset: 0x40n } } });
    expect(refs[3]).toMatchObject({ addr: { kind: 'ref', ref: { name: 'rx-sg', part: { kind: 'index', index: 0 }, offset: -4n } } });
    expect(refs[4]).toMatchObject({ sg: { name: 'rx-sg' } });
  });

  it('refuses an unbound reference at its position', () => {
    const e = errorOf(`dmasim: 1
${DEV}steps:
  - op: unmap-single
    dev: "0000:01:00.0"
    addr: $buf+0x40
    size: 4096
    dir: to-device
`);
    expect(e.message).toBe('scenarios/x.yaml:8:11: steps[0].addr: unbound reference $buf (no earlier step has as: buf)');
    expect(e.code).toBe('BAD_INPUT');
    expect([e.line, e.col, e.key]).toEqual([8, 11, 'steps[0].addr']);
  });

  it('refuses a reference used the wrong way for its binding', () => {
    const pre = `dmasim: 1\n${DEV}steps:\n  - { op: map-single, dev: "0000:01:00.0", phys: 0x1000, size: 64, dir: to-device, as: b }\n`;
    expect(errorOf(pre + '  - { op: unmap-sg, dev: "0000:01:00.0", sg: $b, dir: to-device }\n').problem).toMatch(/not a map-sg step/);
    expect(errorOf(pre + '  - { op: dev-read, dev: "0000:01:00.0", addr: "$b[0]", size: 4 }\n').problem).toMatch(/indexes a scatterlist/);
    expect(errorOf(pre + '  - { op: max-mapping-size, dev: "0000:01:00.0", as: m }\n  - { op: cpu-read, phys: $m.phys, size: 4 }\n').problem).toMatch(/no CPU physical address/);
  });
});

describe('loadScenario: located errors', () => {
  it('names file, line, column and key for a value out of range', () => {
    const e = errorOf(`dmasim: 1
devices:
  - name: a
  - name: b
    driver: nvme
    mask: 80
`);
    expect(e.message).toBe('scenarios/x.yaml:6:11: devices[1].mask: expected 1..64 or "none", got 80');
  });

  it('rejects unknown keys at the key, with a suggestion', () => {
    const e = errorOf(`dmasim: 1
devices:
  - name: a
    maks: 32
`);
    expect(e.message).toMatch(/^scenarios\/x\.yaml:4:5: devices\[0\]\.maks: unknown key \(allowed: .*\); did you mean "mask"\?$/);
  });

  it('rejects keys that do not belong to the op', () => {
    const e = errorOf(`dmasim: 1\n${DEV}steps:\n  - { op: alloc-coherent, dev: "0000:01:00.0", size: 4096, dir: to-device }\n`);
    expect(e.key).toBe('steps[0].dir');
    expect(e.problem).toMatch(/unknown key/);
  });

  it('requires the format version and required keys', () => {
    expect(errorOf('name: x\n').message).toBe('scenarios/x.yaml:1:1: dmasim: required key is missing');
    expect(errorOf('dmasim: 2\n').message).toBe('scenarios/x.yaml:1:9: dmasim: expected format version 1, got 2');
    expect(errorOf(`dmasim: 1\n${DEV}steps:\n  - { op: map-single, dev: "0000:01:00.0", phys: 0x1000, dir: to-device }\n`).message).toMatch(/steps\[0\]\.size: required key is missing/);
  });

  it('refuses unknown devices, domains and CPUs', () => {
    expect(errorOf(`dmasim: 1\n${DEV}steps:\n  - { op: unbind, dev: "0000:02:00.0" }\n`).problem).toBe('no device "0000:02:00.0" in devices (declared: "0000:01:00.0")');
    expect(errorOf('dmasim: 1\ndevices: [ { name: a, dma: iommu, domain: D9 } ]\n').problem).toMatch(/no domain "D9"/);
    expect(errorOf(`dmasim: 1\n${DEV}steps:\n  - { op: unbind, dev: "0000:01:00.0", cpu: 4 }\n`).problem).toMatch(/expected a CPU number 0..3/);
  });

  it('reports YAML syntax errors with their position', () => {
    const e = errorOf('dmasim: 1\ndevices: [ { name: a }\n');
    expect(e.message).toMatch(/^scenarios\/x\.yaml:\d+:\d+: YAML: /);
    expect(errorOf('dmasim: 1\ndmasim: 1\n').problem).toMatch(/YAML: Map keys must be unique/);
  });

  it('refuses SI units, fractional numbers and durations without a unit', () => {
    expect(errorOf(`dmasim: 1\n${DEV}steps:\n  - { op: alloc-coherent, dev: "0000:01:00.0", size: 4KB }\n`).problem).toMatch(/binary unit/);
    expect(errorOf(`dmasim: 1\n${DEV}steps:\n  - { op: alloc-coherent, dev: "0000:01:00.0", size: 1.5 }\n`).problem).toMatch(/expected/);
    expect(errorOf('dmasim: 1\nsteps:\n  - { op: advance-time, by: 10 }\n').problem).toMatch(/duration with a unit/);
  });

  it('refuses overlapping memory regions', () => {
    expect(errorOf('dmasim: 1\nplatform:\n  mmio: [ { name: bar, base: 0x100000000, size: 4KiB } ]\n').problem).toMatch(/overlaps platform.ram/);
  });
});

describe('loadScenario: expectations and programs', () => {
  it('reads step and whole-run expectations', () => {
    const s = load(`dmasim: 1
${DEV}steps:
  - op: set-mask
    dev: "0000:01:00.0"
    bits: 24
    expect: { value: -5, error: true, trace: [], dmesg: [ "a", "b" ], findings: [], ran: { trace: false } }
expect:
  error-count: 0
  findings: { stale-iotlb: 1 }
  leaks: 0
  debug-entries: 0
  dmesg: [ "x" ]
`);
    expect(s.steps[0]!.expect).toMatchObject({ value: -5n, error: true, trace: [], dmesg: ['a', 'b'], findings: [], ran: { trace: false } });
    expect(s.expect).toMatchObject({ errorCount: 0, findings: { 'stale-iotlb': 1 }, leaks: 0, debugEntries: 0, dmesg: ['x'] });
  });

  it('keeps programs typed, with workload parameters as written', () => {
    const s = load(`dmasim: 1
devices: [ { name: "0000:01:00.0" }, { name: "0000:03:00.0" } ]
programs:
  "0000:01:00.0": { workload: nic-rx, ring: 256, buffer: 2KiB, ops: 100000 }
  "0000:03:00.0":
    repeat: 1000
    steps:
      - { op: map-single, phys: 0x1000, size: 64, dir: to-device, as: b }
      - { op: unmap-single, addr: $b, size: 64, dir: to-device }
`);
    expect(s.programs).toHaveLength(2);
    const [p0, p1] = s.programs!;
    expect(p0).toMatchObject({ kind: 'workload', dev: '0000:01:00.0', workload: 'nic-rx', params: { ring: { text: '256', int: 256n }, buffer: { int: 2048n } } });
    expect(p1).toMatchObject({ kind: 'steps', dev: '0000:03:00.0', repeat: 1000 });
    expect(p1?.kind === 'steps' && p1.steps.map((x) => x.dev)).toEqual(['0000:03:00.0', '0000:03:00.0']);
  });

  it('refuses a program for an undeclared device', () => {
    expect(errorOf('dmasim: 1\ndevices: [ { name: a } ]\nprograms:\n  b: { workload: nvme }\n').key).toBe('programs.b');
  });
});

describe('loadScenario: swiotlb pool placement', () => {
  it('wants a 2 KiB-aligned base inside RAM', () => {
    expect(errorOf('dmasim: 1\nplatform:\n  swiotlb: { base: 0x10000400 }\n').message).toBe('scenarios/x.yaml:3:20: platform.swiotlb.base: expected a 2 KiB-aligned physical address (the slot size), got 0x10000400');
    expect(errorOf('dmasim: 1\nplatform:\n  ram: [ { size: 1GiB } ]\n  swiotlb: { base: 0x40000000 }\n').problem).toBe('the swiotlb pool must start in RAM (platform.ram)');
  });
});
