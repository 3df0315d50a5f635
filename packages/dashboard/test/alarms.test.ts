import { describe, expect, test } from 'vitest';
import { AlarmKind, type Alarm } from '@ess/protocol';
import { clientAlarms, mergeAlarms } from '../src/store/alarms.js';
import { applyMessage } from '../src/store/reducer.js';
import { DEFAULT_THRESHOLDS } from '../src/store/thresholds.js';
import { EMPTY_VIEW } from '../src/store/types.js';
import { T0, snapshot, task, worker } from './fixtures/stream.js';

const ctx = { serverNow: T0 + 60_000, workerStaleMs: 15_000, thresholds: DEFAULT_THRESHOLDS };
const source = (id: string, health: 'up' | 'degraded' | 'down') => ({
  id,
  kind: 'http',
  endpoint: `https://${id}`,
  health,
  latencyMs: 10,
  throughput: 1e6,
  requests: 10,
  errors: 0,
  bytes: 0,
  inFlight: 0,
  failovers: 0,
});

describe('alarms', () => {
  test('the dashboard flags workers silent past the threshold even when the server says active', () => {
    const view = applyMessage(EMPTY_VIEW, { msg: snapshot([worker(1, T0 + 59_000), worker(2, T0 + 30_000)]), at: 0 });
    const a = clientAlarms(view, ctx);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ kind: AlarmKind.workerStale, subject: 'w-2', origin: 'client', severity: 'warning' });
  });

  test('many silent workers make one grouped alarm', () => {
    const ws = Array.from({ length: 40 }, (_, i) => worker(i, T0));
    const view = applyMessage(EMPTY_VIEW, { msg: snapshot(ws), at: 0 });
    const a = clientAlarms(view, ctx);
    expect(a).toHaveLength(1);
    expect(a[0]!.subjects).toHaveLength(40);
    expect(a[0]!.message).toMatch(/^40 workers silent/);
  });

  test('sources down, failing tasks and a cold cache raise alarms', () => {
    const view = applyMessage(EMPTY_VIEW, {
      msg: snapshot([], {
        sources: [source('eos', 'up'), source('ral', 'down')],
        tasks: [task(7, { ranges: { ready: 0, assigned: 0, running: 0, finished: 60, failed: 30, fatal: 10, cancelled: 0 } })],
        cache: {
          blockSize: 1,
          tiers: [{ tier: 'memory', hits: 10, misses: 990, hitBytes: 0, bytes: 0, capacity: 1, evictions: 0 }],
          coalesced: 0,
          prefetch: { issued: 0, bytes: 0, used: 0, inFlight: 0 },
        },
      }),
      at: 0,
    });
    const withRatio = { ...view, recentHitRatio: 0.01 };
    const kinds = clientAlarms(withRatio, ctx).map((a) => `${a.kind}:${a.subject}:${a.severity}`);
    expect(kinds).toContain('source_down:ral:critical');
    expect(kinds).toContain('failure_rate:task 7:critical');
    expect(kinds).toContain('cache_hit_low:cache:warning');
    expect(kinds.some((k) => k.startsWith('source_down:eos'))).toBe(false);
  });

  test('a task below the failure threshold, or with too few outcomes, raises nothing', () => {
    const view = applyMessage(EMPTY_VIEW, {
      msg: snapshot([], { tasks: [task(1, { ranges: { ready: 0, assigned: 0, running: 0, finished: 5, failed: 5, fatal: 0, cancelled: 0 } })] }),
      at: 0,
    });
    expect(clientAlarms(view, ctx)).toEqual([]);
  });

  test('merge: the server alarm wins for the same kind and subject; critical first', () => {
    const server: Alarm[] = [{ id: 's1', kind: 'source_down', severity: 'critical', subject: 'ral', message: 'server says', since: T0 }];
    const client = [
      { id: 'c1', kind: 'source_down', severity: 'critical' as const, subject: 'ral', message: 'client says', since: T0, origin: 'client' as const },
      { id: 'c2', kind: 'worker_stale', severity: 'warning' as const, subject: 'w-1', message: 'silent', since: T0 - 5, origin: 'client' as const },
    ];
    const merged = mergeAlarms(server, client);
    expect(merged.map((a) => a.id)).toEqual(['s1', 'c2']);
    expect(merged[0]!.origin).toBe('server');
  });

  test('merge: a grouped alarm drops the subjects the server already reports', () => {
    const server: Alarm[] = [{ id: 's', kind: 'worker_stale', severity: 'warning', subject: 'w-1', message: '', since: T0 }];
    const group = {
      id: 'g',
      kind: 'worker_stale',
      severity: 'warning' as const,
      subject: '3 workers',
      message: '3 workers silent for more than 15 s',
      since: T0,
      origin: 'client' as const,
      subjects: ['w-1', 'w-2', 'w-3'],
    };
    const merged = mergeAlarms(server, [group]);
    expect(merged).toHaveLength(2);
    expect(merged.find((a) => a.origin === 'client')).toMatchObject({ subjects: ['w-2', 'w-3'], message: '2 workers silent for more than 15 s' });
  });
});
