// The event log: format, writer, streaming reader. The only part of core that does I/O.
export { crc32c } from './crc32c.ts';
export { outcomeDigest, thrownDigest, detailHex, detailTag, errorCode, type OutcomeDigest } from './digest.ts';
export {
  LOG_MAGIC, LOG_FORMAT_VERSION, LogFormatError, LogVersionError, type LogHeader, type EndRecord,
} from './format.ts';
export { type LogRecord, type StateMark } from './codec.ts';
export { LogWriter, DEFAULT_BATCH_EVENTS, DEFAULT_STATE_HASH_EVERY, type LogHeaderInput, type LogWriterOptions } from './writer.ts';
export { LogReader, type LogDamage, type LogStatus, type BatchInfo } from './reader.ts';
export { Recorder, RecordingMachine, recordScenarioRun, type RecordedRun } from './record.ts';
