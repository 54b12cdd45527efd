// The coordinator: owns the model. It takes device batches off the bus, lets the schedule pick
// whose next call runs, resolves handles into a concrete Event, stamps it with the next sequence
// number, applies it with Machine.apply, appends it to the log, and answers the device.
// Device failures (a program that throws, a dead or hung thread, a malformed message) end that
// device's program with a finding; the log only ever holds applied events, so it stays replayable.

import type { Event, Outcome } from '@dmasim/core';
import type { Observable, Subscription } from 'rxjs';
import type { BusItem } from './bus.ts';
import type { CoordinatorOptions, DeviceStats, DeviceStatus, RunEnd, RunFinding, RunFindingKind } from './coordinator-types.ts';
import { Batch, checkBatch, type Reply } from './protocol.ts';
import { DeviceHandles, MalformedRecord, refHandle } from './resolve.ts';
import { makeScheduler, type SeededScheduler } from './schedule.ts';

export type * from './coordinator-types.ts';

/** The coordinator's view of one device. */
interface DevState {
  handles: DeviceHandles;
  /** Batches in arrival order; a Poison marks where a malformed message arrived. */
  queue: (Batch | Poison)[];
  /** Next record of queue[0]. */
  pos: number;
  replies: Reply[] | null;
  inFlight: number;
  maxQueued: number;
  lastActivity: number;
  finished: boolean;
  closed: boolean;
  settledError: string | null;
  settledAt: number;
  hooked: Batch | null;
  stats: DeviceStats;
}

/** Where a malformed message sat in a device's stream. */
class Poison {
  constructor(readonly why: string) {}
}


export class Coordinator {
  seq = 0;
  readonly findings: RunFinding[] = [];
  readonly findingCounts = new Map<RunFindingKind, number>();
  private readonly firstFinding = new Map<RunFindingKind, RunFinding>();
  private readonly devs: DevState[];
  private readonly sched: SeededScheduler | null;
  private active: number[];
  private readonly arrivals: number[] = [];
  private pendingPick = -1;
  private pumping = false;
  private paused = false;
  private stopping: RunEnd | null = null;
  private sub: Subscription | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private resolveDone!: (end: RunEnd) => void;
  private rejectDone!: (e: Error) => void;
  readonly done: Promise<RunEnd>;
  private readonly now: () => number;
  private readonly tickMs: number;
  /** Counts for the scenario's top-level script (run before the programs). */
  readonly scriptStats: DeviceStats = { name: '(script)', status: 'ended', events: 0, skipped: 0, errors: 0, faults: 0, findings: 0, debugLines: 0, injected: {} };

