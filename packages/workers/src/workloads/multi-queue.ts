// multi-queue: one device whose driver runs several workloads as its queues — a NIC's RX and TX
// queues beside an NVMe-style I/O queue, say — interleaved in one program. Each queue is a
// registry workload with its own parameters, PRNG, bug knobs, share of the op budget, slice of the
// device's RAM window and lane of its handles; the queues take turns of `turn` calls each,
// round-robin, until every queue has drained. The device keeps its one configuration (driver, DMA
// path, masks): only its programs are combined, and it issues one `unbind` at the very end.

import type { DeviceRequest, DmaIssuer, IssueOptions } from '../driver.ts';
import type { Reply } from '../protocol.ts';
import { ALL_BUGS, Bugs, type Workload, type WorkloadContext } from './common.ts';
import { BUG_PREFIX, OPS_PARAM, ParamError, bugParam, num, resolveParams, type BugKnob, type ParamValue, type Resolved } from './params.ts';

export const MULTI_QUEUE = 'multi-queue';

/** One queue of a multi-queue program: a workload and the parameters given to it. */
export interface QueueSpec { workload: string; params: Record<string, ParamValue> }

/**
 * `"nic-rx recycle=sync, nvme queue-depth=64"` → queues: comma-separated, each a workload name
 * followed by its parameters as whitespace-separated key=value pairs.
 */
export function parseQueues(text: string): QueueSpec[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((s) => s === '')) throw new Error('expected comma-separated workloads, e.g. "nic-rx recycle=sync, nvme queue-depth=64"');
  return parts.map((part) => {
    const [workload, ...kvs] = part.split(/\s+/);
    const params: Record<string, ParamValue> = {};
    for (const kv of kvs) {
      const i = kv.indexOf('=');
      if (i <= 0) throw new Error(`${workload}: expected key=value after the workload name, got "${kv}"`);
      const k = kv.slice(0, i);
      if (k in params) throw new Error(`${workload}: parameter "${k}" given twice`);
      params[k] = kv.slice(i + 1);
    }
    return { workload: workload!, params };
  });
}

/** The `queues` parameter that `parseQueues` reads back as `qs`. */
export function formatQueues(qs: readonly QueueSpec[]): string {
  return qs.map((q) => {
    const kvs = Object.entries(q.params).map(([k, v]) => {
      const s = `${k}=${String(v)}`;
      if (/[\s,]/.test(s) || k.includes('=')) throw new Error(`queue ${q.workload}: parameter ${s} cannot be written in a queues list`);
      return s;
    });
    return [q.workload, ...kvs].join(' ');
  }).join(', ');
}

interface Planned { w: Workload; p: Resolved }

/** Each queue's workload and resolved parameters: its share of `ops`, the program's bug knobs where its workload has them. */
function plan(where: string, p: Resolved, queueable: readonly Workload[]): Planned[] {
  const at = `${where}: parameter "queues"`;
  let specs: QueueSpec[];
  try {
    specs = parseQueues(String(p.queues));
  } catch (e) {
    throw new ParamError(`${at} = ${String(p.queues)}: ${(e as Error).message}`);
  }
  const share = Math.ceil(num(p, OPS_PARAM.name) / specs.length);
  const rates: [BugKnob, number][] = [];
  for (const k of ALL_BUGS) {
    const r = p[BUG_PREFIX + k];
    if (typeof r === 'number' && r > 0) rates.push([k, r]);
  }
  const out = specs.map((q, i): Planned => {
    const w = queueable.find((x) => x.name === q.workload);
    if (!w) throw new ParamError(`${at}: queue ${i + 1}: unknown workload "${q.workload}" (a queue runs one of: ${queueable.map((x) => x.name).join(', ')})`);
    const given: Record<string, ParamValue> = { ...q.params };
    if (!(OPS_PARAM.name in given)) given[OPS_PARAM.name] = share;
    for (const [k, r] of rates) if (w.bugs.includes(k) && !(BUG_PREFIX + k in given)) given[BUG_PREFIX + k] = r;
    const qwhere = `${at}: queue ${i + 1} (${w.name})`;
    const qp = resolveParams(qwhere, w.params, given);
    w.check?.(qwhere, qp);
    return { w, p: qp };
  });
  for (const [k] of rates) {
    if (!out.some((q) => q.w.bugs.includes(k))) throw new ParamError(`${where}: parameter "${BUG_PREFIX}${k}": no queue's workload has this bug knob`);
  }
  return out;
}

/**
 * Whose turn it is. Only the queue holding the turn may call into the device's driver (whose
 * window wait admits one waiter), and it keeps the turn until its call has gone through; a queue
 * whose turn is over, or that has not got it, waits for it.
 */
class Turns {
  owner = 0;
  left: number;
  error: Error | null = null;
  private readonly live: boolean[];
  private readonly waiters: ({ resolve: () => void; reject: (e: Error) => void } | undefined)[];

  constructor(n: number, readonly turn: number) {
    this.left = turn;
    this.live = new Array<boolean>(n).fill(true);
    this.waiters = new Array(n);
  }

