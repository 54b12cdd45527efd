// The lint rule that keeps packages/core deterministic fires on Math.random, Date.now, new Date,
// performance.now and timers.
import { ESLint } from 'eslint';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = readFileSync(new URL('./fixtures/lint/uses-random.ts', import.meta.url), 'utf8');

describe('core determinism lint rule', () => {
  it('reports Math.random, Date.now, new Date, performance.now and setTimeout in packages/core/src', async () => {
    const eslint = new ESLint({ cwd: root });
    const [res] = await eslint.lintText(fixture, { filePath: `${root}/packages/core/src/fixture-under-test.ts` });
    const msgs = res!.messages.map((m) => m.message);
    expect(msgs.some((m) => m.includes('use the machine PRNG'))).toBe(true);
    expect(msgs.filter((m) => m.includes('virtual clock')).length).toBeGreaterThanOrEqual(4);
    expect(msgs.some((m) => m.includes('timers come from the virtual clock'))).toBe(true);
  });

  it('does not apply outside packages/core', async () => {
    const eslint = new ESLint({ cwd: root });
    const [res] = await eslint.lintText(fixture, { filePath: `${root}/packages/workers/src/fixture-under-test.ts` });
    expect(res!.messages.filter((m) => m.message.includes('core is deterministic'))).toEqual([]);
  });
});
