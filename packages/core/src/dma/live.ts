// The model's own record of every live streaming mapping and coherent allocation, on every path
// (direct, swiotlb, iommu, ops), per device: what device and CPU accesses are checked against,
// who currently owns each streaming buffer, and what `leaks` counts. Not dma-debug's bookkeeping.

import type { Path, SgList } from '../events.ts';
import type { Hasher } from '../util/hash.ts';
import { exactKey, exactNum, exactRange } from '../util/exact.ts';
import { doubled, removeAt } from '../util/array.ts';
import { ExactKeyMap, NumMap } from '../util/num-map.ts';

export type LiveKind = 'single' | 'sg' | 'coherent';
/** Streaming buffers belong to the device from map (or sync-for-device) until sync-for-cpu or unmap. */
export type Owner = 'device' | 'cpu' | 'shared';

/** A range of bus (DMA) or CPU physical addresses. */
export interface Span { start: bigint; len: number }

export interface LiveMapping {
  readonly id: number;
  readonly dev: number;
  readonly devName: string;
  readonly kind: LiveKind;
  /** The handle the driver holds: the DMA address (first mapped entry for sg). */
  readonly addr: bigint;
  readonly size: number;
  /** CPU physical address of the original buffer (first element for sg). */
  readonly phys: bigint;
  readonly dir: number;
  readonly path: Path;
  readonly mmio: boolean;
  /** Bus ranges the device may touch (the mapped entries). */
  readonly bus: readonly Span[];
  /** CPU ranges of the original buffer (the input elements for sg). */
  readonly cpu: readonly Span[];
  /** For sg: the element count passed to dma_map_sg. */
  readonly nents: number;
  owner: Owner;
  /** Scratch for SpanIndex queries (the query that last collected it); not part of the state. */
  seen: number;
  /** The mapping's first node in the bus / CPU SpanIndex, or WIDE (not state). */
  busNode: number;
  cpuNode: number;
  /**
   * [start, end) of each bus / CPU span as numbers, flattened, computed once (not state); null
   * when some end lies beyond 2^53 and is not exact as a number. Device and CPU accesses test
   * overlap on these instead of on bigints, which allocate at every step.
   */
  readonly busR: number[] | null;
  readonly cpuR: number[] | null;
}

/**
 * The record LiveMappings keeps. A single or coherent mapping has one bus and one CPU span, which
 * are made as objects only when something reads `bus` / `cpu` (the bigint paths, hashing): a map
 * then allocates the record and its numeric ranges and nothing else — the spans, their arrays and
 * the granule bounds were six more objects per map, four of them alive until the unmap
 * (BENCHMARKS.md, eleventh round).
 */
class Live implements LiveMapping {
  seen = 0;
  busNode = 0;
  cpuNode = 0;
  /** Between add() and remove() (not state: for LiveMappings.coveringBus's cached mapping). */
  alive = false;
  /** The previous and next live mapping by id (LiveMappings keeps them in one list; not state). */
  older: Live | null = null;
  newer: Live | null = null;
  constructor(
    public id: number,
    public dev: number,
    public devName: string,
    public kind: LiveKind,
    public addr: bigint,
    public size: number,
    public phys: bigint,
    public dir: number,
    public path: Path,
    public mmio: boolean,
    public nents: number,
    public owner: Owner,
    public busR: number[] | null,
    public cpuR: number[] | null,
    /** The spans of an sg mapping; null for one span each ([addr, +size) and [phys, +size)). */
    private busS: readonly Span[] | null,
    private cpuS: readonly Span[] | null,
  ) {}