  constructor(private readonly o: CoordinatorOptions) {
    this.now = o.now ?? Date.now;
    this.tickMs = Math.min(1000, Math.max(50, o.deviceTimeoutMs / 4));
    const t = this.now();
    this.devs = o.devices.map((name) => ({
      handles: new DeviceHandles(name), queue: [], pos: 0, replies: null, inFlight: 0, maxQueued: 0, lastActivity: t,
      finished: false, closed: false, settledError: null, settledAt: 0, hooked: null,
      stats: { name, status: 'running', events: 0, skipped: 0, errors: 0, faults: 0, findings: 0, debugLines: 0, injected: {} },
    }));
    this.active = o.devices.map((_, i) => i);
    this.sched = makeScheduler(o.schedule, o.devices.length, o.expectedSteps);
    this.done = new Promise<RunEnd>((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
  }

  get deviceStats(): readonly DeviceStats[] {
    return this.devs.map((d) => d.stats);
  }

  /** Most batches any device had queued at the coordinator at once (≤ the window). */
  get maxQueuedBatches(): number {
    return Math.max(0, ...this.devs.map((d) => d.maxQueued));
  }

  firstOf(kind: RunFindingKind): RunFinding | undefined {
    return this.firstFinding.get(kind);
  }

  get stopped(): boolean {
    return this.stopping !== null;
  }

  get running(): number {
    return this.active.length;
  }

  /** Subscribes to the bus; `done` settles when every device program has ended. */
  start(bus: Observable<BusItem>): Promise<RunEnd> {
    this.sub = bus.subscribe({ next: (it) => this.onItem(it), error: (e: unknown) => this.fatal(e) });
    this.watchdog = setInterval(() => this.checkHung(), this.tickMs);
    this.watchdog.unref?.();
    if (this.active.length === 0) this.finish('completed');
    else this.schedulePump();
    return this.done;
  }

  /** Device programs were released (start barrier): silence counts from now on. */
  released(): void {
    const t = this.now();
    this.live = true;
    for (const d of this.devs) d.lastActivity = t;
  }

  private live = false;

  /** Stops every device program (Ctrl-C, a crash, a broken invariant); the log stays valid. */
  stop(why: RunEnd = 'stopped', reason = 'the run was stopped'): void {
    if (this.stopping) return;
    this.stopping = why;
    for (let d = 0; d < this.devs.length; d++) {
      if (!this.devs[d]!.finished) this.end(d, 'stopped', reason, true);
    }
    this.finish(why);
  }

  private finish(end: RunEnd): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    this.sub?.unsubscribe();
    this.sub = null;
    this.resolveDone(this.stopping ?? end);
  }

  private fatal(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.stopping ??= 'crashed';
    for (let d = 0; d < this.devs.length; d++) if (!this.devs[d]!.finished) this.end(d, 'stopped', `coordinator failed: ${err.message}`, true);
    if (this.watchdog) clearInterval(this.watchdog);
    this.sub?.unsubscribe();
    this.rejectDone(err);
  }

  private onItem(it: BusItem): void {
    const d = this.devs[it.dev]!;
    if (it.kind === 'msg') {
      if (d.finished || isReady(it.msg)) return;
      d.lastActivity = this.now();
      // A bad message takes effect at its place in the device's stream, after what came before it.
      let why = checkBatch(it.msg);
      if (why === null && d.inFlight >= this.o.window) why = `more than ${this.o.window} batches in flight: the device ignores the window`;
      if (why !== null) d.queue.push(new Poison(why));
      else {
        d.queue.push(new Batch(it.msg as ArrayBuffer));
        d.inFlight++;
        if (d.queue.length > d.maxQueued) d.maxQueued = d.queue.length;
      }
      if (!this.sched) this.arrivals.push(it.dev);
    } else if (it.kind === 'closed') {
      d.closed = true;
    } else {
      if (it.error !== undefined) {
        d.settledError = it.error;
        d.settledAt = this.now();
      }
    }
    this.schedulePump();
  }

  private pumpQueued = false;

  /**
   * Work runs on setImmediate turns, not inside the message callback: Node drains one port's
   * queue at a time, so a busy coordinator pumping from there would starve every other device.
   */
  private schedulePump(): void {
    if (this.pumpQueued || this.stopping) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      try {
        this.pump();
      } catch (e) {
        this.fatal(e);
      }
    });
  }

  /** A dead thread's device has nothing left to deliver: its port closed (or long enough passed). */
  private isDead(d: DevState, graceMs = 2000): boolean {
    return d.settledError !== null && d.queue.length === 0 && (d.closed || this.now() - d.settledAt > graceMs);
  }

  /** Batches (free) or records (seeded) applied per turn before letting messages in again. */
  private static readonly TURN_BATCHES = 16;
  private static readonly TURN_RECORDS = 4096;

  private pump(): void {
    if (this.pumping || this.paused || this.stopping) return;
    this.pumping = true;
    let budget = this.sched ? Coordinator.TURN_RECORDS : Coordinator.TURN_BATCHES;
    try {
      for (;;) {
        if (this.stopping) break;
        if (budget-- <= 0) {
          this.schedulePump();
          break;
        }
        let dev: number;
        if (!this.sched) {
          const a = this.arrivals[0];
          if (a === undefined) break;
          dev = a;
        } else {
          if (this.active.length === 0) break;
          dev = this.pendingPick >= 0 ? this.pendingPick : this.sched.pick(this.active);
          const d = this.devs[dev]!;
          if (d.queue.length === 0) {
            this.pendingPick = -1;
            if (this.isDead(d)) {
              this.died(dev);
              continue;
            }
            this.pendingPick = dev;
            break;
          }
          this.pendingPick = -1;
        }
        const d = this.devs[dev]!;
        const head = d.queue[0]!;
        if (head instanceof Poison) {
          if (!this.sched) this.arrivals.shift();
          this.malformed(dev, head.why);
          continue;
        }
        if (this.o.hooks?.beforeBatch && d.hooked !== head && d.pos === 0) {
          d.hooked = head;
          const p = this.o.hooks.beforeBatch(dev, this.seq);
          if (p) {
            if (this.sched) this.pendingPick = dev;
            this.paused = true;
            p.then(() => {
              this.paused = false;
              this.schedulePump();
            }, (e: unknown) => this.fatal(e));
            break;
          }
        }
        if (!this.sched) {
          this.arrivals.shift();
          while (d.queue[0] === head && !d.finished && !this.stopping) this.applyNext(dev);
          if (!d.finished && this.isDead(d)) this.died(dev);
        } else {
          this.applyNext(dev);
          this.sched.stepped(dev);
        }
      }
    } finally {
      this.pumping = false;
    }
    if (!this.stopping && this.active.length === 0) this.finish('completed');
  }

  /** Applies (or drops) the next record of device `dev`'s head batch. */
  private applyNext(dev: number): void {
    const d = this.devs[dev]!;
    const b = d.queue[0] as Batch;
    const i = d.pos++;
    let dec;
    try {
      dec = d.handles.decode(b, i);
    } catch (e) {
      if (!(e instanceof MalformedRecord)) throw e;
      this.malformed(dev, e.message);
      return;
    }
    switch (dec.kind) {
      case 'skip':
        d.stats.skipped++;
        this.o.onSkip?.(dev);
        if (dec.reply) (d.replies ??= []).push({ rec: i, result: 0n, error: true, skipped: true });
        break;
      case 'end':
        d.stats.injected = parseInjected(dec.info);
        this.retire(dev);
        this.end(dev, 'ended');
        return;
      case 'fail':
        this.finding('program-error', dev, `device program failed: ${dec.message}`);
        this.retire(dev);
        this.end(dev, 'failed', dec.message);
        return;
      case 'event': {
        const out = this.applyEvent(dev, dec.ev, dec.op, dec.cpu);
        if (!out) return;
        const ev = dec.ev;
        if (dec.bind !== 0xffffffff) d.handles.bind(dec.bind, ev, out, dec.checked);
        else if (dec.op === 'mapping-error') d.handles.markChecked(ev, out, refHandle(b, i));
        if (dec.reply) (d.replies ??= []).push({ rec: i, result: out.result, error: out.error, skipped: false });
        break;
      }
    }
    if (d.pos >= b.count) this.retire(dev);
  }

  /**
   * Stamps, applies and logs one event for device `dev` (-1: the scenario's top-level script).
   * `op` and `cpu`, when given, are ev.op and ev.cpu (the record decoder's). Returns null when
   * apply threw (a kernel BUG or a refused request: handled here).
   */
  applyEvent(dev: number, ev: Event, op?: Event['op'], cpu?: number): Outcome | null {
    const seq = ++this.seq;
    let out: Outcome;
    try {
      // The record decoder's op and CPU, when it gave them: Machine.applyAs then reads neither
      // from the event (a load from objects of every event shape; BENCHMARKS.md, twentieth round).
      const model = this.o.model;
      out = op !== undefined && cpu !== undefined && model.applyAs ? model.applyAs(ev, op, cpu) : model.apply(ev);
    } catch (e) {
      this.o.sink?.append(ev, null, e);
      this.thrown(dev, ev, e);
      return null;
    }
    this.o.sink?.append(ev, out);
    const st = dev >= 0 ? this.devs[dev]!.stats : this.scriptStats;
    st.events++;
    if (out.error) st.errors++;
    if (out.fault !== undefined && out.fault !== 'none') st.faults++;
    for (const f of out.findings) {
      st.findings++;
      this.finding(f.kind, dev, f.message, seq);
    }
    for (const line of out.dmesg) if (line.startsWith('DMA-API:')) st.debugLines++;
    this.o.onEvent?.(seq, dev, ev, out);
    const bug = this.o.model.crashed;
    if (bug) {
      this.finding('kernel-bug', dev, `the simulated kernel crashed at event ${seq} (${ev.op}): ${bug}`, seq);
      this.stop('crashed', `the simulated kernel crashed at event ${seq}`);
      return out;
    }
    const every = this.o.invariantEvery ?? 0;
    if (every > 0 && this.o.checkInvariants && seq % every === 0) this.invariants();
    return out;
  }

  /** Returns the head batch to its device (with any replies): the device may reuse it. */
  private retire(dev: number): void {
    const d = this.devs[dev]!;
    const b = d.queue.shift();
    d.pos = 0;
    if (!b || b instanceof Poison) return;
    d.inFlight--;
    d.lastActivity = this.now();
    const replies = d.replies;
    d.replies = null;
    this.o.send(dev, replies ? { t: 'ret', buf: b.ab, replies } : { t: 'ret', buf: b.ab }, [b.ab]);
  }

  /** The end-of-run invariant check; true when one is broken (recorded as findings). */
  finalInvariants(): boolean {
    const broken = this.o.checkInvariants?.() ?? [];
    for (const m of broken) this.finding('invariant', null, m, this.seq);
    return broken.length > 0;
  }

  private invariants(): void {
    const broken = this.o.checkInvariants!();
    if (broken.length === 0) return;
    for (const m of broken) this.finding('invariant', null, m, this.seq);
    this.stop('invariant', `model invariant broken after event ${this.seq}`);
  }

  private thrown(dev: number, ev: Event, e: unknown): void {
    if (dev < 0 && (e as { code?: unknown }).code === 'MODEL_INPUT') {
      const err = e as Error;
      this.finding('refused', null, `script ${ev.op}: ${err.message}`, this.seq);
      this.stop('stopped', `the model refused a top-level step: ${err.message}`);
      return;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    const code = (e as { code?: unknown }).code;
    if (code === 'KERNEL_BUG') {
      this.finding('kernel-bug', dev, `kernel BUG at event ${this.seq} (${ev.op}): ${err.message}`, this.seq);
      this.stop('crashed', `the simulated kernel crashed at event ${this.seq}`);
    } else if (code === 'MODEL_INPUT') {
      this.finding('refused', dev, `${ev.op}: ${err.message}`, this.seq);
      this.end(dev, 'failed', `the model refused ${ev.op}: ${err.message}`, true);
    } else {
      throw err;
    }
  }

  private malformed(dev: number, why: string): void {
    this.finding('malformed-message', dev, `malformed message from device ${this.o.devices[dev]}: ${why}`);
    this.end(dev, 'failed', `malformed message: ${why}`, true);
  }

  private died(dev: number): void {
    const d = this.devs[dev]!;
    this.finding('worker-died', dev, `worker thread of ${d.stats.name} died: ${d.settledError}`);
    this.end(dev, 'failed', `worker died: ${d.settledError}`, false);
  }

  private lastTick = 0;

  /**
   * Watchdog tick. A device looks hung when it holds a free buffer (so it is not blocked on us)
   * and has sent nothing for the timeout; the verdict waits for setImmediate, after the event
   * loop's poll phase has delivered any messages that queued while the coordinator was busy.
   */
  private checkHung(): void {
    if (this.stopping || !this.live) return;
    const t = this.now();
    const late = this.lastTick !== 0 && t - this.lastTick > 2 * this.tickMs + 250;
    this.lastTick = t;
    if (late) {
      // The coordinator itself was busy (a long synchronous stretch): nobody could be heard.
      for (const d of this.devs) d.lastActivity = Math.max(d.lastActivity, t);
      return;
    }
    setImmediate(() => this.judgeHung());
  }

  private judgeHung(): void {
    if (this.stopping) return;
    const t = this.now();
    for (let dev = 0; dev < this.devs.length; dev++) {
      const d = this.devs[dev]!;
      if (d.finished) continue;
      if (d.settledError !== null) {
        if (this.isDead(d)) this.died(dev);
        continue;
      }
      // Hung: it holds a free buffer (not blocked on us) and has sent nothing for too long.
      if (d.queue.length === 0 && d.inFlight < this.o.window && t - d.lastActivity > this.o.deviceTimeoutMs) {
        this.finding('worker-timeout', dev, `device ${d.stats.name} sent nothing for ${this.o.deviceTimeoutMs} ms: program hung; its thread was terminated`);
        this.end(dev, 'failed', `timed out after ${this.o.deviceTimeoutMs} ms`, true);
        this.o.abort(dev);
      }
    }
    this.schedulePump();
  }

  /** Ends a device's program; `tell` sends it a stop message. */
  private end(dev: number, status: DeviceStatus, message?: string, tell = false): void {
    const d = this.devs[dev]!;
    if (d.finished) return;
    d.finished = true;
    d.stats.status = status;
    if (message !== undefined) d.stats.message = message;
    d.queue.length = 0;
    d.pos = 0;
    this.active = this.active.filter((x) => x !== dev);
    if (this.pendingPick === dev) this.pendingPick = -1;
    for (let i = this.arrivals.indexOf(dev); i >= 0; i = this.arrivals.indexOf(dev)) this.arrivals.splice(i, 1);
    if (tell) this.o.send(dev, { t: 'stop', reason: message ?? status });
    this.o.note?.(status === 'ended' ? 'info' : 'warn', `device ${d.stats.name} ${status}${message ? ': ' + message : ''}`, { seq: this.seq });
  }

  private finding(kind: RunFindingKind, dev: number | null, message: string, seq = this.seq): void {
    const f: RunFinding = { kind, dev: dev === null || dev < 0 ? null : this.o.devices[dev]!, seq, message };
    this.findingCounts.set(kind, (this.findingCounts.get(kind) ?? 0) + 1);
    if (!this.firstFinding.has(kind)) {
      this.firstFinding.set(kind, f);
      this.o.note?.('warn', `first ${kind} finding at event ${seq}: ${message}`, { dev: f.dev });
    }
    // Keep the first few of each kind in full; counts carry the rest (a run may find millions).
    if ((this.findingCounts.get(kind) ?? 0) <= 100) this.findings.push(f);
  }
}

/** The start-barrier hello a device sends before its program begins (handled by the run). */
export function isReady(m: unknown): boolean {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === 'ready';
}

function parseInjected(info: string): Record<string, number> {
  if (!info) return {};
  try {
    const v = JSON.parse(info) as { injected?: Record<string, number> };
    return v.injected ?? {};
  } catch {
    return {};
  }
}
