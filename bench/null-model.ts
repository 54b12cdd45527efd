// The "no model" of the transport ceiling: answers every call in constant time without any DMA
// logic (maps return the physical address, scatterlists map 1:1), so a run through the bus and
// the coordinator measures transport, encoding and handle resolution only. Not a simulator.

import { DMA_MAPPING_ERROR, emptyOutcome, type Event, type Outcome } from '../packages/core/src/index.ts';
import type { Model } from '../packages/workers/src/index.ts';

export class NullModel implements Model {
  private n = 0;
  private nextCoherent = 0x1_0000_0000n;

  apply(ev: Event): Outcome {
    const out = emptyOutcome(++this.n);
    switch (ev.op) {
      case 'map-single': case 'map-page': case 'map-phys': case 'map-resource':
        out.result = ev.phys;
        break;
      case 'map-sg':
        out.sg = { segments: ev.segments, dma: ev.segments.map((s) => ({ addr: s.phys, len: s.size })) };
        out.result = BigInt(ev.segments.length);
        break;
      case 'alloc-coherent':
        out.result = this.nextCoherent;
        out.phys = this.nextCoherent;
        this.nextCoherent += 1n << 20n;
        break;
      case 'mapping-error':
        out.result = ev.addr === DMA_MAPPING_ERROR ? -12n : 0n;
        break;
      case 'max-mapping-size':
        out.result = 1n << 20n;
        break;
      case 'dev-read': case 'dev-write':
        out.fault = 'none';
        break;
      default:
        break;
    }
    return out;
  }

  stateHash(): string {
    return this.n.toString(16).padStart(16, '0');
  }
}
