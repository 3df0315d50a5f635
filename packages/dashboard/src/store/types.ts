/**
 * The dashboard's state: what the monitor channel said (MonitorView), how the channel is doing
 * (ConnectionInfo), whether the view is paused, and the local clock used for ages.
 */
import type {
  Alarm,
  CacheStats,
  MonitorDelta,
  MonitorSnapshot,
  NodeRow,
  SourceRow,
  TaskRow,
  Totals,
  WorkerRow,
} from '@ess/protocol';
import type { Thresholds } from './thresholds.js';

/** The monitor messages that carry data (everything else is handled by the connection). */
export type MonitorData = MonitorSnapshot | MonitorDelta;

/** One data message as it was received: the message and the local time it arrived. */
export interface Received {
  readonly msg: MonitorData;
  readonly at: number;
}

export interface NodeInfo {
  readonly id: string;
  readonly version: string;
  readonly startedAt: number;
}

/** The state of the service as last reported by the monitor channel. Rows keep their identity until they change. */
export interface MonitorView {
  /** False until the first snapshot arrived. */
  readonly ready: boolean;
  readonly seq: number;
  /** Server clock (ms since the epoch) of the last applied message. */
  readonly t: number;
  /** Local clock when that message arrived; with `t` it estimates the server's clock now. */
  readonly receivedAt: number;
  readonly intervalMs: number;
  readonly node: NodeInfo | null;
  readonly workers: ReadonlyMap<string, WorkerRow>;
  readonly tasks: ReadonlyMap<number, TaskRow>;
  readonly totals: Totals | null;
  readonly cache: CacheStats | null;
  readonly sources: readonly SourceRow[];
  readonly alarms: readonly Alarm[];
  readonly nodes: readonly NodeRow[];
  /** Deltas whose seq did not follow the previous one (lost or reordered messages). */
  readonly seqGaps: number;
  /** Cache hit ratio over the recent window (see series), or null when there were no lookups. */
  readonly recentHitRatio: number | null;
}

/**
 * open: live data flowing; connecting: opening a socket or waiting to retry; stale: the socket is open
 * but no data arrived for `staleIntervals` × intervalMs; closed: not retrying (token needed, version mismatch, stopped).
 */
export type ConnState = 'connecting' | 'open' | 'stale' | 'closed';

export interface ConnectionInfo {
  readonly state: ConnState;
  /** Local time the state last changed. */
  readonly since: number;
  /** Failed attempts since the last snapshot. */
  readonly attempt: number;
  /** Local time of the next reconnect attempt, when one is scheduled. */
  readonly retryAt: number | null;
  readonly closeCode: number | null;
  readonly closeReason: string | null;
  /** A plain sentence for people when the connection is not fine. */
  readonly problem: string | null;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: number } | null;
  /** The server refused the token (or asked for one): show the token form. */
  readonly needToken: boolean;
  readonly server: { readonly id: string; readonly version: string } | null;
  readonly session: string | null;
  /** The server's heartbeat period from `welcome.limits`, used to judge worker silence. */
  readonly heartbeatMs: number | null;
  /** Local time the last snapshot or delta arrived (not frozen by pause). */
  readonly lastDataAt: number | null;
  readonly decodeErrors: number;
}

export interface PauseInfo {
  /** Local time the view was frozen; ages in the frozen view are computed at this instant. */
  readonly since: number;
  /** Data messages applied to the shadow state since. */
  readonly held: number;
}

export interface DashboardState {
  readonly view: MonitorView;
  readonly connection: ConnectionInfo;
  readonly paused: PauseInfo | null;
  /** Local clock, advanced once a second by `tick`; drives ages and client-side staleness. */
  readonly now: number;
  readonly thresholds: Thresholds;
}

export const EMPTY_VIEW: MonitorView = Object.freeze({
  ready: false,
  seq: 0,
  t: 0,
  receivedAt: 0,
  intervalMs: 1000,
  node: null,
  workers: new Map<string, WorkerRow>(),
  tasks: new Map<number, TaskRow>(),
  totals: null,
  cache: null,
  sources: [],
  alarms: [],
  nodes: [],
  seqGaps: 0,
  recentHitRatio: null,
});
