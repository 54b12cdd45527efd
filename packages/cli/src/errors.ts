// Errors and the exit-code table every dmasim command uses.

export const EXIT = {
  /** success */
  OK: 0,
  /** the run found what it was asked to find: an expectation failed, a finding, a divergence */
  FOUND: 1,
  /** bad input or usage */
  BAD_INPUT: 2,
  /** internal error: please report it */
  INTERNAL: 3,
} as const;

export const EXIT_TABLE = `Exit codes:
  0  success
  1  the run found what it was asked to find (an expectation failed, a finding, a divergence)
  2  bad input or usage (the message names the file, line and key where there is one)
  3  internal error (please report it, with the seed and the log path)`;

/** Bad input or usage: exit 2, message printed as is (no stack). */
export class InputError extends Error {
  readonly code = 'BAD_INPUT';
}