  /**
   * Refills a freed single or coherent mapping whose ranges were exact, with new ones that are
   * (LiveMappings.addSingle): the record and its two range arrays are reused.
   */
  refill(id: number, dev: number, devName: string, kind: LiveKind, addr: bigint, size: number, phys: bigint, dir: number, path: Path, mmio: boolean, owner: Owner, busStart: number, cpuStart: number): void {
    this.id = id;
    this.dev = dev;
    this.devName = devName;
    this.kind = kind;
    this.addr = addr;
    this.size = size;
    this.phys = phys;
    this.dir = dir;
    this.path = path;
    this.mmio = mmio;
    this.owner = owner;
    const br = this.busR!;
    br[0] = busStart;
    br[1] = busStart + size;
    const cr = this.cpuR!;
    cr[0] = cpuStart;
    cr[1] = cpuStart + size;
    this.seen = 0;
  }

  /** Made anew at each read for a single mapping (the bigint paths only), and not kept. */
  get bus(): readonly Span[] {
    return this.busS ?? [{ start: this.addr, len: this.size }];
  }

  get cpu(): readonly Span[] {
    return this.cpuS ?? [{ start: this.phys, len: this.size }];
  }

  /**
   * Folds the mapping as LiveMappings.hashInto defines it: its fields, then the bus then the CPU
   * spans (count, then start and length of each), without making the spans. Addresses held as
   * exact numbers (busR / cpuR) are folded with num(), the same words big() gives their bigints,
   * and not read back through a BigInt.
   */
  hashInto(h: Hasher): void {
    const br = this.busR;
    const cr = this.cpuR;
    h.u32(this.id).u32(this.dev).str(this.kind);
    // busR[0] / cpuR[0] are the first bus / CPU span's start: addr and phys (see addSingle, addSg).
    if (br !== null && br.length > 0) h.num(br[0]!);
    else h.big(this.addr);
    h.num(this.size);
    if (cr !== null && cr.length > 0) h.num(cr[0]!);
    else h.big(this.phys);
    h.u32(this.dir).str(this.path).bool(this.mmio).str(this.owner).u32(this.nents);
    hashSpanList(h, this.busS, br, this.addr, this.size);
    hashSpanList(h, this.cpuS, cr, this.phys, this.size);
  }
}

/**
 * The spans `list`, or the one span [start, start + len) when list is null, as LiveMappings.hashInto
 * folds them; `r` their numericRanges() or null (from it, [start, end) pairs: len = end - start).
 */
function hashSpanList(h: Hasher, list: readonly Span[] | null, r: readonly number[] | null, start: bigint, len: number): void {
  if (list === null) {
    h.u32(1);
    if (r !== null) h.num(r[0]!);
    else h.big(start);
    h.num(len);
    return;
  }
  h.u32(list.length);
  if (r !== null) {
    for (let i = 0; i < r.length; i += 2) h.num(r[i]!).num(r[i + 1]! - r[i]!);
    return;
  }
  for (const s of list) h.big(s.start).num(s.len);
}

/** Is [n, n + len) exact as numbers? (n from exactNum: -1 when the start is not.) */
function exactSpan(n: number, len: number): boolean {
  return n >= 0 && n + len <= Number.MAX_SAFE_INTEGER;
}

/** Would numericRange() give both ranges of a single mapping (its bus and CPU span exact)? */
function exactSingle(addr: bigint, phys: bigint, size: number): boolean {
  return exactSpan(exactNum(addr), size) && exactSpan(exactNum(phys), size);
}

/** numericRanges() of the one span [start, start + len): [start, end] or null. */
function numericRange(start: bigint, len: number): number[] | null {
  const n = exactNum(start);
  return exactSpan(n, len) ? [n, n + len] : null;
}

/** [start, end) of each span as numbers, flattened; null unless every end is exact (util/exact.ts). */
function numericRanges(spans: readonly Span[]): number[] | null {
  const out = new Array<number>(spans.length * 2);
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i]!;
    const start = exactNum(s.start);
    const end = start + s.len;
    if (start < 0 || end > Number.MAX_SAFE_INTEGER) return null;
    out[2 * i] = start;
    out[2 * i + 1] = end;
  }
  return out;
}

