/**
 * @ess/server: the Event Streaming Service. `startServer(defaultConfig(dataDir))` runs a node;
 * the `ess` CLI (cli/) wraps it for operators.
 */
export { startServer, LOCAL_SOURCE_ID, type EssServer } from './Server.js';
export { defaultConfig, DEFAULT_DASHBOARD_DIR, type ServerConfig } from './config.js';
export { createLogger, type Logger, type LogLevel } from './log.js';
export { assertNativeUws, NativeTransportError, SAFE_SEND_THRESHOLD } from './transport/index.js';
export { planChunks, type ChunkSpec } from './marshal/index.js';
export { MemoryLedger } from './dispatch/MemoryLedger.js';
export { LedgerError } from './dispatch/Ledger.js';
export type { Ledger, TaskSpec, RangePlan, RangeRecord, RangeOutcome, ReapResult, TaskRecord, Lease, LedgerOutcome } from './dispatch/Ledger.js';
export { SqliteLedger } from './dispatch/SqliteLedger.js';
export { ESS_VERSION } from './version.js';
