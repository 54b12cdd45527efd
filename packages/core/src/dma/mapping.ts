// The DMA API front door (kernel/dma/mapping.c).
// STUB: implemented by the model part 1 (issue 3).

import type { Event } from '../events.ts';
import { ModelInputError, type Kernel } from '../kernel.ts';

export function applyEvent(_k: Kernel, ev: Event): void {
  throw new ModelInputError(`op ${ev.op} is not yet modelled`);
}