/** The array granuleBoundsN() fills (valid until its next call: SpanIndex.add reads it at once). */
const boundsScratch: number[] = [];

/** granuleBounds() of spans given as numericRanges() (the same bounds, without bigint shifts), in boundsScratch. */
function granuleBoundsN(r: readonly number[]): number[] {
  const out = boundsScratch;
  out.length = r.length;
  for (let i = 0; i < r.length; i += 2) {
    const start = r[i]!;
    out[i] = Math.floor(start / GRANULE);
    out[i + 1] = Math.floor((Math.max(r[i + 1]!, start + 1) - 1) / GRANULE); // a zero-length span counts as the point at its start
  }
  return out;
}

/** Does one of the flattened [start, end) ranges `r` (null: not exact) hold all of [start, end)? */
function holds(r: readonly number[] | null, start: number, end: number): boolean {
  if (r === null) return false;
  for (let i = 0; i < r.length; i += 2) if (r[i]! <= start && end <= r[i + 1]!) return true;
  return false;
}

/** Does any of the flattened [start, end) ranges `r` overlap [start, end)? (For a point p: overlapsN(r, p, p + 1).) */
export function overlapsN(r: readonly number[], start: number, end: number): boolean {
  for (let i = 0; i < r.length; i += 2) if (r[i]! < end && r[i + 1]! > start) return true;
  return false;
}

/** [first granule, last granule] of each span, flattened. */
function granuleBounds(spans: readonly Span[]): number[] {
  const out = new Array<number>(spans.length * 2);
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i]!;
    out[2 * i] = firstGranule(s.start);
    out[2 * i + 1] = lastGranule(s.start, s.len);
  }
  return out;
}

/**
 * Mappings by the 16 KiB granules their spans touch, so an access finds its candidates without
 * walking every live mapping (a speed structure only: queries filter and order exactly as a full
 * walk would). Spans over MAX_GRANULES granules (over 1 MiB: BARs, large coherent buffers) sit in
 * `wide`, which every query walks. 4, 16 and 64 KiB measured alike on the bench mixes
 * (BENCHMARKS.md, fifth round); 16 KiB keeps a typical buffer to one or two granules without
 * making a query over densely packed small buffers walk many candidates.
 *
 * Each granule holds an intrusive doubly linked list of nodes kept in typed arrays (one node per
 * mapping and granule), and a mapping's nodes are chained to each other, so adding a mapping
 * makes no array per granule and removing one unlinks its nodes without searching any list (BENCHMARKS.md, eighth round: it replaced a Map of per-granule arrays, which made an
 * array per new granule and searched it with indexOf on every removal).
 */
const GRANULE_SHIFT = 14n;
const GRANULE = 16384;
const MAX_GRANULES = 64;
/** LiveMapping.busNode / cpuNode of a mapping kept in `wide`. */
const WIDE = -1;
/** SpanIndex's per-node numbers: where each sits among a node's NODE_FIELDS (32 bytes: two nodes to a cache line). */
const N_NEXT = 0;
const N_PREV = 1;
const N_LO = 2;
const N_HI = 3;
const NODE_SHIFT = 2;
const NODE_FIELDS = 1 << NODE_SHIFT;

class SpanIndex {
  /** Granule → its list's first node (0 is the null node; a granule with no nodes has no key). */
  private readonly heads = new NumMap<number>();
  /**
   * The nodes, side by side: a node is named by where its NODE_FIELDS numbers start here (its
   * index × NODE_FIELDS; 0 is the null node): the next and the previous node in its granule's
   * list, then the least start and the greatest end of the mapping's spans that touch the node's
   * granule (-Infinity and Infinity when they are not exact as numbers). A query on numbers tests
   * the range before it touches the mapping: the walk then reads the mappings that can overlap and
   * not every one in the granule, whose objects are rarely in cache (BENCHMARKS.md, ninth round). A
   * query walks ~5 nodes of a device's granule to find ~1 that overlaps: in four arrays, each node
   * it passed over was three cache lines (next, lo, hi); side by side, one (BENCHMARKS.md,
   * sixteenth round).
   */
  private nd = new Float64Array(256 * NODE_FIELDS);
  /** Per node (by index, its name >> NODE_SHIFT): the next node of the same mapping (0 at its last), or the next free node. */
  private chain = new Int32Array(256);
  /** Per node (by index): its granule. */
  private gran = new Float64Array(256);
  private owner: (LiveMapping | null)[] = [null];
  /** Nodes ever used (the null node included), and the first free one (0: none). */
  private used = 1;
  private free = 0;
  private readonly wide: LiveMapping[] = [];

