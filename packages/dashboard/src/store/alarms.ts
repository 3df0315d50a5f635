/**
 * The alarms shown: the server's list, plus what the dashboard finds itself (silent workers, sources down,
 * tasks failing, a cold cache), merged by kind and subject so nothing shows twice. Critical first.
 */
import { AlarmKind, SourceHealth, type Alarm } from '@ess/protocol';
import { cacheTotals, failureRate, staleByClient } from './selectors.js';
import type { Thresholds } from './thresholds.js';
import type { MonitorView } from './types.js';

export interface ShownAlarm extends Alarm {
  /** Who raised it: the server, or the dashboard's own thresholds. */
  readonly origin: 'server' | 'client';
  /** For grouped alarms (many silent workers): the subjects in the group. */
  readonly subjects?: readonly string[];
}

/** Beyond this many silent workers, one alarm names the count instead of one alarm each. */
export const GROUP_STALE_WORKERS_ABOVE = 5;

export interface AlarmContext {
  readonly serverNow: number;
  readonly workerStaleMs: number;
  readonly thresholds: Thresholds;
}

const SEVERITY_RANK = { critical: 0, warning: 1 } as const;

function key(kind: string, subject: string): string {
  return `${kind}\u0000${subject}`;
}

/** The alarms the dashboard raises from its own thresholds. */
export function clientAlarms(view: MonitorView, ctx: AlarmContext): ShownAlarm[] {
  if (!view.ready) return [];
  const out: ShownAlarm[] = [];
  const { thresholds: th } = ctx;

  const stale: { id: string; since: number }[] = [];
  for (const w of view.workers.values()) {
    if (staleByClient(w, ctx.serverNow, ctx.workerStaleMs)) stale.push({ id: w.id, since: w.lastSeen });
  }
  const staleSecs = Math.round(ctx.workerStaleMs / 1000);
  if (stale.length > GROUP_STALE_WORKERS_ABOVE) {
    stale.sort((a, b) => a.since - b.since);
    out.push({
      id: 'client:worker_stale:*',
      kind: AlarmKind.workerStale,
      severity: 'warning',
      subject: `${stale.length} workers`,
      message: `${stale.length} workers silent for more than ${staleSecs} s`,
      since: stale[0]!.since,
      origin: 'client',
      subjects: stale.map((s) => s.id),
    });
  } else {
    for (const s of stale) {
      out.push({
        id: `client:worker_stale:${s.id}`,
        kind: AlarmKind.workerStale,
        severity: 'warning',
        subject: s.id,
        message: `worker ${s.id} silent for more than ${staleSecs} s`,
        since: s.since,
        origin: 'client',
      });
    }
  }

  for (const src of view.sources) {
    if (src.health !== SourceHealth.down) continue;
    out.push({
      id: `client:source_down:${src.id}`,
      kind: AlarmKind.sourceDown,
      severity: 'critical',
      subject: src.id,
      message: `source ${src.id} (${src.endpoint}) is down`,
      since: view.t,
      origin: 'client',
    });
  }

  for (const t of view.tasks.values()) {
    if (t.state !== 'active') continue;
    const rate = failureRate(t.ranges.finished, t.ranges.failed + t.ranges.fatal, th.failureMinOutcomes);
    if (rate === null || rate <= th.failureRate) continue;
    out.push({
      id: `client:failure_rate:task-${t.id}`,
      kind: AlarmKind.failureRate,
      severity: t.ranges.fatal > 0 ? 'critical' : 'warning',
      subject: `task ${t.id}`,
      message: `task ${t.id}: ${(rate * 100).toFixed(0)}% of range outcomes failed (threshold ${(th.failureRate * 100).toFixed(0)}%)`,
      since: view.t,
      origin: 'client',
    });
  }

  const cache = cacheTotals(view.cache);
  const hit = view.recentHitRatio;
  if (cache && cache.lookups >= th.cacheMinLookups && hit !== null && hit < th.cacheHitLow) {
    out.push({
      id: 'client:cache_hit_low',
      kind: AlarmKind.cacheHitLow,
      severity: 'warning',
      subject: 'cache',
      message: `cache hit ratio ${(hit * 100).toFixed(1)}% below ${(th.cacheHitLow * 100).toFixed(0)}%`,
      since: view.t,
      origin: 'client',
    });
  }

  for (const n of view.nodes) {
    if (n.health !== 'down') continue;
    out.push({
      id: `client:node_down:${n.id}`,
      kind: AlarmKind.nodeDown,
      severity: 'critical',
      subject: n.id,
      message: `ESS node ${n.id} (${n.url}) is down`,
      since: n.lastSeen,
      origin: 'client',
    });
  }
  return out;
}

/**
 * Server alarms, then client alarms the server did not already raise for the same kind and subject,
 * sorted critical first, then oldest first.
 */
export function mergeAlarms(server: readonly Alarm[], client: readonly ShownAlarm[]): ShownAlarm[] {
  const seen = new Set<string>();
  const out: ShownAlarm[] = [];
  for (const a of server) {
    seen.add(key(a.kind, a.subject));
    out.push({ ...a, origin: 'server' });
  }
  for (const a of client) {
    if (a.subjects) {
      // A grouped alarm keeps only the subjects the server does not report itself.
      const rest = a.subjects.filter((s) => !seen.has(key(a.kind, s)));
      if (rest.length === 0) continue;
      if (rest.length !== a.subjects.length) {
        out.push({ ...a, subjects: rest, subject: `${rest.length} workers`, message: a.message.replace(/^\d+/, String(rest.length)) });
        continue;
      }
    } else if (seen.has(key(a.kind, a.subject))) {
      continue;
    }
    out.push(a);
  }
  return out.sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || a.since - b.since || a.id.localeCompare(b.id));
}
