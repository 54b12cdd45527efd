// Schedulers: which device's next pending call the coordinator applies. `free` takes batches in
// arrival order (the log records the interleaving); `random` and `pct` decide from a seeded PRNG
// over the devices whose programs have not ended, so the order is a function of the seed alone.

import { Prng } from '@dmasim/core';

export type ScheduleSpec =
  | { mode: 'free' }
  | { mode: 'random'; seed: bigint }
  /** Burckhardt, Kothari, Musuvathi, Nagarakatte: "A Randomized Scheduler with Probabilistic Guarantees of Finding Bugs" (ASPLOS 2010). */
  | { mode: 'pct'; seed: bigint; depth: number };

/** A seeded scheduler: picks among the devices still running; `stepped` is told what ran. */
export interface SeededScheduler {
  /** Picks the device to run next among `active` (device indices, ascending). */
  pick(active: readonly number[]): number;
  /** The picked device consumed one record (the PCT step counter advances). */
  stepped(dev: number): void;
}

export class RandomScheduler implements SeededScheduler {
  private readonly prng: Prng;
  constructor(seed: bigint) {
    this.prng = new Prng(seed).fork('schedule:random');
  }
  pick(active: readonly number[]): number {
    return active[this.prng.int(active.length)]!;
  }
  stepped(): void {}
}

/**
 * PCT: devices get distinct random initial priorities d .. d+n-1; d-1 change points are drawn
 * uniformly from the first k steps; the highest-priority running device always runs, and when it
 * executes the i-th change point its priority drops to i (below every initial priority).
 * k is the expected number of steps (the programs' op budgets); a bug of depth d is found with
 * probability at least 1/(n k^(d-1)).
 */
export class PctScheduler implements SeededScheduler {
  private readonly prio: number[];
  /** step number → change-point index (1-based). */
  private readonly changeAt = new Map<number, number>();
  private step = 0;

  constructor(seed: bigint, devices: number, depth: number, expectedSteps: number) {
    const prng = new Prng(seed).fork('schedule:pct');
    const order = Array.from({ length: devices }, (_, i) => i);
    for (let i = devices - 1; i > 0; i--) {
      const j = prng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    this.prio = new Array<number>(devices);
    order.forEach((dev, rank) => (this.prio[dev] = depth + rank));
    const k = Math.max(1, expectedSteps);
    for (let i = 1; i < depth && this.changeAt.size < Math.min(depth - 1, k); ) {
      const s = 1 + prng.int(k);
      if (this.changeAt.has(s)) continue;
      this.changeAt.set(s, i++);
    }
  }

  pick(active: readonly number[]): number {
    let best = active[0]!;
    for (const d of active) if (this.prio[d]! > this.prio[best]!) best = d;
    return best;
  }

  stepped(dev: number): void {
    const i = this.changeAt.get(++this.step);
    if (i !== undefined) this.prio[dev] = i;
  }

  /** Change points as [step, new priority] (for the log header and tests). */
  get changePoints(): [number, number][] {
    return [...this.changeAt.entries()].sort((a, b) => a[0] - b[0]);
  }
}

export function makeScheduler(s: ScheduleSpec, devices: number, expectedSteps: number): SeededScheduler | null {
  if (s.mode === 'free') return null;
  if (s.mode === 'random') return new RandomScheduler(s.seed);
  return new PctScheduler(s.seed, devices, s.depth, expectedSteps);
}

export function describeSchedule(s: ScheduleSpec): string {
  if (s.mode === 'free') return '--schedule free';
  if (s.mode === 'random') return `--schedule random --seed ${s.seed}`;
  return `--schedule pct --seed ${s.seed} --depth ${s.depth}`;
}