  /**
   * Indexes m under the granules in `bounds` (granuleBounds() of its spans, flattened first/last
   * pairs) and returns its first node, or WIDE. `ranges`: the spans as numericRanges() gives them
   * (pair for pair with `bounds`), or null when they are not exact. A granule is linked once per
   * mapping: while a mapping is being added, its node is the head of every granule it has touched.
   */
  add(m: LiveMapping, bounds: readonly number[], ranges: readonly number[] | null): number {
    for (let i = 0; i < bounds.length; i += 2) {
      if (bounds[i + 1]! - bounds[i]! + 1 > MAX_GRANULES) {
        this.wide.push(m);
        return WIDE;
      }
    }
    let first = 0;
    let last = 0;
    for (let i = 0; i < bounds.length; i += 2) {
      const end = bounds[i + 1]!;
      const sLo = ranges ? ranges[i]! : -Infinity;
      const sHi = ranges ? ranges[i + 1]! : Infinity;
      for (let g = bounds[i]!; g <= end; g++) {
        const head = this.heads.get(g) ?? 0;
        if (head !== 0 && this.owner[head >> NODE_SHIFT] === m) {
          const nd = this.nd;
          if (sLo < nd[head + N_LO]!) nd[head + N_LO] = sLo;
          if (sHi > nd[head + N_HI]!) nd[head + N_HI] = sHi;
          continue;
        }
        const x = this.alloc();
        const nd = this.nd; // after alloc(), which may grow it
        nd[x + N_LO] = sLo;
        nd[x + N_HI] = sHi;
        nd[x + N_NEXT] = head;
        nd[x + N_PREV] = 0;
        if (head !== 0) nd[head + N_PREV] = x;
        this.heads.set(g, x);
        const slot = x >> NODE_SHIFT; // (not `i`: the enclosing loop's index over bounds)
        this.gran[slot] = g;
        this.owner[slot] = m;
        this.chain[slot] = 0;
        if (last === 0) first = x;
        else this.chain[last >> NODE_SHIFT] = x;
        last = x;
      }
    }
    return first;
  }

  /** Unlinks m, whose add() returned `first`. */
  remove(m: LiveMapping, first: number): void {
    if (first === WIDE) {
      removeAt(this.wide, this.wide.indexOf(m));
      return;
    }
    const nd = this.nd;
    for (let x = first; x !== 0;) {
      const n = nd[x + N_NEXT]!;
      const p = nd[x + N_PREV]!;
      const slot = x >> NODE_SHIFT;
      if (p !== 0) nd[p + N_NEXT] = n;
      else if (n !== 0) this.heads.set(this.gran[slot]!, n);
      else this.heads.delete(this.gran[slot]!);
      if (n !== 0) nd[n + N_PREV] = p;
      const after = this.chain[slot]!;
      this.owner[slot] = null;
      this.chain[slot] = this.free;
      this.free = x;
      x = after;
    }
  }

  /** Nodes the pool holds, in use or free (for tests: removing mappings returns their nodes). */
  get poolSize(): number {
    return this.used - 1;
  }

  /** A free node's name (see nd). */
  private alloc(): number {
    const f = this.free;
    if (f !== 0) {
      this.free = this.chain[f >> NODE_SHIFT]!;
      return f;
    }
    if (this.used === this.chain.length) {
      this.nd = doubled(this.nd);
      this.chain = doubled(this.chain);
      this.gran = doubled(this.gran);
    }
    this.owner.push(null);
    return this.used++ << NODE_SHIFT;
  }

