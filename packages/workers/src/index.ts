// Public surface of @dmasim/workers: device programs in worker threads, the bus, the coordinator.
export { runStress, logHash, DEFAULT_DEVICE_NICE, type StressOptions, type StressResult, type Progress, type ProgramAssignment } from './run.ts';
export { Coordinator, type Model, type EventSink, type RunFinding, type RunFindingKind, type DeviceStats, type RunEnd, type TestHooks } from './coordinator.ts';
export { makeScheduler, describeSchedule, PctScheduler, RandomScheduler, type ScheduleSpec } from './schedule.ts';
export { defaultStressPlatform, deviceRegions, STRESS_WORKLOADS } from './platform.ts';
export { makeHost, defaultThreads, cores, type DeviceHost } from './pool.ts';
export { DeviceDriver, dma, physOf, sgEntry, sgList, StopSignal, type DeviceRequest, type DmaIssuer, type IssueOptions } from './driver.ts';
export type { ProgramSpec, DeviceTask } from './device-task.ts';
export {
  WORKLOADS, findWorkload, BUG_KNOBS, BUG_PREFIX, ParamError, resolveParams, MULTI_QUEUE, formatQueues, parseQueues,
  type Workload, type WorkloadContext, type ModuleContext, type Lane, type QueueSpec, type BugKnob, type ParamSpec, type ParamValue,
} from './workloads/index.ts';
export { DEFAULT_WINDOW, RECORDS_PER_BATCH } from './protocol.ts';
export { runCampaign, parseSeedRange, type CampaignOptions, type CampaignResult } from './campaign.ts';
export type { SeedResult, SeedTask, FailOn } from './campaign-task.ts';
export { scenarioPrograms } from './scenario.ts';
export { runScenarioPrograms, scenarioRunFailed, type ScenarioRunOptions, type ScenarioRunResult } from './scenario-run.ts';
export type { ScriptStep } from './script.ts';
export { summaryLines, progressLine, seedLine, findingLine, fmtRate } from './report.ts';
export { measureTransport, ENCODINGS, type Encoding, type TransportResult } from './bench/transport.ts';
/** A bare Map reducer with the Model shape (no DMA semantics): for transport and pipeline ceilings. */
export { MapModel } from './testing/fake-model.ts';
