// A scenario's top-level `steps` under `dmasim stress`: the script runs first, one step at a time,
// through the same record encoding and handle resolution as device programs (a synchronous local
// channel instead of a MessagePort), and the coordinator applies and logs each event.

import type { Outcome, Step } from '@dmasim/core';
import type { Coordinator } from './coordinator.ts';
import { DeviceDriver, type Channel } from './driver.ts';
import { Batch, type CoordinatorMessage } from './protocol.ts';
import { DeviceHandles, MalformedRecord, refHandle } from './resolve.ts';
import { stepHandles, stepRequest } from './workloads/steps.ts';

export interface ScriptStep { step: Step; seq: number; outcome: Outcome | null; skipped?: string }

/** Runs `steps` through `coord` in order; returns what each did (for the step expectations). */
export function runScript(coord: Coordinator, steps: readonly Step[]): ScriptStep[] {
  const handles = new DeviceHandles('');
  const names = stepHandles(steps);
  const done: ScriptStep[] = [];
  let current: Step | undefined;
  let deliver: ((m: CoordinatorMessage) => void) | undefined;
  const ch: Channel = {
    post(ab) {
      const b = new Batch(ab);
      const step = current!;
      for (let i = 0; i < b.count; i++) {
        const r: ScriptStep = { step, seq: 0, outcome: null };
        try {
          const dec = handles.decode(b, i, step.dev ?? '');
          if (dec.kind === 'skip') r.skipped = 'its buffer failed to map';
          else if (dec.kind === 'event') {
            const out = coord.applyEvent(-1, dec.ev);
            r.seq = coord.seq;
            r.outcome = out;
            if (out && dec.bind !== 0xffffffff) handles.bind(dec.bind, dec.ev, out, dec.checked);
            else if (out && dec.ev.op === 'mapping-error') handles.markChecked(dec.ev, out, refHandle(b, i));
          }
        } catch (e) {
          if (!(e instanceof MalformedRecord)) throw e;
          r.skipped = e.message;
        }
        done.push(r);
      }
      deliver?.({ t: 'ret', buf: ab });
    },
    onMessage(cb) {
      deliver = cb;
    },
    close() {},
  };
  const drv = new DeviceDriver(ch, 2);
  for (const step of steps) {
    if (coord.stopped) break;
    current = step;
    const [req, o] = stepRequest(step, names);
    void drv.issue(req, o);
    void drv.flush();
  }
  return done;
}
