// Fuzz: thousands of seeded mutations of scenario files go to the loader; each must load or fail
// with a located ScenarioError (code BAD_INPUT → exit 2), never an uncaught exception or a hang.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadScenario, ScenarioError } from '@dmasim/core';

const DIR = join(import.meta.dirname, '..', 'scenarios');

const TEMPLATE = `dmasim: 1
name: fuzz-template
description: every section once
kernel: "6.17"
seed: 0x10
platform:
  cpus: 2
  page-size: 4KiB
  ram: [ { base: 0x0, size: 4GiB } ]
  mmio: [ { name: bar0, base: 0x3f00000000, size: 256MiB } ]
  swiotlb: { slots: 1024, areas: 2, force: false }
  iommu: { forcedac: true }
  dma-debug: { enabled: true, num-errors: 1, all-errors: false }
domains:
  - { name: D0, mode: lazy, granule: 4KiB, aperture-bits: 48, fq: { size: 256, timeout: 10ms } }
devices:
  - name: "0000:01:00.0"
    driver: mlx5_core
    dma: iommu
    domain: D0
    mask: 64
  - { name: "0000:02:00.0", driver: nvme, dma: ops, ops: { map-resource: true }, mask: none, min-align-mask: 0xfff }
  - { name: fe300000.mmc, dma: direct, mask: 32, bus-limit: 0x3fffffff, coherent: false, dma-ranges: [ { cpu: 0x80000000, dma: 0x0, size: 1GiB } ] }
steps:
  - { op: map-single, dev: "0000:01:00.0", phys: 0x100000, size: 4096, dir: from-device, as: buf, expect: { addr: 0xfffff000, path: iommu } }
  - { op: mapping-error, dev: "0000:01:00.0", addr: $buf }
  - { op: dev-write, dev: "0000:01:00.0", addr: $buf+0x40, data: "aabbcc" }
  - { op: map-sg, dev: fe300000.mmc, segments: [ { phys: 0x80001000, size: 512 } ], dir: to-device, as: sg }
  - { op: sync-sg-for-cpu, dev: fe300000.mmc, sg: $sg, dir: to-device }
  - { op: dev-read, dev: fe300000.mmc, addr: "$sg[0]", size: 4, expect: { fault: none, findings: [], fill: 0 } }
  - { op: alloc-coherent, dev: "0000:02:00.0", size: 8KiB, attrs: [ no-warn ], as: ring }
  - { op: cpu-write, phys: $ring.phys, size: 16, fill: 0xAB }
  - { op: free-coherent, dev: "0000:02:00.0", addr: $ring, size: 8KiB }
  - { op: advance-time, by: 10ms }
  - { op: flush-iotlb, domain: D0, cpu: 1 }
  - op: unmap-single
    dev: "0000:01:00.0"
    addr: $buf
    size: 4096
    dir: from-device
    expect: { trace: [ "dma_unmap_phys: 0000:01:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 attrs=" ], dmesg: [], error: false, value: -5 }
  - { op: set-mask, dev: fe300000.mmc, bits: 24 }
  - { op: max-mapping-size, dev: fe300000.mmc, as: max }
  - { op: unbind, dev: fe300000.mmc }
programs:
  "0000:02:00.0": { workload: nvme, queue-depth: 32, max-io: 128KiB }
expect:
  error-count: 0
  dmesg: [ "x" ]
  findings: { stale-iotlb: 1 }
  leaks: 0
  debug-entries: 0
`;

function corpus(): { file: string; text: string }[] {
  let files: string[] = [];
  try {
    files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
  } catch {
    files = [];
  }
  return [{ file: 'scenarios/fuzz-template.yaml', text: TEMPLATE }, ...files.map((f) => ({ file: `scenarios/${f}`, text: readFileSync(join(DIR, f), 'utf8') }))];
}

