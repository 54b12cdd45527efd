// Lazy IOTLB invalidation (the flush queue of drivers/iommu/dma-iommu.c): unmapped IOVA ranges wait
// in per-CPU rings until a full IOTLB flush has completed, triggered by a full ring or by the
// per-domain timer. Until then the IOVA stays allocated and the IOTLB may still translate it.

import type { Hasher } from '../util/hash.ts';
import type { IovaDomain } from './iova.ts';

/** IOVA_DEFAULT_FQ_SIZE / IOVA_DEFAULT_FQ_TIMEOUT (per-CPU queues). */
export const IOVA_DEFAULT_FQ_SIZE = 256;
export const IOVA_DEFAULT_FQ_TIMEOUT_NS = 10_000_000;

export interface FqHost {
  /** Names the timer (part of the state hash). */
  readonly name: string;
  readonly iovad: IovaDomain;
  /** ops->flush_iotlb_all */
  flush_iotlb_all(): void;
  /** mod_timer(timer, now + delay): fires `fn` on the virtual clock. */
  mod_timer(key: string, delayNs: number, fn: () => void): void;
}

interface FqEntry {
  iova_pfn: number;
  pages: number;
  /** fq_flush_start_cnt when queued: released once a flush that started later has finished. */
  counter: number;
}

/** struct iova_fq: a ring of `size` slots holding at most size − 1 entries. */
class IovaFq {
  readonly entries: (FqEntry | null)[];
  head = 0;
  tail = 0;
  constructor(readonly size: number) {
    this.entries = new Array<FqEntry | null>(size).fill(null);
  }
  get mod_mask(): number {
    return this.size - 1;
  }
  full(): boolean {
    return ((this.tail + 1) & this.mod_mask) === this.head;
  }
  get length(): number {
    return (this.tail - this.head + this.size) & this.mod_mask;
  }
}

export class FlushQueue {
  fq_flush_start_cnt = 0;
  fq_flush_finish_cnt = 0;
  fq_timer_on = false;
  /**
   * The CPU whose timer base holds the timer (it runs the timeout and its rcache gets the IOVAs).
   * Simplification: the timer fires on the CPU that armed it (timer migration is not modelled).
   */
  timerCpu = 0;
  private readonly percpu: IovaFq[];

  constructor(readonly cfg: { size: number; timeoutNs: number }, cpus: number, private readonly host: FqHost) {
    if (cfg.size < 2 || (cfg.size & (cfg.size - 1)) !== 0) throw new Error(`flush queue size ${cfg.size} is not a power of two ≥ 2`);
    this.percpu = Array.from({ length: cpus }, () => new IovaFq(cfg.size));
  }

  get timerKey(): string {
    return `fq:${this.host.name}`;
  }

  /** Entries waiting for a flush, all CPUs. */
  pending(): number {
    return this.percpu.reduce((n, fq) => n + fq.length, 0);
  }

  /** The queued ranges (pfn, pages), per CPU in ring order. */
  view(): { iova_pfn: number; pages: number; counter: number }[][] {
    return this.percpu.map((fq) => {
      const out: FqEntry[] = [];
      for (let i = fq.head; i !== fq.tail; i = (i + 1) & fq.mod_mask) out.push({ ...fq.entries[i]! });
      return out;
    });
  }

  private fq_flush_iotlb(): void {
    this.fq_flush_start_cnt++;
    this.host.flush_iotlb_all();
    this.fq_flush_finish_cnt++;
  }

  /** Releases, from the head, every entry queued before the last finished flush. */
  private fq_ring_free_locked(fq: IovaFq, cpu: number): void {
    const counter = this.fq_flush_finish_cnt;
    while (fq.head !== fq.tail) {
      const e = fq.entries[fq.head]!;
      if (e.counter >= counter) break;
      this.host.iovad.free_iova_fast(e.iova_pfn, e.pages, cpu);
      fq.entries[fq.head] = null;
      fq.head = (fq.head + 1) & fq.mod_mask;
    }
  }

  private fqOf(cpu: number): IovaFq {
    const fq = this.percpu[cpu];
    if (!fq) throw new Error(`flush queue: cpu ${cpu} out of range`);
    return fq;
  }

  /** queue_iova: defer the release of [pfn, pfn + pages) until after a full IOTLB flush. */
  queue_iova(pfn: number, pages: number, cpu: number): void {
    const fq = this.fqOf(cpu);
    // Entries another CPU's flush already covered go first, making a full ring less likely.
    this.fq_ring_free_locked(fq, cpu);
    if (fq.full()) {
      this.fq_flush_iotlb();
      this.fq_ring_free_locked(fq, cpu);
    }
    const idx = fq.tail;
    fq.tail = (idx + 1) & fq.mod_mask;
    fq.entries[idx] = { iova_pfn: pfn, pages, counter: this.fq_flush_start_cnt };
    if (!this.fq_timer_on) {
      this.fq_timer_on = true;
      this.timerCpu = cpu;
      // Simplification: exactly the configured timeout (the kernel rounds up to whole jiffies).
      this.host.mod_timer(this.timerKey, this.cfg.timeoutNs, () => this.fq_flush_timeout());
    }
  }

  /** fq_flush_timeout: flush the IOTLB, then release what every CPU's ring holds. */
  fq_flush_timeout(): void {
    this.fq_timer_on = false;
    this.fq_flush_iotlb();
    for (const fq of this.percpu) this.fq_ring_free_locked(fq, this.timerCpu);
  }

  hashInto(h: Hasher): void {
    h.num(this.fq_flush_start_cnt).num(this.fq_flush_finish_cnt).bool(this.fq_timer_on).u32(this.timerCpu);
    for (const fq of this.percpu) {
      h.u32(fq.head).u32(fq.tail);
      for (let i = fq.head; i !== fq.tail; i = (i + 1) & fq.mod_mask) {
        const e = fq.entries[i]!;
        h.num(e.iova_pfn).num(e.pages).num(e.counter);
      }
    }
  }
}
