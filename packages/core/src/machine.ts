// Machine: the pure, deterministic state machine at the centre of dmasim.
// `apply(event) → outcome` is the only way anything changes: scenario steps, worker requests and
// log replay all come through here. Nothing in it reads a clock or Math.random.

import type { MachineConfig } from './config.ts';
import { emptyOutcome, type Event, type Outcome } from './events.ts';
import { Kernel } from './kernel.ts';
import { EVENT_TICK_NS } from './platform/clock.ts';
import { Hasher } from './util/hash.ts';
import { applyEvent } from './dma/mapping.ts';

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

  constructor(readonly config: MachineConfig) {
    this.k = new Kernel(config);
  }

  get eventCount(): number {
    return this.applied;
  }

  apply(ev: Event): Outcome {
    const k = this.k;
    k.seq = ++this.applied;
    k.cpu = ev.cpu;
    k.out = emptyOutcome(k.clock.nowNs);
    // Each call takes one tick of virtual time; timers that fall due fire inside this event.
    k.clock.advanceBy(EVENT_TICK_NS);
    k.out.timeNs = k.clock.nowNs;
    applyEvent(k, ev);
    return k.out;
  }

  /** Stable digest of the whole model state. */
  stateHash(): string {
    const h = new Hasher();
    const k = this.k;
    h.str(k.profile).num(this.applied);
    k.clock.hashInto(h);
    h.big(k.prng.stateValue);
    for (const d of k.deviceList) d.hashInto(h);
    k.mem.hashInto(h);
    k.swiotlb.hashInto(h);
    k.iommu.hashInto(h);
    k.debug.hashInto(h);
    return h.digest();
  }
}