  /**
   * The mappings whose `bus` (or `cpu`) spans overlap [start, end), sorted by id; null when the
   * range is too wide to look up granule by granule. Each mapping is taken once (a query stamp
   * instead of a search of the result).
   */
  query(start: bigint, end: bigint, bus: boolean): LiveMapping[] | null {
    return this.collect(firstGranule(start), Number((end - 1n) >> GRANULE_SHIFT), bus, 0, 0, start, end);
  }

  /** query() for a range whose start and end are exact as numbers (the same mappings, in the same order). */
  queryN(start: number, end: number, bus: boolean): LiveMapping[] | null {
    return this.collect(Math.floor(start / GRANULE), Math.floor((end - 1) / GRANULE), bus, start, end, null, null);
  }

  /**
   * The walk of both: the range as bigints when startB is given, else as the numbers startN/endN.
   * (No closure for the test: tsx keeps function names, which costs a defineProperty per closure made.)
   */
  private collect(first: number, last: number, bus: boolean, startN: number, endN: number, startB: bigint | null, endB: bigint | null): LiveMapping[] | null {
    if (last - first > 4 * MAX_GRANULES) return null;
    const q = ++queryStamp;
    const out = queryOut;
    let n = 0;
    for (let i = 0; i < this.wide.length; i++) {
      const m = this.wide[i]!;
      m.seen = q;
      if (startB !== null ? overlaps(bus ? m.bus : m.cpu, startB, endB!) : overlapsEither(m, bus, startN, endN)) {
        out[n++] = m; // overwrites, or appends at n === out.length
      }
    }
    const nd = this.nd;
    const owner = this.owner;
    for (let g = first; g <= last; g++) {
      for (let x = this.heads.get(g) ?? 0; x !== 0; x = nd[x + N_NEXT]!) {
        if (startB === null && (nd[x + N_LO]! >= endN || nd[x + N_HI]! <= startN)) continue; // no span of it here can overlap
        const m = owner[x >> NODE_SHIFT]!;
        if (m.seen === q) continue;
        m.seen = q;
        if (startB !== null ? overlaps(bus ? m.bus : m.cpu, startB, endB!) : overlapsEither(m, bus, startN, endN)) {
          out[n++] = m;
        }
      }
    }
    if (n === 0) return NO_MAPPINGS;
    if (out.length !== n) out.length = n;
    if (n > 1) sortById(out);
    return out;
  }
}

/** Overlap of a mapping's bus or CPU spans with [start, end): on numbers when its spans are exact. */
function overlapsEither(m: LiveMapping, bus: boolean, start: number, end: number): boolean {
  const r = bus ? m.busR : m.cpuR;
  if (r) return overlapsN(r, start, end);
  return overlaps(bus ? m.bus : m.cpu, BigInt(start), BigInt(end));
}

let queryStamp = 0;
/**
 * The array every index query fills and returns (valid until the next query: each caller walks it
 * at once). An array per query was ~100 bytes of garbage for every device access and sync. It is
 * never emptied: a query that finds nothing returns NO_MAPPINGS instead, and one that finds n
 * overwrites the first n elements. Setting an array's length to 0 drops its backing store, so the
 * next push made a new one: ~84 bytes per query (BENCHMARKS.md, twelfth round). (Its elements past
 * a query's result may keep up to that many unmapped records alive until overwritten.)
 */
const queryOut: LiveMapping[] = [];
/** The result of a query that finds nothing (shared: callers only read it). */
const NO_MAPPINGS: LiveMapping[] = Object.freeze([]) as unknown as LiveMapping[];
const byId = (a: LiveMapping, b: LiveMapping): number => a.id - b.id;

