import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'core', root: 'packages/core', include: ['src/**/*.test.ts'] } },
      { test: { name: 'workers', root: 'packages/workers', include: ['src/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
      { test: { name: 'cli', root: 'packages/cli', include: ['src/**/*.test.ts'], testTimeout: 60_000 } },
      { test: { name: 'e2e', root: 'test', include: ['**/*.test.ts'], exclude: ['**/node_modules/**', 'fixtures/**'], testTimeout: 300_000, hookTimeout: 120_000 } },
    ],
  },
});
