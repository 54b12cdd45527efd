// Physical memory: RAM and MMIO regions with sparse byte contents, and the page allocator that
// coherent allocations come from.
// STUB: replaced by the model part 1 (issue 3).

import type { PlatformConfig } from '../config.ts';
import type { Hasher } from '../util/hash.ts';

export class Memory {
  constructor(readonly platform: PlatformConfig) {}
  hashInto(_h: Hasher): void {}
}
