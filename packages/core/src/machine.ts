// Machine: the pure, deterministic state machine at the centre of dmasim.
// `apply(event) → outcome` is the only way anything changes: scenario steps, worker requests and
// log replay all come through here. Nothing in it reads a clock or Math.random.

import type { MachineConfig } from './config.ts';
import { emptyOutcome, resetOutcome, type Event, type Outcome } from './events.ts';
import { Kernel, KernelBug, ModelInputError } from './kernel.ts';
import { EVENT_TICK_NS } from './platform/clock.ts';
import { Hasher, STATE_HASH_VERSION, type StateHashVersion } from './util/hash.ts';
import { applyEvent } from './dma/mapping.ts';
import { IO_TLB_SEGSIZE } from './dma/swiotlb.ts';
import { TracePool } from './dma/trace.ts';

export interface MachineSummary {
  events: number;
  timeNs: number;
  devices: { name: string; liveMappings: number }[];
  swiotlb: { total: number; used: number };
  iova: { domain: string; allocatedPfns: number }[];
  debugEntries: number;
  debugErrors: number;
}

export class Machine {
  readonly k: Kernel;
  private applied = 0;
  /**
   * The definition stateHash() follows (util/hash.ts): the current one unless set, e.g. by replay
   * to the version of the log it checks against. May be changed at any time.
   */
  hashVersion: StateHashVersion = STATE_HASH_VERSION;
  /**
   * When true, apply() returns one outcome object, reset for every event, instead of a new one per
   * event, and its trace records and read data are reused too (dma/trace.ts TracePool,
   * Memory.aliasReads): for callers that are done with an outcome before the next apply (replay,
   * which digests and drops each). Off by default — scenarios and the coordinator keep outcomes.
   */
  recycleOutcomes = false;
  private spare: Outcome | null = null;

  constructor(readonly config: MachineConfig) {
    this.k = new Kernel(config);
  }

  get eventCount(): number {
    return this.applied;
  }

  /** The BUG line if a call crashed the simulated kernel, else null. */
  get crashed(): string | null {
    return this.k.crashed;
  }

  /**
   * Applies one event. A kernel BUG (e.g. an invalid direction, row A1) becomes an error outcome
   * and leaves the machine crashed: later events change nothing and say so. Bad input
   * (ModelInputError: unknown device, a CPU that does not exist, ...) is thrown to the caller.
   */
  apply(ev: Event): Outcome {
    return this.applyAs(ev, ev.op, ev.cpu);
  }

  /**
   * apply(ev) for a caller that holds the event's op and CPU apart from it: `op` and `cpu` must be
   * ev.op and ev.cpu. The log decoder does (BatchCursor.op, .cpu): read from the event here, they
   * were loads from objects of every event shape, two megamorphic lookups per event
   * (BENCHMARKS.md, nineteenth round).
   */
  applyAs(ev: Event, op: Event['op'], cpu: number): Outcome {
    const k = this.k;
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= k.cfg.platform.cpus) {
      throw new ModelInputError(`cpu ${cpu} does not exist (the platform has ${k.cfg.platform.cpus})`);
    }
    k.seq = ++this.applied;
    k.cpu = cpu;
    k.out = this.recycleOutcomes ? resetOutcome((this.spare ??= emptyOutcome(0)), k.clock.nowNs) : emptyOutcome(k.clock.nowNs);
    // A recycled outcome is used before the next event: its read data may be a view of memory
    // (Memory.aliasReads), and its trace records are taken again by the next event (TracePool).
    k.mem.aliasReads = this.recycleOutcomes;
    if (this.recycleOutcomes) (k.tracePool ??= new TracePool()).used = 0;
    else k.tracePool = null;
    if (k.crashed !== null) {
      k.out.error = true;
      k.out.dmesg.push(`dmasim: the simulated kernel has crashed (${k.crashed}); ${op} was not run`);
      return k.out;
    }
    // Each call takes one tick of virtual time; timers that fall due fire inside this event.
    k.clock.advanceBy(EVENT_TICK_NS);
    k.out.timeNs = k.clock.nowNs;
    try {
      applyEvent(k, ev, op);
    } catch (e) {
      if (!(e instanceof KernelBug)) throw e;
      k.crashed = e.message;
      k.out.result = 0n;
      k.out.error = true;
      k.out.path = 'none';
    }
    return k.out;
  }

  /** Mappings the model still holds (direct, swiotlb, IOVA, ops, coherent) — not dma-debug's entries. */
  leaks(): number {
    return this.k.live.count;
  }

  summary(): MachineSummary {
    const k = this.k;
    return {
      events: this.applied,
      timeNs: k.clock.nowNs,
      devices: k.deviceList.map((d) => ({ name: d.name, liveMappings: k.live.countFor(d.index) })),
      swiotlb: { total: k.swiotlb.totalSlots, used: k.swiotlb.usedSlots },
      iova: k.iommu.summary(),
      debugEntries: k.debug.entryCount,
      debugErrors: k.debug.errorCount,
    };
  }

  /**
   * The model's internal consistency checks, in the kernel's bracketed style; [] when all hold.
   * Cost is linear in the swiotlb pool and the IOVA trees: call it every few thousand events in a
   * stress loop, and after each step of a scenario if you like.
   */
  checkInvariants(): string[] {
    const k = this.k;
    const bad: string[] = [];
    const s = k.swiotlb;
    let used = 0;
    for (let seg = 0; seg < s.totalSlots; seg += IO_TLB_SEGSIZE) {
      let run = 0;
      for (let i = Math.min(seg + IO_TLB_SEGSIZE, s.totalSlots) - 1; i >= seg; i--) {
        const list = s.slotList(i);
        if (list === 0) {
          used++;
          run = 0;
        } else if (list !== ++run) {
          bad.push(`swiotlb: free slot has a wrong list [slot=${i}] [list=${list}] [expected=${run}]`);
          break;
        }
      }
    }
    if (used !== s.usedSlots) bad.push(`swiotlb: used count differs from the slots in use [used=${s.usedSlots}] [in use=${used}]`);
    const iommu = k.iommu.checkInvariants();
    if (iommu) bad.push(`iommu: ${iommu}`);
    return bad;
  }

  /** Stable digest of the whole model state (definition `hashVersion`: memory's part differs from 1 to 2, the Hasher's mode from 2 to 3). */
  stateHash(): string {
    const h = new Hasher(this.hashVersion >= 3);
    const k = this.k;
    h.str(k.profile).num(this.applied);
    k.clock.hashInto(h);
    h.big(k.prng.stateValue);
    for (const d of k.deviceList) d.hashInto(h);
    k.hashInto(h);
    k.mem.hashInto(h, this.hashVersion);
    k.swiotlb.hashInto(h);
    k.iommu.hashInto(h);
    k.debug.hashInto(h);
    return h.digest();
  }
}
