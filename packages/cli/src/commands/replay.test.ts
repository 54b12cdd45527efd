// `dmasim replay` and `dmasim log`: verdicts and exit codes (0 identical, 1 divergence, 2 damaged
// or unknown log), the --until state summary, filters, and ftrace text.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader, LogWriter, Machine, outcomeDigest, type MachineConfig } from '@dmasim/core';
import { main } from '../main.ts';
import { captureOutput } from '../testing/capture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dmasim-replay-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCENARIO = join(dir, 'bounce.yaml');
writeFileSync(SCENARIO, `dmasim: 1
name: bounce-and-direct
platform: { swiotlb: { slots: 1024, base: 0x10000000 } }
devices: [ { name: "0000:03:00.0", driver: e1000e, mask: 32 } ]
steps:
  - { op: map-single, dev: "0000:03:00.0", phys: 0x100002000, size: 4KiB, dir: to-device, as: hi }
  - { op: map-single, dev: "0000:03:00.0", phys: 0x20000000, size: 4KiB, dir: to-device, as: lo }
  - { op: unmap-single, dev: "0000:03:00.0", addr: $hi, size: 4KiB, dir: to-device }
  - { op: unmap-single, dev: "0000:03:00.0", addr: $lo, size: 4KiB, dir: to-device }
`);

const io = captureOutput();

async function recorded(name: string): Promise<string> {
  const log = join(dir, name);
  expect(await main(['run', SCENARIO, '--record', log])).toBe(0);
  expect(io.stdout.trimEnd().split('\n').at(-1)).toBe(`1 passed, 0 failed; replay: dmasim replay ${log}`);
  io.stdout = '';
  return log;
}

