// The log writer's batch encoder alone: re-encodes a log's records (events and their recorded
// outcome fields) with BatchEncoder, several rounds in one process, and prints ns per event (figure
// 1's "read+decode" column is the other direction). The coordinator pays the encoder for every
// applied event (BENCHMARKS.md, figure 2):
//   pnpm tsx bench/encode-cost.ts LOG [ROUNDS]
import '../packages/cli/src/v8-tuning.ts'; // as dmasim and the bench run
import { LogReader, type LogRecord } from '../packages/core/src/index.ts';
import { BatchEncoder } from '../packages/core/src/log/codec.ts';
import type { OutcomeDigest } from '../packages/core/src/log/digest.ts';

const [file, roundsArg = '6'] = process.argv.slice(2);
if (!file) throw new Error('usage: bench/encode-cost.ts LOG [ROUNDS]');
const reader = LogReader.open(file);
const recs: LogRecord[] = [];
for (const b of reader.batches()) for (const rec of b.records) recs.push(rec);
reader.close();
const batch = reader.header.batchEvents;
const enc = new BatchEncoder();
// One digest object, as LogWriter.append fills one (the chain word `lo` is not in the log: 0 here).
const d: OutcomeDigest = { result: 0n, error: false, path: 'none', hi: 0, lo: 0, thrown: undefined };
for (let round = 1; round <= Number(roundsArg); round++) {
  const t = performance.now();
  for (const rec of recs) {
    d.result = rec.result;
    d.error = rec.error;
    d.path = rec.path;
    d.hi = rec.tag;
    d.thrown = rec.thrown;
    enc.add(rec.event, d);
    if (enc.count >= batch) enc.finish();
  }
  enc.finish();
  console.log(`round ${round}: encode ${Math.round(((performance.now() - t) * 1e6) / recs.length)} ns/event (${recs.length} events)`);
}
