/** The headline figures: throughput, events/s, workers, cache hit ratio, tasks, with the live chart beside them. */
import { useMemo, type ReactNode } from 'react';
import { formatByteRate, formatBytes, formatCompact, formatCount, formatEventRate, formatPercent } from '../format/units.js';
import { useDashboard } from '../store/react.js';
import { cacheHitRatio, failureRate, selectServerNow, selectWorkerStaleMs } from '../store/selectors.js';
import { countHealth } from '../store/workers.js';
import { ThroughputChart } from './ThroughputChart.js';

function Kpi(props: { testId: string; label: string; value: string; raw: number | null; sub?: ReactNode; tone?: 'ok' | 'warn' | 'crit' }) {
  return (
    <div className={`kpi ${props.tone ? `kpi-${props.tone}` : ''}`} data-testid={props.testId} data-value={props.raw ?? ''}>
      <div className="kpi-label">{props.label}</div>
      <div className="kpi-value">{props.value}</div>
      <div className="kpi-sub">{props.sub ?? '\u00a0'}</div>
    </div>
  );
}

export function Overview() {
  const ready = useDashboard((s) => s.view.ready);
  const totals = useDashboard((s) => s.view.totals);
  const workers = useDashboard((s) => s.view.workers);
  const tasks = useDashboard((s) => s.view.tasks);
  const cache = useDashboard((s) => s.view.cache);
  const recentHit = useDashboard((s) => s.view.recentHitRatio);
  const hitLow = useDashboard((s) => s.thresholds.cacheHitLow);
  const staleMs = useDashboard(selectWorkerStaleMs);
  const serverSecond = useDashboard((s) => Math.floor(selectServerNow(s) / 1000));

  const health = useMemo(() => countHealth(workers.values(), { serverNow: serverSecond * 1000, staleMs }), [workers, serverSecond, staleMs]);
  const ranges = useMemo(() => {
    let running = 0;
    let finished = 0;
    let failed = 0;
    for (const t of tasks.values()) {
      running += t.ranges.running + t.ranges.assigned;
      finished += t.ranges.finished;
      failed += t.ranges.failed + t.ranges.fatal;
    }
    return { running, finished, failed, failureRate: failureRate(finished, failed) };
  }, [tasks]);
  const failHigh = useDashboard((s) => s.thresholds.failureRate);

  const hit = cache ? (recentHit ?? cacheHitRatio(cache)) : null;
  const problems = health.stale + health.gone;

  return (
    <section className="overview" data-testid="overview" aria-label="Overview">
      <div className="kpis">
        <Kpi
          testId="kpi-throughput"
          label="Throughput"
          value={ready ? formatByteRate(totals?.rate) : '—'}
          raw={totals?.rate ?? null}
          sub={ready && totals ? `${formatBytes(totals.bytes)} delivered` : undefined}
        />
        <Kpi
          testId="kpi-event-rate"
          label="Events"
          value={ready ? formatEventRate(totals?.eventRate) : '—'}
          raw={totals?.eventRate ?? null}
          sub={ready && totals ? `${formatCompact(totals.events)} events delivered` : undefined}
        />
        <Kpi
          testId="kpi-active-workers"
          label="Active workers"
          value={ready && totals ? formatCount(totals.activeWorkers) : '—'}
          raw={totals?.activeWorkers ?? null}
          tone={problems > 0 ? 'warn' : undefined}
          sub={
            ready && totals ? (
              <>
                of {formatCount(totals.workers)}
                {problems === 0 && ' connected'}
                {problems > 0 && (
                  <span className="kpi-alert" data-testid="kpi-stale-workers" data-value={health.stale}>
                    {' '}
                    · {health.stale} stale{health.gone > 0 ? ` · ${health.gone} gone` : ''}
                  </span>
                )}
              </>
            ) : undefined
          }
        />
        <Kpi
          testId="kpi-cache-hit-ratio"
          label="Cache hit ratio"
          value={!ready ? '—' : cache ? formatPercent(hit) : 'no cache'}
          raw={hit}
          tone={hit !== null && hit < hitLow ? 'warn' : undefined}
          sub={!ready ? undefined : cache ? (recentHit !== null ? 'last minute, by requests' : 'since start') : 'no cache configured'}
        />
        <Kpi
          testId="kpi-tasks-active"
          label="Tasks in progress"
          value={ready && totals ? formatCount(totals.tasksActive) : '—'}
          raw={totals?.tasksActive ?? null}
          sub={ready ? `${formatCount(ranges.running)} ranges assigned or running` : undefined}
        />
        <Kpi
          testId="kpi-ranges-finished"
          label="Ranges finished"
          value={ready ? formatCount(ranges.finished) : '—'}
          raw={ready ? ranges.finished : null}
          tone={ranges.failureRate !== null && ranges.failureRate > failHigh ? 'warn' : undefined}
          sub={
            ready ? (
              <span data-testid="kpi-ranges-failed" data-value={ranges.failed}>
                {formatCount(ranges.failed)} failed
                {ranges.failureRate !== null && ` (${formatPercent(ranges.failureRate)})`}
              </span>
            ) : undefined
          }
        />
      </div>
      <div className="overview-chart">
        <ThroughputChart />
      </div>
    </section>
  );
}
