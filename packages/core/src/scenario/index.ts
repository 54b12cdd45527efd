// Public surface of the scenario subsystem (re-exported by @dmasim/core).
export { ScenarioError, type Loc } from './errors.ts';
export { loadScenario } from './loader.ts';
export { runScenario, buildScenarioMachine, type RunOptions, type RunResult, type TraceEntry, type DmesgEntry, type FindingEntry } from './runner.ts';
export { StepScript, stepName, type StepRun, type Applied } from './script.ts';
export { matchDmesgOrdered, checkStepExpect, checkRunExpect, fmtAddr, type Failure, type StepActual, type RunActual } from './expect.ts';
export { formatFailure, diffRuns, formatDiff, sideBySide, type KernelDiff, type StepDiff, type FieldDiff } from './report.ts';
export { ftraceLine, ftraceTask, ftraceHeader, dmesgLine, type FtraceContext, type FtraceTask } from './ftrace.ts';
export { toJson, runResultJson, failureJson, stepRunJson, type Json } from './json.ts';
export { parseInteger, parseDuration, parseHexBytes, parseRef, bytesToHex } from './values.ts';
export type * from './types.ts';