describe('dmasim run --record / replay', () => {
  it('replays a recorded run identically (exit 0)', async () => {
    const log = await recorded('ok.dlog');
    expect(await main(['replay', log])).toBe(0);
    expect(io.stdout).toMatch(/^replay identical: 4 events, state [0-9a-f]{16}\n$/);
  });

  it('--until N prints the state summary after event N', async () => {
    const log = await recorded('until.dlog');
    expect(await main(['replay', log, '--until', '2'])).toBe(0);
    expect(io.stdout).toContain('replay identical up to event 2: 2 events');
    expect(io.stdout).toContain('  device 0000:03:00.0: 2 live mappings');
    expect(io.stdout).toMatch(/swiotlb: [1-9]\d* of 1024 slots in use/);
    expect(await main(['replay', log, '--until', '9'])).toBe(2);
    expect(io.stderr).toContain('--until 9 is beyond its end');
    expect(await main(['replay', log, '--until', 'x'])).toBe(2);
  });

  it('reports the first divergence with event, field, expected and actual (exit 1)', async () => {
    const log = await recorded('src.dlog');
    const r = LogReader.open(log);
    const header = r.header;
    const events = [...r.records()].map((x) => x.event);
    r.close();
    const bad = join(dir, 'diverged.dlog');
    const m = new Machine(header.config as MachineConfig);
    const w = LogWriter.open(bad, { dmasim: 'test', config: header.config }, { stateHash: () => m.stateHash() });
    events.forEach((ev, i) => {
      const d = outcomeDigest(m.apply(ev));
      w.appendDigest(ev, i === 1 ? { ...d, result: d.result + 0x1000n } : d);
    });
    w.close();
    expect(await main(['replay', bad])).toBe(1);
    expect(io.stdout).toContain('replay diverged at event 2: result differs');
    expect(io.stdout).toContain('  event:    map-single 0000:03:00.0 cpu=0 phys=0x20000000 size=4096 dir=to-device attrs=[]');
    expect(io.stdout).toContain('  expected: 0x20001000');
    expect(io.stdout).toContain('  actual:   0x20000000');
    io.stdout = '';
    expect(await main(['replay', bad, '--json'])).toBe(1);
    expect(JSON.parse(io.stdout)).toMatchObject({ verdict: 'divergent', divergence: { seq: 2, field: 'result', expected: '0x20001000', actual: '0x20000000' } });
  });

  it('exits 2 on a damaged log after saying what was recovered; --salvage replays the prefix', async () => {
    const log = await recorded('damaged.dlog');
    const full = readFileSync(log);
    const cut = join(dir, 'cut.dlog');
    writeFileSync(cut, full.subarray(0, full.length - 3));
    expect(await main(['replay', cut])).toBe(2);
    expect(io.stderr).toContain('torn tail at byte');
    expect(io.stderr).toContain('recovered 4 events in 1 batch');
    expect(io.stderr).toContain('rerun with --salvage');
    io.stdout = '';
    expect(await main(['replay', cut, '--salvage'])).toBe(0);
    expect(io.stdout).toMatch(/^replay identical: 4 events, state [0-9a-f]{16} \(salvaged/);
    const flipped = Uint8Array.from(full);
    flipped[full.length - 100]! ^= 0x10;
    writeFileSync(cut, flipped);
    expect(await main(['replay', cut])).toBe(2);
    expect(io.stderr).toContain('corrupted frame at byte');
  });

  it('exits 2 with a clear message for an unknown format version, a non-log, a missing file', async () => {
    const log = await recorded('v.dlog');
    const b = Uint8Array.from(readFileSync(log));
    b[8] = 5;
    writeFileSync(join(dir, 'v5.dlog'), b);
    expect(await main(['replay', join(dir, 'v5.dlog')])).toBe(2);
    expect(io.stderr).toContain('log format version 5 is not supported (this dmasim reads versions 1, 2, 3 and 4)');
    expect(await main(['log', SCENARIO])).toBe(2);
    expect(io.stderr).toContain('not a dmasim event log');
    expect(await main(['replay', join(dir, 'nope.dlog')])).toBe(2);
    expect(io.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('dmasim log', () => {
  it('lists the header and events, filtered by op, device and range', async () => {
    const log = await recorded('list.dlog');
    expect(await main(['log', log, '--op', 'unmap'])).toBe(0);
    expect(io.stdout).toContain('kernel 6.18, seed 0, scenario bounce-and-direct');
    expect(io.stdout).toMatch(/ {7}3 {2}unmap-single 0000:03:00\.0 cpu=0 addr=0x10000000 size=4096 dir=to-device attrs=\[\] -> 0x0 swiotlb\n/);
    expect(io.stdout).not.toMatch(/\d {2}map-single /);
    expect(io.stdout).toContain('2 events shown of 4, complete');
    io.stdout = '';
    expect(await main(['log', log, '--from', '2', '--to', '3', '--json', '--device', '0000:03:00.0'])).toBe(0);
    const lines = io.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => 'seq' in l).map((l) => l.seq)).toEqual([2, 3]);
    expect(lines[0]).toHaveProperty('header');
    expect(await main(['log', log, '--op', 'mapp'])).toBe(2);
    expect(await main(['log', log, '--device', 'nope'])).toBe(2);
  });

  it('--trace re-applies the events and prints their trace events as ftrace text', async () => {
    const log = await recorded('trace.dlog');
    expect(await main(['log', log, '--trace', '--op', 'map'])).toBe(0);
    const lines = io.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('          e1000e-1000    [000] .....     0.000001: swiotlb_bounced: dev_name: 0000:03:00.0 dma_mask=ffffffff dev_addr=100002000 size=4096 NORMAL');
    expect(lines[1]).toMatch(/dma_map_phys: 0000:03:00\.0 dir=TO_DEVICE dma_addr=10000000 size=4096 phys_addr=100002000 attrs=$/);
    expect(lines[2]).toMatch(/0\.000002: dma_map_phys: 0000:03:00\.0 dir=TO_DEVICE dma_addr=20000000/);
    expect(lines.filter((l) => l.includes('dma_unmap_phys'))).toEqual([]);
    expect(lines.at(-1)).toBe('2 events shown of 4, complete, final state ' + lines.at(-1)!.split(' ').at(-1));
  });
});
