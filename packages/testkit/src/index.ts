/**
 * @ess/testkit: the harness for integration tests and benchmarks. Real servers on port 0,
 * generated datasets, worker processes, a scriptable raw peer, polling assertions.
 */
export { waitFor, type WaitOptions } from './poll.js';
export { tempDir, type TempDir } from './tmp.js';
export { Teardown } from './teardown.js';
export { makeDataset, checkRangeFiles, type DatasetSpec, type RangeFileCheck } from './dataset.js';
export { startTestServer, createTask, taskStatus, type TestServerOptions, type CreatedTask, type TaskStatus } from './server.js';
export { spawnWorker, runFromSource, killNow, REPO_ROOT, WORKER_CLI, ESS_CLI, FROM_SOURCE, type ProcessHandle, type WorkerProcessOptions } from './workers.js';
export { RawWorker, type RawWorkerOptions } from './RawWorker.js';
export { api, apiOk } from './api.js';
export { runWorker, type InProcessWorker } from './inProcessWorkers.js';
export { startRedis, type RedisServer, type RedisServerOptions } from './redis.js';
export {
  startNginx,
  startXrootd,
  startProxy,
  freePort,
  type AccessRecord,
  type NginxHandle,
  type XrootdHandle,
  type ProxyHandle,
  type ProxyOptions,
} from './origins.js';
