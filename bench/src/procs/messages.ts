/** The IPC contract between the benchmark driver and its agent processes (child_process.fork). */

/** A byte span of one event range in one file, and how to fetch it over HTTP. */
export interface SpanJob {
  readonly url: string;
  readonly offset: number;
  readonly length: number;
  readonly events: number;
}

export interface EssConnectOptions {
  /** ws://host:port of the node. */
  readonly url: string;
  /** Connections this agent opens. */
  readonly count: number;
  /** Worker id prefix (the agent adds its index and the connection's). */
  readonly idPrefix: string;
  /** What the connections do: stream and report (`count`), only say hello (`idle`), or run a simulated payload (`payload`). */
  readonly mode: 'count' | 'idle' | 'payload';
  /** hello.want */
  readonly want?: { maxChunk?: number; window?: number; prefetch?: number };
  /** Stop reading the socket once this many payload bytes arrived (slow consumers). */
  readonly pauseAfterBytes?: number;
  /** payload mode: simulated processing time per event (ms). */
  readonly costMsPerEvent?: number;
  /** Connections opened at once. */
  readonly concurrency?: number;
}

export type AgentCommand =
  | { readonly cmd: 'ess-connect'; readonly o: EssConnectOptions }
  /** Closes every ESS connection of this agent. */
  | { readonly cmd: 'ess-close' }
  /** Counters of this agent's ESS connections (and resets the payload clock when `reset`). */
  | { readonly cmd: 'ess-stats'; readonly resetClock?: boolean }
  /** Resumes reading on paused connections. */
  | { readonly cmd: 'ess-resume' }
  | { readonly cmd: 'ceiling'; readonly url: string; readonly index: number; readonly total: number; readonly passes: number; readonly mode?: 'prebuilt' | 'alloc' | 'pool' }
  | { readonly cmd: 'http'; readonly origin: string; readonly spans: readonly SpanJob[]; readonly inflight: number }
  | {
      readonly cmd: 'direct-payload';
      readonly origin: string;
      readonly spans: readonly SpanJob[];
      readonly costMsPerEvent: number;
      /** Ranges fetched ahead of the one being processed (0: fetch on demand). */
      readonly readAhead: number;
    }
  | { readonly cmd: 'exit' };

export interface EssStats {
  readonly connections: number;
  readonly welcomed: number;
  readonly paused: number;
  readonly bytes: number;
  readonly events: number;
  readonly ranges: number;
  readonly errors: readonly string[];
  /** payload mode: ms the payload spent processing / waiting for data since the clock was reset, and when it last finished a range. */
  readonly busyMs: number;
  readonly waitMs: number;
  readonly lastDoneMs: number;
  /** payload mode: sum over connections of the time until each could start its first range. */
  readonly firstMs: number;
}

export interface TransferResult {
  readonly bytes: number;
  readonly events: number;
  readonly ms: number;
  readonly requests: number;
}

export interface PayloadResult {
  readonly busyMs: number;
  readonly waitMs: number;
  readonly wallMs: number;
  readonly ranges: number;
  readonly bytes: number;
  /** Time until the first range was fetched. */
  readonly firstMs: number;
}

/** Agent → driver. */
export type AgentMessage =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string }
  /** Ranges reported finished (and acknowledged) since the last such message. */
  | { readonly ev: 'ranges'; readonly ranges: number; readonly bytes: number; readonly events: number }
  | { readonly ev: 'log'; readonly message: string };
