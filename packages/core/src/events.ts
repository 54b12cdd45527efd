// Events: the requests Machine.apply takes (one per scenario step op, worker request or logged
// record), and outcomes: what a request returned plus everything it emitted.
// Addresses are exact 64-bit bigints; sizes are numbers (bytes).

export interface Segment { phys: bigint; size: number }

/** A scatterlist as the driver holds it after dma_map_sg: the input entries and the mapped ones. */
export interface SgList {
  /** The entries passed to dma_map_sg (nents = segments.length). */
  segments: Segment[];
  /** The DMA entries the map produced (sg_dma_address / sg_dma_len), count = the map's return value. */
  dma: { addr: bigint; len: number }[];
}

interface Base { dev: string; cpu: number }

export type MapOp = 'map-single' | 'map-page' | 'map-phys' | 'map-resource';
export type UnmapOp = 'unmap-single' | 'unmap-page' | 'unmap-phys' | 'unmap-resource';

export type Event =
  | (Base & { op: MapOp; phys: bigint; size: number; dir: number; attrs: number })
  | (Base & { op: UnmapOp; addr: bigint; size: number; dir: number; attrs: number })
  | (Base & { op: 'map-sg'; segments: Segment[]; dir: number; attrs: number })
  | (Base & { op: 'unmap-sg'; sg: SgList; dir: number; attrs: number })
  | (Base & { op: 'sync-for-cpu' | 'sync-for-device'; addr: bigint; size: number; dir: number })
  | (Base & { op: 'sync-sg-for-cpu' | 'sync-sg-for-device'; sg: SgList; dir: number })
  | (Base & { op: 'alloc-coherent'; size: number; attrs: number })
  | (Base & { op: 'free-coherent'; addr: bigint; size: number; attrs: number; cpuAddr: bigint })
  | (Base & { op: 'mapping-error'; addr: bigint })
  | (Base & { op: 'set-mask'; bits: number })
  | (Base & { op: 'max-mapping-size' })
  | (Base & { op: 'unbind' })
  | (Base & { op: 'dev-read'; addr: bigint; size: number })
  | (Base & { op: 'dev-write'; addr: bigint; size: number; data?: Uint8Array; fill?: number })
  | { op: 'cpu-read'; cpu: number; phys: bigint; size: number }
  | { op: 'cpu-write'; cpu: number; phys: bigint; size: number; data?: Uint8Array; fill?: number }
  | { op: 'advance-time'; cpu: number; byNs: number }
  | { op: 'flush-iotlb'; cpu: number; domain: string };

export type EventOp = Event['op'];

/** The backend that handled a call. */
export type Path = 'direct' | 'swiotlb' | 'iommu' | 'iommu-swiotlb' | 'ops' | 'none';

/** Device-access fault classes. */
export type Fault = 'none' | 'unmapped' | 'permission' | 'stale-iotlb';

export type FindingKind =
  | 'unmapped-access'
  | 'direction-violation'
  | 'stale-iotlb'
  | 'cpu-owned-violation'
  | 'double-free'
  | 'invariant';

export const FINDING_KINDS: readonly FindingKind[] = [
  'unmapped-access',
  'direction-violation',
  'stale-iotlb',
  'cpu-owned-violation',
  'double-free',
  'invariant',
];

export interface Finding { kind: FindingKind; message: string }

/** One trace event: `system` is the TRACE_SYSTEM, `line()` of it is "<name>: <text>". */
export interface TraceRec { system: 'dma' | 'swiotlb' | 'iommu'; name: string; text: string }

export function traceLine(t: TraceRec): string {
  return `${t.name}: ${t.text}`;
}

/** What ran on the way (for tests that assert the Decision table's S/K/T/D/cache columns). */
export interface Ran {
  swiotlb: boolean;
  kmsan: boolean;
  trace: boolean;
  /** a dma-debug entry was recorded by this call */
  debug: boolean;
  /** arch cache maintenance (arch_sync_dma_for_device / _for_cpu) */
  cache: boolean;
}

export interface Outcome {
  /** Returned value: DMA address for maps, count or errno for others, 0n for void calls. */
  result: bigint;
  /** The call failed: DMA_MAPPING_ERROR, 0 sg entries, a non-zero errno, or a faulting access. */
  error: boolean;
  path: Path;
  trace: TraceRec[];
  dmesg: string[];
  findings: Finding[];
  // The optional fields may hold undefined: Machine.apply's outcomes carry all four from the start
  // (one object shape for every outcome, which keeps the digest and the checks monomorphic).
  /** For device accesses. */
  fault?: Fault | undefined;
  /** For reads: the bytes read. */
  data?: Uint8Array | undefined;
  /** For alloc-coherent: the CPU physical address of the buffer. */
  phys?: bigint | undefined;
  /** For map-sg: the mapped list, to be passed back to unmap-sg / sync-sg. */
  sg?: SgList | undefined;
  ran: Ran;
  /** Virtual time (ns) at which the call ran. */
  timeNs: number;
}

export function emptyOutcome(timeNs: number): Outcome {
  return {
    result: 0n,
    error: false,
    path: 'none',
    trace: [],
    dmesg: [],
    findings: [],
    fault: undefined,
    data: undefined,
    phys: undefined,
    sg: undefined,
    ran: { swiotlb: false, kmsan: false, trace: false, debug: false, cache: false },
    timeNs,
  };
}

/**
 * Resets an outcome to emptyOutcome(timeNs)'s values in place, keeping its arrays (emptied) and its
 * `ran` object: what Machine.apply does under `recycleOutcomes`, instead of allocating five objects.
 */
export function resetOutcome(o: Outcome, timeNs: number): Outcome {
  o.result = 0n;
  o.error = false;
  o.path = 'none';
  // Emptied by pop(), not `length = 0`: that drops the backing store, and the next push made a new
  // one for almost every event (BENCHMARKS.md, twelfth round).
  while (o.trace.length !== 0) o.trace.pop();
  while (o.dmesg.length !== 0) o.dmesg.pop();
  while (o.findings.length !== 0) o.findings.pop();
  o.fault = undefined;
  o.data = undefined;
  o.phys = undefined;
  o.sg = undefined;
  const r = o.ran;
  r.swiotlb = false;
  r.kmsan = false;
  r.trace = false;
  r.debug = false;
  r.cache = false;
  o.timeNs = timeNs;
  return o;
}