/**
 * Sorts a query's (short) result by id in place: an insertion sort, which allocates nothing,
 * where Array.prototype.sort copies into a work array on every call. Ids are unique.
 */
function sortById(a: LiveMapping[]): void {
  for (let i = 1; i < a.length; i++) {
    const m = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]!.id > m.id) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = m;
  }
}

function firstGranule(start: bigint): number {
  return Number(start >> GRANULE_SHIFT);
}

/** The granule of the span's last byte; a zero-length span counts as the point at its start. */
function lastGranule(start: bigint, len: number): number {
  return Number((start + BigInt(Math.max(len, 1)) - 1n) >> GRANULE_SHIFT);
}

/** addr as a number when the range [addr, addr + max(size, 1)) is exact as numbers, else -1 (a zero-length range counts as the point at its start). */
export function exactStart(addr: bigint, size: number): number {
  return exactRange(addr, Math.max(size, 1));
}

function overlaps(spans: readonly Span[], start: bigint, end: bigint): boolean {
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i]!;
    if (s.start < end && s.start + BigInt(s.len) > start) return true;
  }
  return false;
}

/**
 * Takes out of `list` the mapping of `kind` with this size, else the first of the kind; undefined
 * when none is of the kind (LiveMappings.remove's choice among mappings with one handle).
 */
function takeFrom<T extends LiveMapping>(list: T[], kind: LiveKind, size: number): T | undefined {
  let i = -1;
  for (let j = 0; j < list.length; j++) {
    const c = list[j]!;
    if (c.kind !== kind) continue;
    if (c.size === size) {
      i = j;
      break;
    }
    if (i < 0) i = j; // the first of the kind, unless one with the same size follows
  }
  if (i < 0) return undefined;
  const m = list[i]!;
  removeAt(list, i);
  return m;
}

export class LiveMappings {
  private nextId = 1;
  /**
   * Per device index: handle → the mapping with that handle, or an array of them (in the order they
   * were added) when there are several (mapping a buffer twice gives the same one). One mapping is
   * kept without an array: that is almost every handle, and it spares an array per map.
   */
  private readonly perDev: ExactKeyMap<Live | Live[]>[] = [];
  private total = 0;
  /**
   * Every live mapping in one doubly linked list by id (each is added with the next id, so at the
   * end): what hashInto and all() walk, where they used to gather every device's map into an array
   * and sort it — at a 64-device state mark, with ~9 k mappings live, that was a third of the
   * mappings' share of the mark (BENCHMARKS.md, thirteenth round). Not state.
   */
  /**
   * Not state: removed single and coherent records whose ranges were exact, for addSingle to
   * refill. With 64 devices' mappings in flight a record and its two range arrays live through
   * scavenges and were promoted, three objects per mapping (BENCHMARKS.md, fifteenth round).
   */
  private readonly spare: Live[] = [];
  private oldest: Live | null = null;
  private newest: Live | null = null;
  /**
   * Per device index: the mapping the device's last access was found inside (coveringBus, noteBus),
   * or null. Not state: a speed structure, checked to be alive before it is used.
   */
  private readonly lastBus: (Live | null)[] = [];
  /** Per device index: bus spans; and CPU spans of every device. */
  private readonly busIdx: SpanIndex[] = [];
  private readonly cpuIdx = new SpanIndex();

  get count(): number {
    return this.total;
  }

  /** Nodes held by the span indexes' pools (not state; for tests of node reuse). */
  indexPoolSize(): number {
    let n = this.cpuIdx.poolSize;
    for (const idx of this.busIdx) n += idx?.poolSize ?? 0;
    return n;
  }

  countFor(dev: number): number {
    let n = 0;
    this.perDev[dev]?.forEachValue((l) => {
      n += Array.isArray(l) ? l.length : 1;
    });
    return n;
  }

  private byDev(dev: number): ExactKeyMap<Live | Live[]> {
    let m = this.perDev[dev];
    if (!m) {
      m = new ExactKeyMap();
      this.perDev[dev] = m;
    }
    return m;
  }

