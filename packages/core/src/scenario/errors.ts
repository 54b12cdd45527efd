// ScenarioError: bad input in a scenario file, located at file:line:col and named by its key path.

/** A position in a scenario file (1-based line and column). */
export interface Loc { line: number; col: number }

/**
 * A scenario file is wrong (syntax, schema, unbound reference, a request the model refuses).
 * `message` is the full located text: `<file>:<line>:<col>: <key>: <what>`; the CLI prints it as is
 * and exits 2.
 */
export class ScenarioError extends Error {
  readonly code = 'BAD_INPUT';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    /** Key path such as `devices[1].mask`; empty when the error concerns the whole file. */
    readonly key: string,
    /** The bare problem, without location. */
    readonly problem: string,
  ) {
    super(`${file}:${line}:${col}: ${key ? key + ': ' : ''}${problem}`);
    this.name = 'ScenarioError';
  }

  static at(file: string, loc: Loc, key: string, problem: string): ScenarioError {
    return new ScenarioError(file, loc.line, loc.col, key, problem);
  }
}
