// Physical memory: RAM and MMIO regions (peer BARs) with sparse byte contents, and the
// deterministic page allocator that coherent allocations, the swiotlb pool and page tables use.

import type { PlatformConfig } from '../config.ts';
import { ModelInputError } from '../kernel.ts';
import { chunkDigest, STATE_HASH_VERSION, type Hasher, type StateHashVersion, type WordDigest } from '../util/hash.ts';
import { exactNum, low32 } from '../util/exact.ts';
import { hex016 } from '../util/hex.ts';
import { sortNumbers } from '../util/array.ts';

/** Contents are stored in 4 KiB chunks, whatever the platform page size. */
const CHUNK_SHIFT = 12n;
const CHUNK = 4096;
const FOUR_GIB = 1n << 32n;
/** Bytes per read arena (see readBuffer). */
const READ_ARENA = 1 << 20;
/** New chunks are carved from slabs of this many. */
const SLAB_CHUNKS = 64;

interface Range { base: bigint; end: bigint }
interface Block { base: bigint; size: bigint; kind: 'alloc' | 'reserved'; tag: string }

/**
 * 4 KiB of contents and its cached digest (state hash version 2). Every path that changes the
 * contents sets `dirty`; hashInto recomputes the digest of dirty chunks only. `bytes` never leaves
 * this module except as a copy (read) or a read-only source (copy, view).
 *
 * A chunk whose every byte is known to be one value (`uni`, 0..255) keeps no contents of its own:
 * `bytes` is then null, and 4 KiB filled with `uni` are given to it only when a write of anything
 * else needs them (materialise); a chunk that becomes uniform again hands its bytes back. Device
 * writes are mostly fills, and a fill that covers a whole chunk then costs one store instead of
 * 4 KiB of them; a read is served from a shared chunk of that value, and a state mark takes the
 * digest of such a chunk from a table (uniformDigest) instead of digesting 4 KiB: at a mark of the
 * bench's direct-only logs ~65 % of the chunks written since the last one are uniform
 * (BENCHMARKS.md, twelfth round). A speed structure only: every read, copy and digest sees the
 * same bytes as before.
 */
class Chunk implements WordDigest {
  /** The contents when `uni` is -1; else null. */
  bytes: Uint8Array | null = null;
  /** Every byte equals this value (0..255), or -1: `bytes` holds the contents. A new chunk is all zeros. */
  uni = 0;
  dirty = true;
  a = 0;
  b = 0;
  zero = true;
}

/** A read-only chunk of 4096 bytes of value v, made on first use (reads and the version-1 hash of uniform chunks). */
const uniformChunks: (Uint8Array | undefined)[] = [];
function uniformChunk(v: number): Uint8Array {
  return (uniformChunks[v] ??= new Uint8Array(CHUNK).fill(v));
}

/** chunkDigest of uniformChunk(v), computed on first use. */
const uniformDigests: (WordDigest | undefined)[] = [];
function uniformDigest(v: number): WordDigest {
  let d = uniformDigests[v];
  if (!d) {
    d = { a: 0, b: 0, zero: true };
    chunkDigest(uniformChunk(v), d);
    uniformDigests[v] = d;
  }
  return d;
}

/** The number of the 4 KiB chunk holding phys (below 2^52: exact as a number). */
function chunkOf(phys: bigint): number {
  const n = exactNum(phys);
  return n >= 0 ? Math.floor(n / CHUNK) : Number(phys >> CHUNK_SHIFT);
}

/** phys's offset in its chunk. */
function offsetOf(phys: bigint): number {
  return low32(phys) & (CHUNK - 1);
}

/**
 * Bytes never written read as 0, in RAM, in MMIO regions and elsewhere alike (the model does not
 * fault CPU accesses to holes; device accesses are checked in dma/access.ts).
 */
