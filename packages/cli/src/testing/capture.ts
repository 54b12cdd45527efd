// Test helper: captures what a command writes to stdout and stderr, fresh for every test.
import { afterEach, beforeEach, vi } from 'vitest';

export interface Captured {
  stdout: string;
  stderr: string;
}

/** Call at the top of a test file; read `out.stdout` / `out.stderr` inside tests. */
export function captureOutput(): Captured {
  const c = { stdout: '', stderr: '' };
  beforeEach(() => {
    c.stdout = '';
    c.stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((c.stdout += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((c.stderr += String(s)), true));
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  return c;
}