  addSingle(dev: number, devName: string, kind: 'single' | 'coherent', addr: bigint, size: number, phys: bigint, dir: number, path: Path, mmio: boolean): LiveMapping {
    const owner = kind === 'coherent' ? 'shared' : 'device';
    const spare = this.spare.length > 0 ? exactSingle(addr, phys, size) : false;
    if (spare) {
      const m = this.spare.pop()!;
      m.refill(this.nextId++, dev, devName, kind, addr, size, phys, dir, path, mmio, owner, exactNum(addr), exactNum(phys));
      return this.add(m);
    }
    return this.add(new Live(this.nextId++, dev, devName, kind, addr, size, phys, dir, path, mmio, 1, owner, numericRange(addr, size), numericRange(phys, size), null, null));
  }

  /** An sg mapping: bus spans are the mapped entries (dma-iommu may merge elements), CPU spans the inputs. */
  addSg(dev: number, devName: string, sg: SgList, dir: number, path: Path): LiveMapping | null {
    const first = sg.dma[0];
    if (!first) return null;
    const bus = sg.dma.map((d) => ({ start: d.addr, len: d.len }));
    const cpu = sg.segments.map((x) => ({ start: x.phys, len: x.size }));
    const size = sg.dma.reduce((n, d) => n + d.len, 0);
    return this.add(new Live(this.nextId++, dev, devName, 'sg', first.addr, size, sg.segments[0]?.phys ?? 0n, dir, path, false, sg.segments.length, 'device', numericRanges(bus), numericRanges(cpu), bus, cpu));
  }

  private add(e: Live): LiveMapping {
    const map = this.byDev(e.dev);
    const key = exactKey(e.addr);
    const had = map.get(key);
    if (had === undefined) map.set(key, e);
    else if (Array.isArray(had)) had.push(e);
    else map.set(key, [had, e]);
    e.busNode = (this.busIdx[e.dev] ??= new SpanIndex()).add(e, e.busR ? granuleBoundsN(e.busR) : granuleBounds(e.bus), e.busR);
    e.cpuNode = this.cpuIdx.add(e, e.cpuR ? granuleBoundsN(e.cpuR) : granuleBounds(e.cpu), e.cpuR);
    e.alive = true;
    e.older = this.newest;
    if (this.newest !== null) this.newest.newer = e;
    else this.oldest = e;
    this.newest = e;
    this.total++;
    return e;
  }

  /** Removes the mapping of `kind` with handle addr (same size preferred); null if there is none. */
  remove(dev: number, kind: LiveKind, addr: bigint, size: number): LiveMapping | null {
    const map = this.perDev[dev];
    const key = exactKey(addr);
    const had = map?.get(key);
    if (!map || had === undefined) return null;
    let m: Live;
    if (!Array.isArray(had)) {
      if (had.kind !== kind) return null;
      m = had;
      map.delete(key);
    } else {
      const taken = takeFrom(had, kind, size);
      if (!taken) return null;
      m = taken;
      if (had.length === 1) map.set(key, had[0]!);
    }
    this.busIdx[dev]!.remove(m, m.busNode);
    this.cpuIdx.remove(m, m.cpuNode);
    const { older, newer } = m;
    if (older !== null) older.newer = newer;
    else this.oldest = newer;
    if (newer !== null) newer.older = older;
    else this.newest = older;
    m.older = m.newer = null;
    m.alive = false;
    this.total--;
    // A single or coherent record with exact ranges goes back for addSingle to refill. Callers do
    // not keep what remove() returns past their next call into the model.
    if (m.nents === 1 && m.kind !== 'sg' && m.busR !== null && m.cpuR !== null) this.spare.push(m);
    return m;
  }