  wait(q: number): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.waiters[q]) return Promise.reject(new Error(`multi-queue: queue ${q + 1} issued a call while its previous one waited for its turn (await each call)`));
    return new Promise<void>((resolve, reject) => {
      this.waiters[q] = { resolve, reject };
    });
  }

  /** The next live queue after the owner (round-robin) gets a full turn. */
  pass(): void {
    const n = this.live.length;
    for (let k = 1; k <= n; k++) {
      const q = (this.owner + k) % n;
      if (!this.live[q]) continue;
      this.owner = q;
      this.left = this.turn;
      const w = this.waiters[q];
      if (w) {
        this.waiters[q] = undefined;
        w.resolve();
      }
      return;
    }
  }

  finish(q: number): void {
    this.live[q] = false;
    if (this.owner === q) this.pass();
  }

  /** A queue threw (or the device was stopped): every other queue gets the same error at its next call. */
  fail(q: number, e: unknown): void {
    this.live[q] = false;
    this.error ??= e instanceof Error ? e : new Error(String(e));
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      this.waiters[i] = undefined;
      w?.reject(this.error);
    }
  }
}

/** One queue's view of the device's driver: its calls go through in its turns, and are counted for its budget. */
class QueuePort implements DmaIssuer {
  issued = 0;

  constructor(private readonly t: Turns, private readonly q: number, private readonly drv: DmaIssuer) {}

  issue(req: DeviceRequest, o?: IssueOptions): Promise<void> | undefined {
    const t = this.t;
    if (t.error) throw t.error;
    if (t.owner !== this.q) return t.wait(this.q).then(() => this.issue(req, o));
    const r = this.drv.issue(req, o);
    this.issued++;
    if (--t.left > 0) return r;
    if (r === undefined) {
      t.pass();
      return undefined;
    }
    return r.then(() => t.pass());
  }

  async call(req: DeviceRequest, o?: IssueOptions): Promise<Reply> {
    const t = this.t;
    for (;;) {
      if (t.error) throw t.error;
      if (t.owner === this.q) break;
      await t.wait(this.q);
    }
    const r = await this.drv.call(req, o);
    this.issued++;
    if (--t.left <= 0) t.pass();
    return r;
  }
}

/** Queue windows start on dma-debug's 8 KiB hash buckets. */
const WINDOW_ALIGN = 8192n;

/** The multi-queue workload over `queueable` (the workloads a queue may run: every other one). */
export function multiQueue(queueable: readonly Workload[]): Workload {
  return {
    name: MULTI_QUEUE,
    summary: 'one device running several workloads as its queues (e.g. RX, TX and I/O), interleaved turn by turn; each queue has its own parameters, share of the ops, buffers and handles',
    params: [
      { name: 'queues', kind: 'string', default: 'nic-rx, nic-tx, nvme', help: 'comma-separated workloads, each with its own key=value parameters, e.g. "nic-rx recycle=sync, nvme queue-depth=64"' },
      { name: 'turn', kind: 'int', default: 64, min: 1, max: 1 << 20, help: 'calls a queue issues before the next queue takes its turn (round-robin)' },
      { ...OPS_PARAM, help: "DMA API calls in all, split evenly between the queues (a queue's own ops= sets its share)" },
      ...ALL_BUGS.map(bugParam),
    ],
    bugs: ALL_BUGS,
    check(where: string, p: Resolved): void {
      plan(where, p, queueable);
    },
    async run(ctx: WorkloadContext): Promise<void> {
      const queues = plan(`workload ${MULTI_QUEUE} on ${ctx.dev.name}`, ctx.p, queueable);
      const n = queues.length;
      const turns = new Turns(n, num(ctx.p, 'turn'));
      const size = (ctx.region.size / BigInt(n) / WINDOW_ALIGN) * WINDOW_ALIGN;
      const subs = queues.map((q, i): WorkloadContext => {
        const prng = ctx.prng.fork(`queue:${i}`);
        const port = new QueuePort(turns, i, ctx.drv);
        const ops = num(q.p, OPS_PARAM.name);
        return {
          drv: port, dev: ctx.dev, prng, p: q.p, bugs: new Bugs(prng.fork('bugs'), q.p, q.w.bugs),
          region: { base: ctx.region.base + BigInt(i) * size, size },
          lane: { index: ctx.lane.index + ctx.lane.count * i, count: ctx.lane.count * n },
          cpus: ctx.cpus, pageSize: ctx.pageSize, mmio: ctx.mmio,
          more: () => port.issued < ops,
        };
      });
      // Queue 0 holds the first turn; the others start and wait at their first call.
      await Promise.all(subs.map((sub, i) => queues[i]!.w.run(sub).then(() => turns.finish(i), (e: unknown) => turns.fail(i, e))));
      if (turns.error) throw turns.error;
      for (const sub of subs) {
        for (const [k, v] of Object.entries(sub.bugs.injected) as [BugKnob, number][]) ctx.bugs.injected[k] = (ctx.bugs.injected[k] ?? 0) + v;
      }
    },
  };
}