/** Characters and tokens that matter to YAML and to our scalar grammars. */
const TOKENS = [':', ' ', '\n', '  ', '-', '- ', '{', '}', '[', ']', ',', '"', "'", '#', '&a', '*a', '!!int', '|', '>', '?', '%', '@', '`', '\t', '\\',
  '$', '$buf', '$buf[9]', '$x.phys', '+0x', '0x', '0xffffffffffffffffff', '-1', '99999999999999999999', '1e9', '4KB', '4KiB', '10ms', '0',
  'null', '~', 'true', 'none', 'op: ', 'dev: ', 'expect: ', 'as: ', '\u00e9', '\u0000', '\r\n', '---\n', '...\n', '<<: *a'];

type Mutation =
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'insert'; at: number; token: number }
  | { kind: 'replace'; at: number; len: number; token: number }
  | { kind: 'dupLine'; line: number }
  | { kind: 'swapLines'; a: number; b: number }
  | { kind: 'dropLine'; line: number }
  | { kind: 'indent'; line: number; by: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), token: fc.nat(TOKENS.length - 1) }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }), token: fc.nat(TOKENS.length - 1) }),
  fc.record({ kind: fc.constant('dupLine' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('dropLine' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('indent' as const), line: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
);

function mutate(text: string, muts: Mutation[]): string {
  let t = text;
  for (const m of muts) {
    const n = t.length || 1;
    const lines = t.split('\n');
    const L = lines.length;
    switch (m.kind) {
      case 'delete': { const at = m.at % n; t = t.slice(0, at) + t.slice(at + m.len); break; }
      case 'insert': { const at = m.at % (n + 1); t = t.slice(0, at) + TOKENS[m.token]! + t.slice(at); break; }
      case 'replace': { const at = m.at % n; t = t.slice(0, at) + TOKENS[m.token]! + t.slice(at + m.len); break; }
      case 'dupLine': { const i = m.line % L; lines.splice(i, 0, lines[i]!); t = lines.join('\n'); break; }
      case 'swapLines': { const a = m.a % L; const b = m.b % L; [lines[a], lines[b]] = [lines[b]!, lines[a]!]; t = lines.join('\n'); break; }
      case 'dropLine': { lines.splice(m.line % L, 1); t = lines.join('\n'); break; }
      case 'indent': {
        const i = m.line % L;
        const l = lines[i]!;
        lines[i] = m.by >= 0 ? ' '.repeat(m.by) + l : l.replace(new RegExp(`^ {0,${-m.by}}`), '');
        t = lines.join('\n');
        break;
      }
    }
  }
  return t;
}

/** Loads; returns 'ok', or the ScenarioError; anything else thrown fails the property. */
function outcome(text: string, file: string): 'ok' | ScenarioError {
  try {
    loadScenario(text, file);
    return 'ok';
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw new Error(`uncaught ${e instanceof Error ? e.constructor.name + ': ' + e.message : String(e)}\n--- input ---\n${text}`);
  }
}

describe('scenario loader fuzz', () => {
  const files = corpus();

  it('every unmutated corpus file loads', () => {
    for (const f of files) expect(outcome(f.text, f.file), f.file).toBe('ok');
  });

  it('3000 seeded mutations each load or fail with a located BAD_INPUT error', () => {
    let bad = 0;
    fc.assert(
      fc.property(fc.nat(files.length - 1), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (fi, muts) => {
        const f = files[fi]!;
        const r = outcome(mutate(f.text, muts), f.file);
        if (r === 'ok') return;
        bad++;
        expect(r.code).toBe('BAD_INPUT');
        expect(r.message.startsWith(`${f.file}:${r.line}:${r.col}: `)).toBe(true);
        expect(r.line).toBeGreaterThanOrEqual(1);
        expect(r.col).toBeGreaterThanOrEqual(1);
        expect(r.message).not.toMatch(/\n/);
      }),
      { seed: 20251125, numRuns: 3000 },
    );
    // The mutations really do break files (the test is not vacuous).
    expect(bad).toBeGreaterThan(1000);
  }, 60_000);
});
