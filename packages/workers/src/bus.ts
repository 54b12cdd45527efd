// The bus: every device's MessagePort, and its task's settlement, as rxjs Observables merged into
// one stream the coordinator subscribes to. Arrival order on this stream is the free schedule.

import type { MessagePort } from 'node:worker_threads';
import { Observable, from, map, merge, catchError, of } from 'rxjs';

export type BusItem =
  | { dev: number; kind: 'msg'; msg: unknown }
  /** The device's port closed: nothing more will arrive from it. */
  | { dev: number; kind: 'closed' }
  /** The device's task returned (`error` undefined) or its thread died / was aborted. */
  | { dev: number; kind: 'settled'; error?: string };

/** A device port as an Observable of its messages; completes when the port closes. */
export function fromPort(port: MessagePort, dev: number): Observable<BusItem> {
  return new Observable<BusItem>((sub) => {
    const onMsg = (msg: unknown): void => sub.next({ dev, kind: 'msg', msg });
    const onErr = (): void => sub.next({ dev, kind: 'msg', msg: new Error('message could not be deserialized') });
    const onClose = (): void => {
      sub.next({ dev, kind: 'closed' });
      sub.complete();
    };
    port.on('message', onMsg);
    port.on('messageerror', onErr);
    port.on('close', onClose);
    return () => {
      port.off('message', onMsg);
      port.off('messageerror', onErr);
      port.off('close', onClose);
    };
  });
}

/** A device task's promise as a one-item Observable. */
export function fromTask(task: Promise<unknown>, dev: number): Observable<BusItem> {
  return from(task).pipe(
    map((): BusItem => ({ dev, kind: 'settled' })),
    catchError((e: unknown) => of<BusItem>({ dev, kind: 'settled', error: e instanceof Error ? e.message : String(e) })),
  );
}

export function makeBus(ports: readonly MessagePort[], tasks: readonly Promise<unknown>[]): Observable<BusItem> {
  return merge(...ports.map((p, i) => fromPort(p, i)), ...tasks.map((t, i) => fromTask(t, i)));
}