export class Memory {
  readonly pageSize: bigint;
  private readonly ram: Range[];
  private readonly mmio: (Range & { name: string })[];
  /** Page number → 4 KiB of contents. Chunk numbers stay below 2^52, so they are exact numbers. */
  private readonly chunks = new Map<number, Chunk>();
  /** The chunk numbers in ascending order and their chunks, without the chunks created since (chunks are never removed). */
  private readonly sorted: { keys: number[]; chunks: Chunk[] } = { keys: [], chunks: [] };
  /**
   * Chunks created since `sorted` was last brought up to date: inOrder() sorts these alone and
   * merges them in. Re-sorting every chunk number at each state mark was ~0.6 % of a 64-device
   * replay, whose devices touch new memory between marks (BENCHMARKS.md, thirteenth round).
   */
  private fresh: number[] = [];
  /** Allocated and reserved blocks, sorted by base. */
  private readonly blocks: Block[] = [];

  constructor(readonly platform: PlatformConfig) {
    this.pageSize = BigInt(platform.pageSize);
    this.ram = platform.ram.map((r) => ({ base: r.base, end: r.base + r.size })).sort((a, b) => cmp(a.base, b.base));
    this.mmio = platform.mmio.map((r) => ({ name: r.name, base: r.base, end: r.base + r.size }));
    const all: (Range & { what: string })[] = [
      ...this.ram.map((r) => ({ ...r, what: 'RAM' })),
      ...this.mmio.map((r) => ({ ...r, what: `MMIO region "${r.name}"` })),
    ].sort((a, b) => cmp(a.base, b.base));
    for (let i = 1; i < all.length; i++) {
      const a = all[i - 1]!;
      const b = all[i]!;
      if (b.base < a.end) throw new ModelInputError(`platform: ${b.what} at ${hex016(b.base)} overlaps ${a.what} at ${hex016(a.base)}`);
    }
  }

  // ---- contents ----

  // Every contents operation splits its start address into a chunk number and an offset once
  // (two bigint operations: chunk numbers stay below 2^52, so they are exact numbers even for the
  // top of the 64-bit space) and then steps chunk by chunk on numbers.

  /**
   * Reads may alias (Machine sets this with its recycleOutcomes: an outcome, its data included, is
   * used before the next event is applied). While set, read(), readAt() and readBuffer() may return
   * a view of memory's own bytes (a read inside one chunk, from a 4-byte aligned offset: no copy) or
   * of one reused buffer: valid until the next read or write, and read-only. While clear, every read
   * is a fresh, private array.
   */
  aliasReads = false;

  /**
   * [phys, phys+size): while aliasReads is clear a fresh, private array (later writes do not show
   * through), cut from a read arena so that a read does not allocate a backing store of its own;
   * while it is set, possibly a view (see aliasReads).
   */
  read(phys: bigint, size: number): Uint8Array {
    return this.readFrom(chunkOf(phys), offsetOf(phys), size);
  }

  /** read() with phys a number (a non-negative integer, as readIntoAt). */
  readAt(phys: number, size: number): Uint8Array {
    return this.readFrom(Math.floor(phys / CHUNK), phys % CHUNK, size);
  }

  /** read() of `size` bytes from chunk `key`, offset `off`. */
  private readFrom(key: number, off: number, size: number): Uint8Array {
    if (this.aliasReads && (off & 3) === 0 && off + size <= CHUNK && size >= 0) return this.view(key, off, size);
    const out = this.readBuffer(size);
    this.readChunks(key, off, out, 0, size);
    return out;
  }

  /** Bytes [off, off+n) of chunk `key` as a view of its contents (of a shared read-only chunk of its value when it is uniform, of zeros when it was never written). */
  private view(key: number, off: number, n: number): Uint8Array {
    const c = this.chunks.get(key);
    const b = c === undefined ? uniformChunk(0) : c.uni >= 0 ? uniformChunk(c.uni) : c.bytes!;
    return new Uint8Array(b.buffer, b.byteOffset + off, n);
  }

  /** Copies [phys, phys+n) into out[at..at+n) (out as readBuffer gives it). */
  readInto(phys: bigint, out: Uint8Array, at: number, n: number): void {
    this.readChunks(chunkOf(phys), offsetOf(phys), out, at, n);
  }

