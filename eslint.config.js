// Lint and architecture guards. The determinism rule for packages/core lives in
// `determinismRules` so a test can run it against a fixture (test/lint-determinism.test.ts).
import tseslint from 'typescript-eslint';

export const determinismRules = {
  'no-restricted-globals': [
    'error',
    { name: 'setTimeout', message: 'core is deterministic: timers come from the virtual clock' },
    { name: 'setInterval', message: 'core is deterministic: timers come from the virtual clock' },
    { name: 'setImmediate', message: 'core is deterministic: timers come from the virtual clock' },
    { name: 'performance', message: 'core is deterministic: time comes from the virtual clock' },
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Math', property: 'random', message: 'core is deterministic: use the machine PRNG (util/prng.ts)' },
    { object: 'Date', property: 'now', message: 'core is deterministic: use the virtual clock' },
    { object: 'performance', property: 'now', message: 'core is deterministic: use the virtual clock' },
  ],
  'no-restricted-syntax': [
    'error',
    { selector: "NewExpression[callee.name='Date']", message: 'core is deterministic: use the virtual clock' },
  ],
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'runs/**', 'coverage/**', 'test/fixtures/**', 'bench/results*'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['packages/core/src/**/*.ts'],
    ignores: ['packages/core/src/**/*.test.ts', 'packages/core/src/log/**'],
    rules: determinismRules,
  },
  {
    files: ['packages/core/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@dmasim/*', 'piscina', 'rxjs', 'pino', 'node:worker_threads'], message: '@dmasim/core depends on nothing in the repo and never uses threads' }] }],
    },
  },
);
