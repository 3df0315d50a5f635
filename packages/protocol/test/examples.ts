// One realistic example of every message of both channels, shared by the codec tests.
// Every optional field is filled in, so a round trip exercises all of them.
import {
  CLIENT_MESSAGE_TYPES,
  SERVER_MESSAGE_TYPES,
  type ClientMessage,
  type MonitorDelta,
  type MonitorSnapshot,
  type ServerMessage,
  type TaskRow,
  type WorkerRow,
} from '../src/index.js';

/** Deterministic pseudo-random bytes (the payload of a chunk looks like event records). */
export function bytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const T0 = 1_760_000_000_000; // ms since the epoch: above 2^32, so encoded as float 64

export const workerRow: WorkerRow = {
  id: 'nid001234-8812',
  label: 'perlmutter nid001234',
  site: 'NERSC',
  node: 'ess-1:7400',
  health: 'active',
  task: 7,
  connectedAt: T0 - 60_000,
  lastSeen: T0 - 120,
  bytes: 6_442_450_944, // 6 GiB: beyond 32 bits
  events: 61_440,
  rate: 104_857_600,
  eventRate: 1024.5,
  window: 8_388_608,
  inFlight: 3_145_728,
  rangesInFlight: 2,
  rangesFinished: 117,
  rangesFailed: 1,
  hitBytes: 4_294_967_296,
  missBytes: 2_147_483_648,
};

export const taskRow: TaskRow = {
  id: 7,
  dataset: 'data18_13TeV:gen1',
  state: 'active',
  createdAt: T0 - 3_600_000,
  priority: 10,
  rangeSize: 100,
  ranges: { ready: 80, assigned: 4, running: 2, finished: 110, failed: 1, fatal: 0, cancelled: 0 },
  rangesTotal: 197,
  events: 19_700,
  eventsDone: 11_050,
  eventRate: 512.3,
  etaSeconds: 17,
};

const totals = { bytes: 6_442_450_944, events: 61_440, rate: 104_857_600, eventRate: 1024.5, workers: 3, activeWorkers: 2, tasksActive: 1 };
const cache = {
  blockSize: 4_194_304,
  tiers: [{ tier: 'memory', hits: 900, misses: 100, hitBytes: 3_774_873_600, bytes: 1_073_741_824, capacity: 2_147_483_648, evictions: 12 }],
  coalesced: 31,
  prefetch: { issued: 40, bytes: 167_772_160, used: 38, inFlight: 2 },
};
const sources = [
  { id: 'local', kind: 'file', endpoint: '/srv/ess', health: 'up' as const, latencyMs: 0.4, throughput: 1.2e9, requests: 5000, errors: 0, bytes: 6_442_450_944, inFlight: 3, failovers: 0 },
  { id: 'cern-xrootd', kind: 'http', endpoint: 'https://eosatlas.example:1094', health: 'degraded' as const, latencyMs: 85.5, throughput: 5.1e7, requests: 120, errors: 7, bytes: 503_316_480, inFlight: 1, failovers: 2 },
];
const alarms = [
  { id: 'worker_stale:nid001299-1', kind: 'worker_stale', severity: 'warning' as const, subject: 'nid001299-1', message: 'no word from worker nid001299-1 for 12 s', since: T0 - 2000 },
];
const nodes = [{ id: 'ess-1:7400', url: 'http://ess-1:7400', health: 'up' as const, lastSeen: T0, workers: 3, rate: 104_857_600 }];

export const snapshot: MonitorSnapshot = {
  type: 'snapshot',
  seq: 41,
  t: T0,
  intervalMs: 250,
  node: { id: 'ess-1:7400', version: '0.1.0', startedAt: T0 - 86_400_000 },
  workers: [workerRow, { ...workerRow, id: 'nid001299-1', health: 'stale', task: null, rangesInFlight: 0, inFlight: 0 }],
  tasks: [taskRow],
  totals,
  cache,
  sources,
  alarms,
  nodes,
};

export const delta: MonitorDelta = {
  type: 'delta',
  seq: 42,
  t: T0 + 250,
  workers: [{ ...workerRow, bytes: workerRow.bytes + 26_214_400, lastSeen: T0 + 200 }],
  gone: ['nid000001-77'],
  tasks: [{ ...taskRow, eventsDone: 11_178 }],
  totals,
  cache: null,
  sources,
  alarms: [],
  nodes,
};

export const chunkData = bytes(70 * 1024 + 13, 7);

