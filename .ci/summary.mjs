// Prints vitest's JSON result as the plain closing line CI reads: "N passed, N failed".
import { readFileSync, existsSync } from 'node:fs';

const file = process.argv[2] ?? '.vitest-results.json';
if (!existsSync(file)) {
  console.log('0 passed, 1 failed');
  console.error(`no test results at ${file}: the test run did not finish`);
  process.exit(1);
}
const r = JSON.parse(readFileSync(file, 'utf8'));
const failed = r.numFailedTests ?? 0;
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
const line = `${r.numPassedTests ?? 0} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : '');
console.log(line);
if (failed > 0 || (r.numFailedTestSuites ?? 0) > 0 || r.success === false) process.exitCode = 1;
