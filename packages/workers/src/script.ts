// A scenario's top-level `steps` in a worker run: the script runs first, one step at a time, on the
// coordinator's thread. Core's step script builds each event (references, bindings) and checks each
// `expect:` exactly as `dmasim run` does; the coordinator numbers, applies and logs each event.

import { StepScript, type Step, type StepRun } from '@dmasim/core';
import type { Coordinator, Model } from './coordinator.ts';

export interface ScriptStep extends StepRun {
  /** Sequence number of its event in the run (0: not applied). */
  seq: number;
  /** The model refused the request as bad input (the run stopped): the model's message. */
  refused?: string;
}

/** Runs `steps` through `coord` in order; returns what each did, with its expectation failures. */
export function runScript(coord: Coordinator, model: Model, file: string, steps: readonly Step[]): ScriptStep[] {
  const script = new StepScript(file);
  const done: ScriptStep[] = [];
  for (const step of steps) {
    let seq = 0;
    let refused: string | undefined;
    const run = script.run(step, (ev) => {
      if (coord.stopped) return { notRun: 'the run was stopped' };
      const out = coord.applyEvent(-1, ev);
      seq = coord.seq;
      if (out) return model.crashed ? { outcome: out, bug: model.crashed } : { outcome: out };
      // apply threw: the coordinator recorded why (a refused request stops the run).
      const f = coord.findings.at(-1);
      if (f?.kind === 'refused') refused = f.message.replace(`script ${ev.op}: `, '');
      return { notRun: f?.message ?? 'the model did not apply it' };
    });
    const r: ScriptStep = { ...run, seq };
    if (refused !== undefined) r.refused = refused;
    done.push(r);
  }
  return done;
}
