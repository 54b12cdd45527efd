// The loaded form of a scenario file: a MachineConfig plus typed steps, expectations and
// programs, each carrying its source location. References stay symbolic until run time.

import type { MachineConfig, Profile } from '../config.ts';
import type { FindingKind, MapOp, Path, Ran, Fault, UnmapOp } from '../events.ts';
import type { Loc } from './errors.ts';
import type { RefExpr } from './values.ts';

/** An address argument: a literal or a reference (`$buf+0x40`), resolved when the step runs. */
export type AddrExpr =
  | { kind: 'lit'; value: bigint; loc: Loc; path: string }
  | { kind: 'ref'; ref: RefExpr; text: string; loc: Loc; path: string };

/** `sg: $name`: the scatterlist a map-sg step bound. */
export interface SgRef { name: string; loc: Loc; path: string; nents?: number }

/** Bytes for a write: given verbatim or as a uniform fill. */
export type WriteData = { data: Uint8Array } | { fill: number };

export type StepArgs =
  | { op: MapOp; phys: AddrExpr; size: number; dir: number; attrs: number }
  | { op: UnmapOp; addr: AddrExpr; size: number; dir: number; attrs: number }
  | { op: 'map-sg'; segments: { phys: AddrExpr; size: number }[]; dir: number; attrs: number }
  | { op: 'unmap-sg'; sg: SgRef; dir: number; attrs: number }
  | { op: 'sync-for-cpu' | 'sync-for-device'; addr: AddrExpr; size: number; dir: number }
  | { op: 'sync-sg-for-cpu' | 'sync-sg-for-device'; sg: SgRef; dir: number }
  | { op: 'alloc-coherent'; size: number; attrs: number }
  | { op: 'free-coherent'; addr: AddrExpr; size: number; attrs: number; phys?: AddrExpr }
  | { op: 'mapping-error'; addr: AddrExpr }
  | { op: 'set-mask'; bits: number }
  | { op: 'max-mapping-size' }
  | { op: 'unbind' }
  | { op: 'dev-read'; addr: AddrExpr; size: number }
  | { op: 'dev-write'; addr: AddrExpr; size: number; write: WriteData }
  | { op: 'cpu-read'; phys: AddrExpr; size: number }
  | { op: 'cpu-write'; phys: AddrExpr; size: number; write: WriteData }
  | { op: 'advance-time'; byNs: number }
  | { op: 'flush-iotlb'; domain: string };

export type StepOp = StepArgs['op'];

/** Expected bytes of a read. */
export type DataExpect = { data: Uint8Array } | { fill: number };

/** `expect:` on a step. Only present keys are checked. */
export interface StepExpect {
  loc: Loc;
  /** Location of each key, for failure reports. */
  keyLocs: Record<string, Loc>;
  error?: boolean;
  addr?: AddrExpr;
  value?: bigint;
  path?: Path;
  trace?: string[];
  dmesg?: string[];
  fault?: Fault;
  findings?: FindingKind[];
  data?: DataExpect;
  /** dmasim addition: CPU physical address of a coherent allocation (outcome.phys). */
  phys?: AddrExpr;
  /** dmasim addition: the call hits a kernel BUG() (e.g. Decision-table row A1). */
  bug?: boolean;
  /** dmasim addition: what ran on the way (the Decision table's S, K, T, D and cache columns). */
  ran?: Partial<Ran>;
}

export interface Step {
  /** 0-based index within its list (top-level steps or a program's steps). */
  index: number;
  /** Key path, e.g. `steps[3]`. */
  path: string;
  loc: Loc;
  /** Acting device; undefined for cpu-read/cpu-write/advance-time/flush-iotlb. */
  dev?: string;
  cpu: number;
  as?: string;
  args: StepArgs;
  expect?: StepExpect;
}

/** Whole-run `expect:`. */
export interface RunExpect {
  loc: Loc;
  keyLocs: Record<string, Loc>;
  errorCount?: number;
  dmesg?: string[];
  findings?: Partial<Record<FindingKind, number>>;
  leaks?: number;
  debugEntries?: number;
}

/** A workload parameter as written; the workload that takes it checks and converts it. */
export interface ProgramParam {
  text: string;
  /** The value as an exact integer, when it reads as one (sizes with units included). */
  int?: bigint;
  bool?: boolean;
  loc: Loc;
  path: string;
}

/** One entry of `programs:` (run by device workers, not by `dmasim run`). */
export type Program =
  | { kind: 'workload'; dev: string; loc: Loc; path: string; workload: string; params: Record<string, ProgramParam> }
  | { kind: 'steps'; dev: string; loc: Loc; path: string; steps: Step[]; repeat: number };

export interface Scenario {
  /** File name as given to the loader (used in every message). */
  file: string;
  /** Format version (`dmasim:`). */
  version: 1;
  name: string;
  description: string;
  /** Profile named by `kernel:` (default 6.18); `config.profile` starts equal to it. */
  kernel: Profile;
  config: MachineConfig;
  steps: Step[];
  programs?: Program[];
  expect?: RunExpect;
  /** Where the machine sections start, for errors the model raises while building the machine. */
  sectionLocs: Partial<Record<'platform' | 'domains' | 'devices', Loc>>;
}