  /** The sg mapping whose handle is sg.dma[0] and whose element count matches, if any. */
  findSg(dev: number, sg: SgList): LiveMapping | null {
    const first = sg.dma[0];
    if (!first) return null;
    const had = this.perDev[dev]?.get(exactKey(first.addr));
    if (had === undefined) return null;
    if (!Array.isArray(had)) return had.kind === 'sg' ? had : null;
    return had.find((m) => m.kind === 'sg' && m.nents === sg.segments.length) ?? had.find((m) => m.kind === 'sg') ?? null;
  }

  /**
   * A live mapping of the device with one bus span that holds all of [start, end) (addr's range as
   * exact numbers: start is exactStart(addr, ...)), found without the span index: the mapping the
   * device's last access was found inside, else the one whose handle is addr (when it is the only
   * one). null when neither holds the range; the caller then asks overlappingBus. A device access
   * wholly inside one mapping that allows it is checked by that mapping alone (dma/access.ts), and
   * in the bench's direct-only log ~65 % of device accesses fall in the mapping of the device's
   * previous one and ~60 % start at a handle (BENCHMARKS.md, nineteenth round).
   */
  coveringBus(dev: number, start: number, end: number): LiveMapping | null {
    const last = this.lastBus[dev];
    // (A removed record may be refilled for a mapping of another device: alive is not enough.)
    if (last !== undefined && last !== null && last.alive && last.dev === dev && holds(last.busR, start, end)) return last;
    const had = this.perDev[dev]?.get(start); // the handle's key (exactKey) is this number
    if (had === undefined || Array.isArray(had) || !holds(had.busR, start, end)) return null;
    this.lastBus[dev] = had;
    return had;
  }

  /** Remembers m (a live mapping of device dev) as the one the device's last access was found inside. */
  noteBus(dev: number, m: LiveMapping): void {
    this.lastBus[dev] = m as Live;
  }

  /** Mappings of one device with a bus span overlapping [addr, addr+size), by id. The array is valid until the next overlapping* call. */
  overlappingBus(dev: number, addr: bigint, size: number): LiveMapping[] {
    const idx = this.busIdx[dev];
    if (!idx) return [];
    const n = exactStart(addr, size);
    if (n >= 0) {
      const found = idx.queryN(n, n + Math.max(size, 1), true);
      if (found) return found;
    }
    const end = addr + BigInt(Math.max(size, 1));
    const found = idx.query(addr, end, true);
    if (found) return found;
    const out: LiveMapping[] = [];
    this.perDev[dev]?.forEachValue((v) => {
      for (const m of Array.isArray(v) ? v : [v]) if (overlaps(m.bus, addr, end)) out.push(m);
    });
    return out.sort(byId);
  }

  /** Every mapping of every device with a CPU span overlapping [phys, phys+size), by id. The array is valid until the next overlapping* call. */
  overlappingCpu(phys: bigint, size: number): LiveMapping[] {
    const n = exactStart(phys, size);
    if (n >= 0) {
      const found = this.cpuIdx.queryN(n, n + Math.max(size, 1), false);
      if (found) return found;
    }
    const end = phys + BigInt(Math.max(size, 1));
    const found = this.cpuIdx.query(phys, end, false);
    if (found) return found;
    const out: LiveMapping[] = [];
    for (const map of this.perDev) {
      map?.forEachValue((v) => {
        for (const m of Array.isArray(v) ? v : [v]) if (overlaps(m.cpu, phys, end)) out.push(m);
      });
    }
    return out.sort(byId);
  }

  /** Every live mapping, by id (for summaries and invariant checks). */
  all(): LiveMapping[] {
    return this.allLive();
  }

  private allLive(): Live[] {
    const out: Live[] = [];
    for (let m = this.oldest; m !== null; m = m.newer) out.push(m);
    return out;
  }

  /** The next id, the count, then each live mapping by id (Live.hashInto). */
  hashInto(h: Hasher): void {
    h.u32(this.nextId).u32(this.total);
    for (let m = this.oldest; m !== null; m = m.newer) m.hashInto(h);
  }
}