/** Every client → server message. */
export const clientExamples: Record<ClientMessage['type'], ClientMessage> = {
  hello: {
    type: 'hello',
    protocol: 1,
    role: 'worker',
    token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwaWxvdCJ9.c2lnbmF0dXJl',
    worker: { id: 'nid001234-8812', label: 'perlmutter nid001234', site: 'NERSC' },
    want: { maxChunk: 1_048_576, window: 8_388_608, prefetch: 2 },
    agent: 'ess-client/20.19.0',
    resume: [
      { range: '7-3-12-2', token: 'q3J0m1Yt8kzQd2aF', bytes: 3_145_728, chunks: 3, crc32: 0x1c291ca3, complete: false },
      { range: '7-3-13-1', token: 'Zb81mQ0cPz4kLw7e', bytes: 0, chunks: 0, crc32: 0, complete: true },
    ],
  },
  subscribe: { type: 'subscribe', task: 7 },
  credit: { type: 'credit', limit: 12_582_912 },
  report: {
    type: 'report',
    range: '7-3-12-2',
    token: 'q3J0m1Yt8kzQd2aF',
    status: 'failed',
    eventsDone: 40,
    message: 'payload exited with 137',
    eventsRead: 100,
    eventsPassed: 37,
  },
  heartbeat: { type: 'heartbeat', t: T0 },
};

/** Every server → client message (worker channel and monitor channel). */
export const serverExamples: Record<ServerMessage['type'], ServerMessage> = {
  welcome: {
    type: 'welcome',
    protocol: 1,
    role: 'worker',
    server: { id: 'ess-1:7400', version: '0.1.0' },
    session: '0b9c7f4e-3d2a-4c51-9e8f-2a6b1d0c9e77',
    worker: 'nid001234-8812',
    limits: { maxChunk: 1_048_576, window: 8_388_608, prefetch: 2, heartbeatMs: 5000, leaseMs: 30_000, maxFrame: 65_536 },
  },
  assign: {
    type: 'assign',
    range: {
      eventRangeID: '7-3-12-2',
      taskID: 7,
      scope: 'data18_13TeV',
      LFN: 'gen1._000004.ess',
      GUID: '96805323-046a-4abb-9e57-f09787fb0ae5',
      startEvent: 1200,
      lastEvent: 1299,
      attempt: 2,
      dataset: 'data18_13TeV:gen1',
      bytes: 10_485_760,
    },
    token: 'q3J0m1Yt8kzQd2aF',
    content: {
      records: 'root',
      file: 'arrow',
      tree: 'Events',
      columns: [
        { name: 'run', type: 'uint32' },
        { name: 'event', type: 'uint64' },
        { name: 'nMuon', type: 'uint32' },
        { name: 'Muon_pt', type: 'list<float32>' },
        { name: 'Muon_charge', type: 'list<int32>' },
        { name: 'MET_pt', type: 'float32' },
      ],
      skim: 'nMuon >= 2 && MET_pt > 30.0',
      slim: ['run', 'event', 'nMuon', 'Muon_pt', 'Muon_charge', 'MET_pt'],
    },
  },
  chunk: {
    type: 'chunk',
    range: '7-3-12-2',
    seq: 3,
    offset: 3_145_728,
    entries: [1230, 1231, 1232],
    sizes: [30_000, 25_000, 40_000],
    data: chunkData,
  },
  end: { type: 'end', range: '7-3-12-2', chunks: 11, bytes: 10_485_760, events: 100, eventsRead: 100, crc32: 0xcbf43926 },
  ack: { type: 'ack', range: '7-3-12-2', status: 'finished', duplicate: false },
  done: { type: 'done', task: 7, reason: 'complete' },
  revoke: { type: 'revoke', range: '7-3-12-2', reason: 'lease expired' },
  resumed: { type: 'resumed', ranges: ['7-3-12-2'], refused: [{ range: '7-3-13-1', code: 'lease_expired', reason: 'the range is ready, attempt 1' }] },
  heartbeat: { type: 'heartbeat', t: T0 },
  error: { type: 'error', code: 'lease_expired', message: 'range 7-3-12-2 is no longer held by this worker', fatal: false, ref: '7-3-12-2' },
  snapshot,
  delta,
};

export const clientTypes = CLIENT_MESSAGE_TYPES as readonly string[];
export const serverTypes = SERVER_MESSAGE_TYPES as readonly string[];

/**
 * A comparable form of a value for deep equality across decoders: every Buffer or other
 * Uint8Array becomes `{ $bin: hex }` (fast to compare, and never equal to a string or an array),
 * undefined fields are left out.
 */
export function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = plain(x);
    return out;
  }
  return v;
}
