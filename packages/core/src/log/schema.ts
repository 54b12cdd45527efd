// Which fields of each Event op go where in a log batch: discrete fields into the shape table,
// addresses and counts into the packed varint stream, lists and byte buffers into msgpack.

import type { EventOp } from '../events.ts';

export type BigField = 'phys' | 'addr' | 'cpuAddr';
export type NumField = 'size' | 'byNs';
export type ComplexField = 'segments' | 'sg' | 'data';

export interface OpSchema {
  /** Has `dev` (every op but the CPU-side and machine-wide ones). */
  dev: boolean;
  dir: boolean;
  attrs: boolean;
  /** A small discrete argument kept in the shape: set-mask's bits, flush-iotlb's domain. */
  extra?: 'bits' | 'domain';
  /** An optional fill byte (writes): in the record stream, 0 = none, else fill + 1. */
  fill: boolean;
  big: readonly BigField[];
  num: readonly NumField[];
  complex: readonly ComplexField[];
  /** The result is a new mapping (DMA address) that later unmaps/syncs refer back to. */
  mapLike: boolean;
}

function s(o: Partial<OpSchema>): OpSchema {
  return { dev: true, dir: false, attrs: false, fill: false, big: [], num: [], complex: [], mapLike: false, ...o };
}

const MAP = s({ dir: true, attrs: true, big: ['phys'], num: ['size'], mapLike: true });
const UNMAP = s({ dir: true, attrs: true, big: ['addr'], num: ['size'] });
const SYNC = s({ dir: true, big: ['addr'], num: ['size'] });
const SYNC_SG = s({ dir: true, complex: ['sg'] });

export const SCHEMA: Readonly<Record<EventOp, OpSchema>> = {
  'map-single': MAP,
  'map-page': MAP,
  'map-phys': MAP,
  'map-resource': MAP,
  'unmap-single': UNMAP,
  'unmap-page': UNMAP,
  'unmap-phys': UNMAP,
  'unmap-resource': UNMAP,
  'map-sg': s({ dir: true, attrs: true, complex: ['segments'] }),
  'unmap-sg': s({ dir: true, attrs: true, complex: ['sg'] }),
  'sync-for-cpu': SYNC,
  'sync-for-device': SYNC,
  'sync-sg-for-cpu': SYNC_SG,
  'sync-sg-for-device': SYNC_SG,
  'alloc-coherent': s({ attrs: true, num: ['size'], mapLike: true }),
  'free-coherent': s({ attrs: true, big: ['addr', 'cpuAddr'], num: ['size'] }),
  'mapping-error': s({ big: ['addr'] }),
  'set-mask': s({ extra: 'bits' }),
  'max-mapping-size': s({}),
  unbind: s({}),
  'dev-read': s({ big: ['addr'], num: ['size'] }),
  'dev-write': s({ fill: true, big: ['addr'], num: ['size'], complex: ['data'] }),
  'cpu-read': s({ dev: false, big: ['phys'], num: ['size'] }),
  'cpu-write': s({ dev: false, fill: true, big: ['phys'], num: ['size'], complex: ['data'] }),
  'advance-time': s({ dev: false, num: ['byNs'] }),
  'flush-iotlb': s({ dev: false, extra: 'domain' }),
};

const BY_OP = new Map<string, OpSchema>(Object.entries(SCHEMA));

export function schemaOf(op: string): OpSchema | undefined {
  return BY_OP.get(op);
}
