// Shared by `run` and `diff-kernels`: reading a scenario file and the --kernel option.

import { readFileSync } from 'node:fs';
import { loadScenario, PROFILES, type Profile, type Scenario } from '@dmasim/core';
import { InputError } from '../errors.ts';

export function parseProfile(flag: string, v: string): Profile {
  if ((PROFILES as readonly string[]).includes(v)) return v as Profile;
  throw new InputError(`${flag}: expected one of ${PROFILES.join(', ')}, got "${v}"`);
}

/** Reads and loads a scenario; a missing file or a bad one is an InputError / ScenarioError (exit 2). */
export function readScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new InputError(`${file}: cannot read: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
  return loadScenario(text, file);
}

/** An error that means bad input (exit 2), as opposed to a dmasim bug. */
export function isBadInput(e: unknown): e is Error {
  return e instanceof Error && (e as { code?: string }).code === 'BAD_INPUT';
}