  /** readInto() with phys a number (a non-negative integer: the IOMMU's page walk has its pages' addresses as numbers). */
  readIntoAt(phys: number, out: Uint8Array, at: number, n: number): void {
    this.readChunks(Math.floor(phys / CHUNK), phys % CHUNK, out, at, n);
  }

  write(phys: bigint, data: Uint8Array): void {
    this.writeChunks(chunkOf(phys), offsetOf(phys), data);
  }

  /** write() with phys a number, as readIntoAt. */
  writeAt(phys: number, data: Uint8Array): void {
    this.writeChunks(Math.floor(phys / CHUNK), phys % CHUNK, data);
  }

  fill(phys: bigint, size: number, byte: number): void {
    this.fillChunks(chunkOf(phys), offsetOf(phys), size, byte);
  }

  /** fill() with phys a number, as readIntoAt. */
  fillAt(phys: number, size: number, byte: number): void {
    this.fillChunks(Math.floor(phys / CHUNK), phys % CHUNK, size, byte);
  }

  /** memcpy / memmove: overlapping ranges copy as if through a temporary buffer. */
  copy(dst: bigint, src: bigint, size: number): void {
    if (size <= 0 || dst === src) return;
    const n = BigInt(size);
    if (dst < src + n && src < dst + n) {
      const tmp = new Uint8Array(size);
      this.readChunks(chunkOf(src), offsetOf(src), tmp, 0, size);
      this.write(dst, tmp);
      return;
    }
    // Disjoint (every bounce copy): chunk to chunk, without a temporary buffer.
    let sKey = chunkOf(src);
    let sOff = offsetOf(src);
    let dKey = chunkOf(dst);
    let dOff = offsetOf(dst);
    let done = 0;
    while (done < size) {
      const len = Math.min(CHUNK - sOff, CHUNK - dOff, size - done);
      const from = this.chunks.get(sKey);
      // From a uniform chunk (or one never written: zeros) a copy is a fill.
      const v = from === undefined ? 0 : from.uni;
      if (v >= 0) this.fillChunks(dKey, dOff, len, v);
      else this.chunkAt(dKey, len === CHUNK).set(from!.bytes!.subarray(sOff, sOff + len), dOff);
      done += len;
      sOff += len;
      dOff += len;
      if (sOff === CHUNK) {
        sOff = 0;
        sKey++;
      }
      if (dOff === CHUNK) {
        dOff = 0;
        dKey++;
      }
    }
  }

  /** The copy of n bytes from chunk `key`, offset `off`, on into out[at..]. */
  private readChunks(key: number, off: number, out: Uint8Array, at: number, n: number): void {
    let done = 0;
    while (done < n) {
      const len = Math.min(CHUNK - off, n - done);
      const c = this.chunks.get(key);
      const v = c === undefined ? 0 : c.uni; // never written: zeros (a reused buffer holds old bytes)
      if (v >= 0) out.fill(v, at + done, at + done + len);
      else out.set(c!.bytes!.subarray(off, off + len), at + done);
      done += len;
      key++;
      off = 0;
    }
  }

