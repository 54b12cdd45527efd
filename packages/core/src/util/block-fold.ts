// The block loop of the outcome digest's data fold (log/digest.ts, Lanes.words4) in WebAssembly
// SIMD: the same four lanes, the same steps, the same results, in one 128-bit vector. Lane i takes
// word i of every 16-byte block: rotated left by 13 bits, xored with the word, multiplied by its
// odd constant (0x01000193 for lanes 0 and 2, 0x5bd1e995 for 1 and 3), keeping the low 32 bits of
// the product as Math.imul does. WebAssembly loads are little-endian on every host, as the fold
// defines its words, and its integer SIMD operations are exact, so the results do not depend on
// the machine. The JavaScript loop in words4 stays the definition and the fallback (no
// WebAssembly, or a memory that cannot grow); block-fold.test.ts checks the two agree.
//
// Why: a device or CPU read's bytes are folded into every outcome digest, live and in replay, and
// in the bench's direct-only log that is ~590 bytes per event. The JavaScript loop checks bounds
// and shifts each word separately; here a block is one load and five vector operations, and the
// copy into the module's memory is a memmove (BENCHMARKS.md, nineteenth round).

import { ByteWriter } from '../log/varint.ts';

/** The module, assembled here from its instructions (no build step, nothing fetched). */
function moduleBytes(): Uint8Array {
  // WebAssembly's integers are the log's unsigned LEB128 varints, its constants little-endian
  // words: both as log/varint.ts's ByteWriter writes them.
  const written = (write: (w: ByteWriter) => void): number[] => {
    const w = new ByteWriter(16);
    write(w);
    return Array.from(w.bytes());
  };
  const leb = (n: number): number[] => written((w) => w.uint(n));
  const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
  const name = (s: string): number[] => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  const simd = (op: number): number[] => [0xfd, ...leb(op)];
  // Opcodes (WebAssembly core 2.0 and its fixed-width SIMD).
  const LOCAL_GET = 0x20, LOCAL_SET = 0x21, LOCAL_TEE = 0x22, I32_CONST = 0x41, I32_ADD = 0x6a, I32_SHL = 0x74, I32_LT_U = 0x49;
  const LOOP = 0x03, BR_IF = 0x0d, END = 0x0b, VOID = 0x40, I32 = 0x7f, V128 = 0x7b;
  const V128_LOAD = 0, V128_STORE = 11, V128_CONST = 12, V128_OR = 80, V128_XOR = 81, I32X4_SHL = 171, I32X4_SHR_U = 173, I32X4_MUL = 181;
  const ALIGN16 = [4, 0]; // memarg: 2^4-byte alignment, offset 0
  // fold(blocks): the lanes at bytes 0..15, the data from byte 16; locals 1 = lanes, 2 = p, 3 = end.
  const body = [
    2, 1, V128, 2, I32,
    I32_CONST, 0, ...simd(V128_LOAD), ...ALIGN16, LOCAL_SET, 1,
    I32_CONST, 16, LOCAL_SET, 2,
    LOCAL_GET, 0, I32_CONST, 4, I32_SHL, I32_CONST, 16, I32_ADD, LOCAL_SET, 3,
    LOOP, VOID,
    LOCAL_GET, 1, I32_CONST, 13, ...simd(I32X4_SHL), LOCAL_GET, 1, I32_CONST, 19, ...simd(I32X4_SHR_U), ...simd(V128_OR),
    LOCAL_GET, 2, ...simd(V128_LOAD), ...ALIGN16, ...simd(V128_XOR),
    ...simd(V128_CONST), ...written((w) => [0x01000193, 0x5bd1e995, 0x01000193, 0x5bd1e995].forEach((c) => w.u32(c))),
    ...simd(I32X4_MUL), LOCAL_SET, 1,
    LOCAL_GET, 2, I32_CONST, 16, I32_ADD, LOCAL_TEE, 2, LOCAL_GET, 3, I32_LT_U, BR_IF, 0,
    END,
    I32_CONST, 0, LOCAL_GET, 1, ...simd(V128_STORE), ...ALIGN16,
    END,
  ];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 1, I32, 0]), // type 0: (i32) -> ()
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0, 1]), // one memory, one page to start with
    ...section(7, [2, ...name('mem'), 2, 0, ...name('fold'), 0, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

/** The part of the WebAssembly API used here (the project's TypeScript lib, ES2022 without DOM, does not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

const PAGE = 65536;
/** Where the data starts in the module's memory (the lanes take the first 16 bytes). */
const DATA_AT = 16;

export class BlockFold {
  private u8: Uint8Array;
  /** After run(): the four lanes, lane i at [i]. */
  lanes: Int32Array;

  private constructor(
    private readonly mem: WasmMemory,
    private readonly fold: (blocks: number) => void,
  ) {
    this.u8 = new Uint8Array(mem.buffer);
    this.lanes = new Int32Array(mem.buffer, 0, 4);
  }

  /** null where WebAssembly or its SIMD is missing: words4 then runs its own loop. */
  static make(): BlockFold | null {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    if (wasm === undefined) return null;
    try {
      const bytes = moduleBytes();
      if (!wasm.validate(bytes)) return null;
      const inst = new wasm.Instance(new wasm.Module(bytes));
      return new BlockFold(inst.exports.mem as WasmMemory, inst.exports.fold as (blocks: number) => void);
    } catch {
      return null;
    }
  }

  /**
   * Folds the first `blocks` 16-byte blocks of d (blocks >= 1, 16 * blocks <= d.length) into the
   * lanes l0..l3, leaving them in `lanes`. False, with nothing folded, when the memory cannot grow
   * to hold d.
   */
  run(d: Uint8Array, blocks: number, l0: number, l1: number, l2: number, l3: number): boolean {
    if (this.u8.length < DATA_AT + d.length && !this.grow(DATA_AT + d.length)) return false;
    const lanes = this.lanes;
    lanes[0] = l0;
    lanes[1] = l1;
    lanes[2] = l2;
    lanes[3] = l3;
    this.u8.set(d, DATA_AT);
    this.fold(blocks);
    return true;
  }

  /** Grows the memory to hold `bytes` (the views are made anew: growing detaches the old buffer). */
  private grow(bytes: number): boolean {
    try {
      this.mem.grow(Math.ceil((bytes - this.u8.length) / PAGE));
    } catch {
      return false;
    }
    this.u8 = new Uint8Array(this.mem.buffer);
    this.lanes = new Int32Array(this.mem.buffer, 0, 4);
    return true;
  }
}
