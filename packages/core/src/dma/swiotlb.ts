// swiotlb bounce buffers (kernel/dma/swiotlb.c).
// STUB: replaced by the model part 1 (issue 3).

import type { PlatformConfig } from '../config.ts';
import type { Kernel } from '../kernel.ts';
import type { Hasher } from '../util/hash.ts';

export class SwiotlbMem {
  constructor(readonly k: Kernel, readonly platform: PlatformConfig) {}
  hashInto(_h: Hasher): void {}
}