  private writeChunks(key: number, off: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const len = Math.min(CHUNK - off, data.length - done);
      this.chunkAt(key, len === CHUNK).set(data.subarray(done, done + len), off);
      done += len;
      key++;
      off = 0;
    }
  }

  private fillChunks(key: number, off: number, size: number, byte: number): void {
    let done = 0;
    while (done < size) {
      const len = Math.min(CHUNK - off, size - done);
      let c = this.chunks.get(key);
      if (c === undefined) {
        // Zero-filling a chunk that was never written changes nothing.
        if (byte !== 0) c = this.newChunk(key);
      }
      if (c !== undefined && c.uni !== byte) {
        // (A uniform chunk filled with its own value is unchanged: its digest stays valid.)
        c.dirty = true;
        if (len === CHUNK) this.makeUniform(c, byte); // the old contents are all overwritten: no need to materialise them
        else this.materialise(c).fill(byte, off, off + len);
      }
      done += len;
      key++;
      off = 0;
    }
  }

  /**
   * Bytes for chunks' contents, carved from 256 KiB slabs (one ArrayBuffer per 64 chunks instead
   * of one each: a pool cycled through by bounces creates tens of thousands of chunks), and for
   * reads (see readBuffer).
   */
  private readonly slabs = new Bump(SLAB_CHUNKS * CHUNK);
  private readonly arena = new Bump(READ_ARENA);

  /**
   * 4 KiB for a chunk's contents, of any value: one a chunk gave up when it became uniform, else
   * new. Chunks that turn uniform hand their bytes back (makeUniform), so the bytes held stay at
   * the most chunks that have had contents of their own at once, not every chunk that ever had
   * (without it, a 10 M-event run's RSS grew by a third after the first 1 M events: figure 5,
   * BENCHMARKS.md twelfth round).
   */
  private takeBytes(): Uint8Array {
    return this.spare.pop() ?? this.slabs.take(CHUNK);
  }

  private readonly spare: Uint8Array[] = [];

  /** Every byte of c is now `byte`: its contents, if any, go back to the spares. */
  private makeUniform(c: Chunk, byte: number): void {
    c.uni = byte;
    if (c.bytes !== null) {
      this.spare.push(c.bytes);
      c.bytes = null;
    }
  }

  /**
   * A buffer for a read of `size` bytes, to be filled by readInto/readIntoAt (which write every byte).
   * While aliasReads is set, a view of one buffer reused by every read (see aliasReads); else a
   * view of the current read arena no other array shares (never handed out twice; an arena is
   * garbage once no view of it is alive), or an array of its own when large. Nothing may transfer
   * or detach a view's `.buffer`: it is the arena or the reused buffer.
   */
  readBuffer(size: number): Uint8Array {
    if (!(size >= 0 && size <= READ_ARENA / 8)) return new Uint8Array(size); // large (or invalid: throws as before)
    if (this.aliasReads) {
      if (this.reused.byteLength < size) this.reused = new ArrayBuffer(Math.max(size, 4 * CHUNK));
      return new Uint8Array(this.reused, 0, size);
    }
    return this.arena.take(size);
  }

  /** The buffer readBuffer reuses while aliasReads is set. */
  private reused = new ArrayBuffer(0);

  /**
   * Chunk `key`'s contents, created if need be, for writing: its digest is marked stale. `whole`:
   * the caller overwrites all 4096 bytes, so a uniform chunk's value need not be filled in first.
   */
  private chunkAt(key: number, whole: boolean): Uint8Array {
    const c = this.chunks.get(key) ?? this.newChunk(key);
    c.dirty = true;
    if (c.uni < 0) return c.bytes!;
    if (whole) {
      c.uni = -1;
      return (c.bytes = this.takeBytes());
    }
    return this.materialise(c);
  }

  /** c's contents as bytes of its own (filled with its value if it was uniform); c is no longer uniform. */
  private materialise(c: Chunk): Uint8Array {
    if (c.uni < 0) return c.bytes!;
    const b = (c.bytes = this.takeBytes());
    b.fill(c.uni);
    c.uni = -1;
    return b;
  }

  /** A new chunk `key` (all zeros, no contents yet). */
  private newChunk(key: number): Chunk {
    const c = new Chunk();
    this.chunks.set(key, c);
    this.fresh.push(key);
    return c;
  }

  private inOrder(): { keys: number[]; chunks: Chunk[] } {
    const fresh = this.fresh;
    if (fresh.length === 0) return this.sorted;
    const add = sortNumbers(Float64Array.from(fresh)); // numeric order (chunk numbers are distinct)
    this.fresh = [];
    const { keys: old, chunks: oldChunks } = this.sorted;
    const keys = new Array<number>(old.length + add.length);
    const chunks = new Array<Chunk>(keys.length);
    let i = 0;
    let j = 0;
    for (let n = 0; n < keys.length; n++) {
      if (j >= add.length || (i < old.length && old[i]! < add[j]!)) {
        keys[n] = old[i]!;
        chunks[n] = oldChunks[i++]!;
      } else {
        const k = add[j++]!;
        keys[n] = k;
        chunks[n] = this.chunks.get(k)!;
      }
    }
    this.sorted.keys = keys;
    this.sorted.chunks = chunks;
    return this.sorted;
  }


  // ---- regions ----

  /** pfn_valid(PHYS_PFN(phys)): the page lies in a RAM region. */
  pfn_valid(phys: bigint): boolean {
    const page = phys - (phys % this.pageSize);
    return this.ram.some((r) => page >= r.base && page < r.end);
  }

  isMmio(phys: bigint): boolean {
    return this.mmio.some((r) => phys >= r.base && phys < r.end);
  }

  /** max_pfn << PAGE_SHIFT: the end of the highest RAM region (0 without RAM). */
  get ramEnd(): bigint {
    return this.ram.reduce((m, r) => (r.end > m ? r.end : m), 0n);
  }

  // ---- allocator ----

  /**
   * Allocates 2^order pages for `size` bytes (get_order, as alloc_pages does), aligned to the
   * block size like the buddy allocator, with the whole block at or below `limit`. The search is
   * deterministic and top-down from the highest RAM address, so coherent buffers and page tables
   * land at the top of RAM, far from the low addresses scenarios usually map. Returns null when
   * nothing fits. The buddy allocator's real placement depends on boot history; this one does not.
   */
  allocPages(size: number, limit?: bigint, tag = 'pages'): bigint | null {
    const pages = Math.max(1, Math.ceil(size / Number(this.pageSize)));
    const block = this.pageSize * BigInt(1 << Math.ceil(Math.log2(pages)));
    return this.allocRange(block, block, limit ?? (1n << 64n) - 1n, 'alloc', tag);
  }

  /** Frees a block allocPages returned; false if no allocated block starts at phys with that order. */
  freePages(phys: bigint, size: number): boolean {
    const pages = Math.max(1, Math.ceil(size / Number(this.pageSize)));
    const block = this.pageSize * BigInt(1 << Math.ceil(Math.log2(pages)));
    const i = this.blocks.findIndex((b) => b.base === phys && b.kind === 'alloc');
    if (i < 0 || this.blocks[i]!.size !== block) return false;
    this.blocks.splice(i, 1);
    return true;
  }

  /** Is [phys, phys+size) inside one allocated (not reserved) block? */
  isAllocated(phys: bigint, size: number): boolean {
    const end = phys + BigInt(size);
    return this.blocks.some((b) => b.kind === 'alloc' && phys >= b.base && end <= b.base + b.size);
  }

  /**
   * memblock_alloc_low() for the swiotlb default pool: the highest `align`-aligned RAM range of
   * `size` bytes ending at or below 4 GiB (memblock allocates top-down below ARCH_LOW_ADDRESS_LIMIT).
   */
  reserveLow(size: bigint, align: bigint, tag: string): bigint | null {
    return this.allocRange(size, align, FOUR_GIB - 1n, 'reserved', tag);
  }

  /** Reserves a fixed range (a configured swiotlb base) so the page allocator stays clear of it. */
  reserve(base: bigint, size: bigint, tag: string): void {
    const end = base + size;
    const hit = this.blocks.find((b) => base < b.base + b.size && b.base < end);
    if (hit) throw new ModelInputError(`platform: ${tag} at ${hex016(base)} overlaps ${hit.tag} at ${hex016(hit.base)}`);
    this.insert({ base, size, kind: 'reserved', tag });
  }

  private allocRange(size: bigint, align: bigint, limit: bigint, kind: Block['kind'], tag: string): bigint | null {
    for (let r = this.ram.length - 1; r >= 0; r--) {
      const ram = this.ram[r]!;
      const top = ram.end - 1n < limit ? ram.end : limit + 1n;
      if (top - ram.base < size) continue;
      let cand = alignDown(top - size, align);
      while (cand >= ram.base) {
        const hit = this.lastOverlap(cand, cand + size);
        if (!hit) {
          this.insert({ base: cand, size, kind, tag });
          return cand;
        }
        if (hit.base < size) break;
        cand = alignDown(hit.base - size, align);
      }
    }
    return null;
  }

  /** The overlapping block with the lowest base (so a top-down search can jump below it). */
  private lastOverlap(base: bigint, end: bigint): Block | undefined {
    let found: Block | undefined;
    for (const b of this.blocks) {
      if (b.base >= end) break;
      if (b.base + b.size > base && (!found || b.base < found.base)) found = b;
    }
    return found;
  }

  private insert(b: Block): void {
    let i = this.blocks.length;
    while (i > 0 && this.blocks[i - 1]!.base > b.base) i--;
    this.blocks.splice(i, 0, b);
  }

  /** Allocated (not reserved) bytes, for summaries. */
  get allocatedBytes(): bigint {
    return this.blocks.reduce((s, b) => (b.kind === 'alloc' ? s + b.size : s), 0n);
  }

  /**
   * The blocks, then every chunk that is not all zero (a zero chunk equals one never written) in
   * address order. Version 1: the chunk number and its bytes (Hasher.bytes), every chunk at every
   * call. Version 2: the chunk number and its cached two-lane digest (chunkDigest, recomputed for
   * chunks written since the last call), then the count of chunks folded.
   */
  hashInto(h: Hasher, version: StateHashVersion = STATE_HASH_VERSION): void {
    h.u32(this.blocks.length);
    for (const b of this.blocks) h.big(b.base).big(b.size).str(b.kind);
    const { keys, chunks } = this.inOrder();
    if (version === 1) {
      for (let i = 0; i < keys.length; i++) {
        const c = chunks[i]!;
        if (c.uni >= 0 ? c.uni === 0 : isZero(c.bytes!)) continue;
        h.num(keys[i]!).bytes(c.uni >= 0 ? uniformChunk(c.uni) : c.bytes!);
      }
      return;
    }
    let n = 0;
    for (let i = 0; i < keys.length; i++) {
      const c = chunks[i]!;
      if (c.dirty) {
        if (c.uni >= 0) {
          const d = uniformDigest(c.uni);
          c.a = d.a;
          c.b = d.b;
          c.zero = d.zero;
        } else chunkDigest(c.bytes!, c);
        c.dirty = false;
      }
      if (c.zero) continue;
      h.num(keys[i]!).u32(c.a).u32(c.b);
      n++;
    }
    h.u32(n);
  }
}

/**
 * A bump allocator of zeroed bytes: views of one ArrayBuffer after another (`slabBytes` each), never
 * handed out twice, each starting 8-byte aligned (the digests read whole words). A slab is garbage
 * once no view of it is alive. `size` must be at most `slabBytes`.
 */
class Bump {
  private buf = new ArrayBuffer(0);
  private used = 0;

  constructor(private readonly slabBytes: number) {}

  take(size: number): Uint8Array {
    if (this.used + size > this.buf.byteLength) {
      this.buf = new ArrayBuffer(this.slabBytes);
      this.used = 0;
    }
    const out = new Uint8Array(this.buf, this.used, size);
    this.used += (size + 7) & ~7;
    return out;
  }
}

/** Every byte of a chunk is 0 (a word at a time: chunks are whole 4 KiB buffers). */
function isZero(c: Uint8Array): boolean {
  const w = new Int32Array(c.buffer, c.byteOffset, c.length >>> 2);
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) return false;
  for (let i = w.length << 2; i < c.length; i++) if (c[i] !== 0) return false;
  return true;
}

function alignDown(x: bigint, align: bigint): bigint {
  return x - (((x % align) + align) % align);
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
