// The workload registry: what `dmasim workloads` lists and what `programs:` entries may name.

import { coherentRings } from './coherent-rings.ts';
import type { Workload } from './common.ts';
import { gpuP2p } from './gpu-p2p.ts';
import { multiQueue } from './multi-queue.ts';
import { nicRx } from './nic-rx.ts';
import { nicTx } from './nic-tx.ts';
import { nvme } from './nvme.ts';

/** The workloads a device (or one queue of a multi-queue device) runs. */
const SINGLE: readonly Workload[] = [nicRx, nicTx, nvme, gpuP2p, coherentRings];

export const WORKLOADS: readonly Workload[] = [...SINGLE, multiQueue(SINGLE)];

export function findWorkload(name: string): Workload | undefined {
  return WORKLOADS.find((w) => w.name === name);
}

export type { Workload, WorkloadContext, ModuleContext, DeviceInfo, Lane } from './common.ts';
export { MULTI_QUEUE, formatQueues, parseQueues, type QueueSpec } from './multi-queue.ts';
export { BUG_KNOBS, BUG_PREFIX, ParamError, resolveParams, type BugKnob, type ParamSpec, type ParamValue } from './params.ts';
