// What every workload gets: the device it drives, its seeded PRNG, its private RAM window, the
// bug knobs, its handle lane, and a buffer allocator; and the Workload shape the registry lists.

import type { MmioRegion, Prng } from '@dmasim/core';
import type { DeviceDriver, DmaIssuer } from '../driver.ts';
import { BUG_KNOBS, BUG_PREFIX, type BugKnob, type ParamSpec, type Resolved } from './params.ts';

/** What a device program knows about its device (from the machine configuration). */
export interface DeviceInfo {
  name: string;
  index: number;
  dma: 'direct' | 'iommu' | 'ops';
  domain?: string;
  mapResource: boolean;
  coherent: boolean;
  mask: number | null;
}

/**
 * Which device-local handles a program may bind: `index`, `index + count`, `index + 2·count`, ...
 * A lone program has lane { index: 0, count: 1 } (every handle); the queues of a multi-queue
 * program split the device's handles between them. Allocate with `new Handles(ctx.lane)`.
 */
export interface Lane { index: number; count: number }

export interface WorkloadContext {
  drv: DmaIssuer;
  dev: DeviceInfo;
  prng: Prng;
  p: Resolved;
  bugs: Bugs;
  /** RAM window this program's buffers live in (the driver's own allocations). */
  region: { base: bigint; size: bigint };
  /** The device-local handles this program binds (its own lane when it is one queue of several). */
  lane: Lane;
  cpus: number;
  pageSize: number;
  mmio: MmioRegion[];
  /** True while the op budget is not used up. */
  more(): boolean;
}

/** What a program module's `run(ctx)` gets: the workload context with the device's driver itself. */
export interface ModuleContext extends WorkloadContext {
  drv: DeviceDriver;
}

export interface Workload {
  name: string;
  summary: string;
  params: readonly ParamSpec[];
  bugs: readonly BugKnob[];
  /** Checks of resolved parameters beyond each one's kind and range (throws ParamError); run before any thread starts. */
  check?(where: string, p: Resolved): void;
  run(ctx: WorkloadContext): Promise<void>;
}

/** Seeded bug injection; counts what it injected (reported with the program's end). */
export class Bugs {
  readonly injected: Partial<Record<BugKnob, number>> = {};
  private readonly rates: Partial<Record<BugKnob, number>> = {};

  constructor(private readonly prng: Prng, p: Resolved, knobs: readonly BugKnob[]) {
    for (const k of knobs) {
      const r = p[BUG_PREFIX + k];
      if (typeof r === 'number' && r > 0) this.rates[k] = r;
    }
  }

  /** Does the driver get it wrong this time? One draw per decision, only for enabled knobs. */
  fire(k: BugKnob): boolean {
    const r = this.rates[k];
    if (r === undefined) return false;
    if (this.prng.next() >= r) return false;
    this.injected[k] = (this.injected[k] ?? 0) + 1;
    return true;
  }

  get any(): boolean {
    return Object.keys(this.rates).length > 0;
  }
}

/**
 * Fixed-size buffers carved out of the device's RAM window, reused LIFO like a driver's page
 * pool; a leaked buffer stays taken for good.
 */
export class SlotPool {
  /** Slots given back, the last on top; below them, implicitly, slots fresh..slots-1 never taken. */
  private readonly freeSlots: number[] = [];
  private fresh = 0;
  readonly slots: number;

  /**
   * The pool hands out slots 0, 1, 2, ... in order until one is given back, and a given-back slot
   * first (LIFO). It used to push all `slots` (up to 2^20) onto the free stack here, in every
   * program at start-up; the never-taken ones are now a counter (the same order of slots).
   */
  constructor(readonly base: bigint, regionSize: bigint, readonly stride: number) {
    this.slots = Math.max(0, Math.min(1 << 20, Number(regionSize / BigInt(stride))));
  }

  get available(): number {
    return this.freeSlots.length + (this.slots - this.fresh);
  }

  take(): number | undefined {
    const s = this.freeSlots.pop();
    if (s !== undefined) return s;
    return this.fresh < this.slots ? this.fresh++ : undefined;
  }

  give(slot: number): void {
    this.freeSlots.push(slot);
  }

  phys(slot: number, offset = 0): bigint {
    return this.base + BigInt(slot * this.stride + offset);
  }
}

/** A handle allocator: device-local buffer ids in the program's lane, reused once released. */
export class Handles {
  private next: number;
  private readonly step: number;
  private readonly freeIds: number[] = [];
  constructor(lane: Lane = { index: 0, count: 1 }) {
    this.next = lane.index;
    this.step = lane.count;
  }
  take(): number {
    const h = this.freeIds.pop();
    if (h !== undefined) return h;
    const n = this.next;
    this.next += this.step;
    return n;
  }
  give(h: number): void {
    this.freeIds.push(h);
  }
}

export function roundUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export function between(prng: Prng, lo: number, hi: number): number {
  return lo + prng.int(hi - lo + 1);
}

/** The direction a buggy unmap passes instead of `dir`. */
export function otherDir(dir: number): number {
  return dir === 1 ? 2 : 1;
}

export const ALL_BUGS = Object.keys(BUG_KNOBS) as BugKnob[];
