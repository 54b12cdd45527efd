// Producer side of the transport measurement: sends `events` synthetic map-single requests to the
// coordinator thread in one encoding, honouring a window of `window` unacknowledged messages.

import type { MessagePort } from 'node:worker_threads';
import { Packr } from 'msgpackr';
import { DeviceDriver } from '../driver.ts';
import { Batch, RECORDS_PER_BATCH, recOffset, type CoordinatorMessage } from '../protocol.ts';

export type Encoding = 'object' | 'msgpackr' | 'binary-raw' | 'binary' | 'binary-events' | 'sab-ring';

/** One constant structure set, identical in every thread (separately learned ones do not decode). */
export const SHARED_STRUCTURES = [['op', 'cpu', 'ref', 'bind', 'size', 'val', 'dir', 'attrs']];
export function sharedPackr(): Packr {
  return new Packr({ structures: SHARED_STRUCTURES.map((s) => [...s]), maxSharedStructures: SHARED_STRUCTURES.length, int64AsType: 'bigint' });
}

export interface ProducerTask {
  port: MessagePort;
  encoding: Encoding;
  events: number;
  window: number;
  /** sab-ring: [head, tail] Int32 indices then slots × 32 bytes. */
  sab?: SharedArrayBuffer;
  slots?: number;
}

export default async function produce(t: ProducerTask): Promise<number> {
  const { port, events } = t;
  if (t.encoding === 'binary' || t.encoding === 'binary-events') {
    const drv = new DeviceDriver(port, t.window);
    for (let i = 0; i < events; i++) {
      const w = drv.issue({ op: 'map-single', cpu: i & 3, phys: BigInt(0x100000000 + (i & 0xffff) * 2048), size: 2048, dir: 2, attrs: 0 }, { bind: i & 0xffff });
      if (w) await w;
    }
    await drv.end();
    drv.close();
    return events;
  }
  if (t.encoding === 'binary-raw') {
    // The wire alone: records written straight into transferable batches (no Event-shaped API).
    const free: Batch[] = [];
    let allocated = 0;
    let inFlight = 0;
    let wake: (() => void) | null = null;
    port.on('message', (m: CoordinatorMessage) => {
      if (m.t !== 'ret') return;
      free.push(new Batch(m.buf));
      inFlight--;
      wake?.();
      wake = null;
    });
    let b: Batch | undefined;
    for (let i = 0; i < events; i++) {
      if (!b) {
        while (free.length === 0 && allocated >= t.window) await new Promise<void>((r) => (wake = r));
        b = free.pop() ?? (allocated++, Batch.alloc());
        b.reset(0);
      }
      const o = recOffset(b.count);
      b.u8[o] = 1;
      b.u8[o + 2] = 2;
      b.u8[o + 3] = i & 3;
      b.u32[(o + 4) >>> 2] = i & 0xffff;
      b.u32[(o + 8) >>> 2] = i & 0xffff;
      b.u32[(o + 12) >>> 2] = 2048;
      b.u32[(o + 16) >>> 2] = (i & 0xffff) * 2048;
      b.u32[(o + 20) >>> 2] = 1;
      b.u32[1] = b.count + 1;
      if (b.full || i === events - 1) {
        inFlight++;
        port.postMessage(b.ab, [b.ab]);
        b = undefined;
      }
    }
    while (inFlight > 0) await new Promise<void>((r) => (wake = r));
    port.close();
    return events;
  }
  if (t.encoding === 'sab-ring') {
    const slots = t.slots!;
    const idx = new Int32Array(t.sab!, 0, 2);
    const u32 = new Uint32Array(t.sab!, 8);
    for (let i = 0; i < events; i++) {
      const tail = Atomics.load(idx, 1);
      while (tail - Atomics.load(idx, 0) >= slots) Atomics.wait(idx, 0, Atomics.load(idx, 0), 50);
      const o = ((tail % slots) * 32) >>> 2;
      u32[o] = 1 | ((i & 3) << 24);
      u32[o + 1] = i & 0xffff;
      u32[o + 2] = i & 0xffff;
      u32[o + 3] = 2048;
      u32[o + 4] = (i & 0xffff) * 2048;
      u32[o + 5] = 1;
      u32[o + 6] = 2;
      u32[o + 7] = 0;
      Atomics.store(idx, 1, tail + 1);
      if ((i & 63) === 63 || i === events - 1) Atomics.notify(idx, 1);
    }
    port.close();
    return events;
  }
  // Credits count messages; the object baseline gets a batch's worth per window slot.
  let credits = t.encoding === 'object' ? t.window * RECORDS_PER_BATCH : t.window;
  let wake: (() => void) | null = null;
  port.on('message', (m: { n: number }) => {
    credits += m.n;
    wake?.();
    wake = null;
  });
  const need = async (): Promise<void> => {
    while (credits <= 0) await new Promise<void>((r) => (wake = r));
    credits--;
  };
  const packr = sharedPackr();
  let batch: object[] = [];
  for (let i = 0; i < events; i++) {
    const rec = { op: 1, cpu: i & 3, ref: i & 0xffff, bind: i & 0xffff, size: 2048, val: BigInt(0x100000000 + (i & 0xffff) * 2048), dir: 2, attrs: 0 };
    if (t.encoding === 'object') {
      await need();
      port.postMessage(rec);
      continue;
    }
    batch.push(rec);
    if (batch.length === RECORDS_PER_BATCH || i === events - 1) {
      await need();
      const bytes = packr.pack(batch);
      const ab = (bytes.buffer as ArrayBuffer).slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      port.postMessage(ab, [ab]);
      batch = [];
    }
  }
  await need();
  port.postMessage('end');
  while (credits < (t.encoding === 'object' ? t.window * RECORDS_PER_BATCH : t.window)) await new Promise<void>((r) => (wake = r));
  port.close();
  return events;
}
