// A bare reducer with the Model shape: maps are Map inserts, unmaps deletes; addresses are the
// physical ones. For transport measurements and coordinator tests that must not depend on the
// DMA model; it models no kernel behaviour at all.

import { emptyOutcome, Hasher, type Event, type Outcome } from '@dmasim/core';
import type { Model } from '../coordinator.ts';

const ERR = (1n << 64n) - 1n;

export class MapModel implements Model {
  readonly live = new Map<bigint, number>();
  private n = 0;
  private nextCoherent = 0x1_0000_0000n;
  /** Test knob: map calls whose phys has this bit set fail (DMA_MAPPING_ERROR). */
  failBit = 0n;

  apply(ev: Event): Outcome {
    const out = emptyOutcome(++this.n);
    switch (ev.op) {
      case 'map-single': case 'map-page': case 'map-phys': case 'map-resource':
        if (this.failBit !== 0n && (ev.phys & this.failBit) !== 0n) {
          out.result = ERR;
          out.error = true;
        } else {
          out.result = ev.phys;
          this.live.set(ev.phys, ev.size);
        }
        break;
      case 'unmap-single': case 'unmap-page': case 'unmap-phys': case 'unmap-resource':
        if (!this.live.delete(ev.addr)) out.findings.push({ kind: 'double-free', message: `unmap of 0x${ev.addr.toString(16)}: not mapped` });
        break;
      case 'map-sg':
        out.sg = { segments: ev.segments, dma: ev.segments.map((s) => ({ addr: s.phys, len: s.size })) };
        out.result = BigInt(ev.segments.length);
        for (const s of ev.segments) this.live.set(s.phys, s.size);
        break;
      case 'unmap-sg':
        for (const s of ev.sg.segments) this.live.delete(s.phys);
        break;
      case 'alloc-coherent':
        out.result = this.nextCoherent;
        out.phys = this.nextCoherent;
        this.live.set(this.nextCoherent, ev.size);
        this.nextCoherent += BigInt(ev.size + 4095) & ~4095n;
        break;
      case 'free-coherent':
        this.live.delete(ev.addr);
        break;
      case 'mapping-error':
        out.result = ev.addr === ERR ? -12n : 0n;
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
    const h = new Hasher().num(this.n).num(this.live.size);
    for (const [k, v] of [...this.live].sort((a, b) => (a[0] < b[0] ? -1 : 1))) h.big(k).num(v);
    return h.digest();
  }
}
