// Transport measurement: the same synthetic requests moved from device threads to this thread in
// each candidate encoding, decoded field by field, with no model and no log (docs/workers.md).
// Run: pnpm exec tsx packages/workers/src/bench/transport.ts [events-per-device] [devices]

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { Batch, checkBatch, recOffset, RECORDS_PER_BATCH, type CoordinatorMessage } from '../protocol.ts';
import { DeviceHandles } from '../resolve.ts';
import { tsxExecArgv } from '../pool.ts';
import { sharedPackr, type Encoding, type ProducerTask } from './transport-worker.ts';

export type { Encoding };
export const ENCODINGS: readonly Encoding[] = ['object', 'msgpackr', 'binary-raw', 'binary', 'binary-events', 'sab-ring'];

export interface TransportResult {
  encoding: Encoding;
  devices: number;
  events: number;
  ms: number;
  eventsPerSec: number;
}

const WORKER_URL = new URL('./transport-worker.ts', import.meta.url).href;

/** Moves `eventsPerDevice` requests from each of `devices` threads and times it (wall clock). */
export async function measureTransport(encoding: Encoding, devices: number, eventsPerDevice: number, window = 8): Promise<TransportResult> {
  const pool = new Piscina({ filename: WORKER_URL, minThreads: devices, maxThreads: devices, atomics: 'disabled', execArgv: tsxExecArgv() });
  // Warm the threads up (loader, module compile) before the clock starts.
  await Promise.all(Array.from({ length: devices }, () => {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (m: unknown) => {
      if (m instanceof ArrayBuffer) port1.postMessage({ t: 'ret', buf: m } satisfies CoordinatorMessage, [m]);
    });
    return pool.run({ port: port2, encoding: 'binary', events: 1, window } satisfies ProducerTask, { transferList: [port2] }).finally(() => port1.close());
  }));
  let sum = 0;
  const t0 = performance.now();
  const runs: Promise<unknown>[] = [];
  const closes: Promise<void>[] = [];
  for (let d = 0; d < devices; d++) {
    const { port1, port2 } = new MessageChannel();
    const task: ProducerTask = { port: port2, encoding, events: eventsPerDevice, window };
    if (encoding === 'sab-ring') {
      const slots = RECORDS_PER_BATCH * window;
      task.sab = new SharedArrayBuffer(8 + slots * 32);
      task.slots = slots;
      closes.push(drainRing(task.sab, slots, eventsPerDevice).then((s) => void (sum += s)));
    } else {
      closes.push(consume(port1, encoding, (s) => (sum += s)));
    }
    runs.push(pool.run(task, { transferList: [port2] }));
  }
  await Promise.all([...runs, ...closes]);
  const ms = performance.now() - t0;
  await pool.destroy();
  const events = devices * eventsPerDevice;
  if (sum !== events * 2048) throw new Error(`transport ${encoding}: decoded sizes sum to ${sum}, expected ${events * 2048}`);
  return { encoding, devices, events, ms, eventsPerSec: events / (ms / 1000) };
}

function consume(port: MessagePort, encoding: Encoding, add: (sizes: number) => void): Promise<void> {
  const packr = sharedPackr();
  const handles = new DeviceHandles('bench');
  let sinceAck = 0;
  return new Promise<void>((resolve) => {
    port.on('close', () => resolve());
    port.on('message', (m: unknown) => {
      if (encoding === 'binary' || encoding === 'binary-events' || encoding === 'binary-raw') {
        if (checkBatch(m) !== null) throw new Error(`bad batch: ${checkBatch(m)}`);
        const b = new Batch(m as ArrayBuffer);
        let s = 0;
        for (let i = 0; i < b.count; i++) {
          const o = recOffset(i);
          if (b.u8[o] === 250) continue;
          if (encoding !== 'binary-events') {
            // Touch what msgpackr decodes: every field of the record.
            const val = b.u64[(o + 16) >>> 3]!;
            if (val === 1n) s -= 1;
            s += b.u32[(o + 12) >>> 2]! + (b.u32[(o + 4) >>> 2]! & 0) + (b.u8[o + 2]! & 0);
          } else {
            // The bus's real decode: a concrete core Event per record.
            const dec = handles.decode(b, i);
            if (dec.kind === 'event' && dec.ev.op === 'map-single') s += dec.ev.size;
          }
        }
        add(s);
        port.postMessage({ t: 'ret', buf: b.ab } satisfies CoordinatorMessage, [b.ab]);
      } else if (encoding === 'object') {
        if (m === 'end') return void port.postMessage({ n: sinceAck + 1 });
        const r = m as { size: number; val: bigint; op: number };
        add(r.size);
        if (++sinceAck === RECORDS_PER_BATCH) {
          port.postMessage({ n: sinceAck });
          sinceAck = 0;
        }
      } else {
        if (m === 'end') return void port.postMessage({ n: 1 });
        const recs = packr.unpack(new Uint8Array(m as ArrayBuffer)) as { size: number; val: bigint }[];
        let s = 0;
        for (const r of recs) s += r.size;
        add(s);
        port.postMessage({ n: 1 });
      }
    });
  });
}

/** Atomics.waitAsync (Node 16+; not in the ES2022 lib typings). */
interface AtomicsWaitAsync {
  waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: Promise<string> | string };
}

async function drainRing(sab: SharedArrayBuffer, slots: number, events: number): Promise<number> {
  const idx = new Int32Array(sab, 0, 2);
  const u32 = new Uint32Array(sab, 8);
  let head = 0;
  let sum = 0;
  while (head < events) {
    const tail = Atomics.load(idx, 1);
    if (tail === head) {
      const w = (Atomics as unknown as AtomicsWaitAsync).waitAsync(idx, 1, tail, 50);
      if (w.async) await w.value;
      continue;
    }
    for (; head < tail; head++) {
      const o = ((head % slots) * 32) >>> 2;
      sum += u32[o + 3]!;
    }
    Atomics.store(idx, 0, head);
    Atomics.notify(idx, 0);
  }
  return sum;
}

async function main(): Promise<void> {
  const per = Number(process.argv[2] ?? 500_000);
  const devices = Number(process.argv[3] ?? 2);
  const trials = Number(process.argv[4] ?? 3);
  for (const enc of ENCODINGS) {
    const n = enc === 'object' ? Math.min(per, 100_000) : per;
    const rates: number[] = [];
    for (let t = 0; t < trials; t++) rates.push((await measureTransport(enc, devices, n)).eventsPerSec / 1e6);
    rates.sort((a, b) => a - b);
    const med = rates[rates.length >> 1]!;
    process.stdout.write(`${enc.padEnd(13)} ${devices} devices × ${n} events: median ${med.toFixed(2)} M events/s (min ${rates[0]!.toFixed(2)}, max ${rates[rates.length - 1]!.toFixed(2)})\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 3;
  });
}
