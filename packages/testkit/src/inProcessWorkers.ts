/**
 * Workers in the test process: the real client library (`EssWorker`) over real sockets, for tests
 * that need many workers at once or their events' timing, where a process each would swamp the machine.
 */
import { EssWorker, type WorkerEvent, type WorkerOptions, type WorkerSummary } from '@ess/client';

export interface InProcessWorker {
  readonly worker: EssWorker;
  /** Every event the worker emitted, with the time it happened (ms, performance.now()). */
  readonly events: { at: number; event: WorkerEvent }[];
  readonly done: Promise<WorkerSummary>;
}

export function runWorker(o: WorkerOptions): InProcessWorker {
  const events: { at: number; event: WorkerEvent }[] = [];
  const worker = new EssWorker({
    ...o,
    onEvent: (event) => {
      events.push({ at: performance.now(), event });
      o.onEvent?.(event);
    },
  });
  return { worker, events, done: worker.run() };
}
