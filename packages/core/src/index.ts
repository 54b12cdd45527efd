// Public surface of @dmasim/core.
export * from './config.ts';
export * from './events.ts';
export { Machine, type MachineSummary } from './machine.ts';
export { Kernel, KernelBug, ModelInputError } from './kernel.ts';
export * from './dma/defs.ts';
export { hex, hex016, pad16, DMA_BIT_MASK, U64_MAX } from './util/hex.ts';
export { Prng } from './util/prng.ts';
export { Hasher, STATE_HASH_VERSION } from './util/hash.ts';
export * from './scenario/index.ts';
export * from './log/index.ts';
export { replay, stateSummary, type ReplayOptions, type ReplayResult, type Divergence, type DivergenceField } from './replay.ts';
