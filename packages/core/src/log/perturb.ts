// Test-only: a deliberately changed model, to prove replay catches a divergence at the right event
// and field. Exported through `@dmasim/core/testing`, never through the public index.

import type { MachineConfig } from '../config.ts';
import type { Event, Outcome } from '../events.ts';
import { Machine } from '../machine.ts';

/** How event `atSeq` is changed: its result, error flag, path or trace; or, silently, the state. */
export type Perturbation = 'result' | 'error' | 'path' | 'trace' | 'state';

export class PerturbedMachine extends Machine {
  constructor(config: MachineConfig, readonly atSeq: number, readonly how: Perturbation) {
    super(config);
  }

  /** Both ways in (apply and the replay's applyAs) come through here. */
  override applyAs(ev: Event, op: Event['op'], cpu: number): Outcome {
    const out = super.applyAs(ev, op, cpu);
    if (this.eventCount !== this.atSeq) return out;
    switch (this.how) {
      case 'result': out.result ^= 0x1000n; break;
      case 'error': out.error = !out.error; break;
      case 'path': out.path = out.path === 'swiotlb' ? 'direct' : 'swiotlb'; break;
      case 'trace': out.trace.push({ system: 'dma', name: 'perturbed', text: 'not from the kernel' }); break;
      // One extra draw from the machine PRNG: the state hash covers its position; no outcome shows it
      // (until the model draws from it again).
      case 'state': this.k.prng.nextU64(); break;
    }
    return out;
  }
}

/** A `machine` factory for replay(): the model changed at event `atSeq`. */
export function perturbedMachine(atSeq: number, how: Perturbation): (config: MachineConfig) => Machine {
  return (config) => new PerturbedMachine(config, atSeq, how);
}
