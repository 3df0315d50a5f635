/**
 * @ess/client: the worker side of ESS. `new EssWorker({ url, task, outDir }).run()` receives
 * ranges into files and reports them; the `ess worker` / `ess-worker` CLI wraps it.
 */
export { EssWorker, WorkerError, type WorkerOptions, type WorkerEvent, type WorkerSummary } from './Worker.js';
export { RangeReceiver, RangeIntegrityError, rangeFilePath } from './RangeReceiver.js';
export { PayloadRunner, shellQuote, type PayloadResult } from './PayloadRunner.js';
export { Backoff } from './backoff.js';
export { ArrowRangeReceiver, arrowRangeFilePath, readArrowRangeFile, ARROW_RANGE_FORMAT, ARROW_RANGE_VERSION, type ArrowRangeFile } from './ArrowRangeReceiver.js';
