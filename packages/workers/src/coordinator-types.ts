// The coordinator's interface: what it needs of the model and the log, what it reports (findings,
// per-device counts), and its options. Kept apart from the coordinator's machinery.

import type { Event, FindingKind, Outcome } from '@dmasim/core';
import type { CoordinatorMessage } from './protocol.ts';
import type { ScheduleSpec } from './schedule.ts';

/** What the coordinator needs of the model (Machine satisfies it). */
export interface Model {
  apply(ev: Event): Outcome;
  /** apply(ev) for a caller that holds ev.op and ev.cpu apart from it (Machine.applyAs). */
  applyAs?(ev: Event, op: Event['op'], cpu: number): Outcome;
  stateHash(): string;
  /** The BUG line once a call crashed the simulated kernel (Machine.crashed). */
  readonly crashed?: string | null;
}

/** Where applied events go (the log writer). `thrown` is set when apply threw instead of returning. */
export interface EventSink {
  append(ev: Event, out: Outcome | null, thrown?: unknown): void;
}

export type RunFindingKind = FindingKind | 'program-error' | 'worker-died' | 'worker-timeout' | 'malformed-message' | 'refused' | 'kernel-bug';

export interface RunFinding {
  kind: RunFindingKind;
  /** Device name, or null for the machine as a whole. */
  dev: string | null;
  /** Sequence number of the event that raised it (or of the last event applied before it). */
  seq: number;
  message: string;
}

export type DeviceStatus = 'running' | 'ended' | 'failed' | 'stopped';

export interface DeviceStats {
  name: string;
  status: DeviceStatus;
  /** Events applied for this device. */
  events: number;
  /** Calls dropped because the driver had checked that their buffer's map failed. */
  skipped: number;
  /** Calls that failed (DMA_MAPPING_ERROR, errno, faulting access). */
  errors: number;
  faults: number;
  findings: number;
  /** dma-debug lines ("DMA-API: ...") its calls printed. */
  debugLines: number;
  /** Bugs the program injected, by knob (reported with its end). */
  injected: Record<string, number>;
  message?: string;
}

export interface TestHooks {
  /** Called before each batch is applied; a promise pauses the coordinator (backpressure tests). */
  beforeBatch?: (dev: number, seq: number) => Promise<void> | undefined;
}

export interface CoordinatorOptions {
  model: Model;
  devices: readonly string[];
  schedule: ScheduleSpec;
  /** Expected number of scheduling steps (PCT's k). */
  expectedSteps: number;
  window: number;
  sink?: EventSink;
  /** Called after each applied event (expectations, dmesg collection). */
  onEvent?: (seq: number, dev: number, ev: Event, out: Outcome) => void;
  /** Called when a device's call is dropped (its buffer's failed map was checked): keeps per-device record counts. */
  onSkip?: (dev: number) => void;
  /** Model invariants, checked every `invariantEvery` events: messages of broken ones. */
  checkInvariants?: () => string[];
  invariantEvery?: number;
  /** A device that sends nothing for this long while it could is declared hung. */
  deviceTimeoutMs: number;
  send: (dev: number, msg: CoordinatorMessage, transfer?: ArrayBuffer[]) => void;
  /** Kills a device's task (its thread): for hung devices. */
  abort: (dev: number) => void;
  hooks?: TestHooks;
  /** Lifecycle notes (never per event). */
  note?: (level: 'info' | 'warn', msg: string, extra?: Record<string, unknown>) => void;
  /** Wall clock for the watchdog only (never feeds the model). */
  now?: () => number;
}

export type RunEnd = 'completed' | 'stopped' | 'crashed' | 'invariant';
