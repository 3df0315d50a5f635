/**
 * The alarm strip at the top of the page: the server's alarms and the dashboard's own (silent workers,
 * sources down, failing tasks, low cache hit ratio), critical first, always on screen without scrolling.
 */
import { useMemo } from 'react';
import { AlarmKind } from '@ess/protocol';
import { formatDuration, formatPercent } from '../format/units.js';
import { clientAlarms, mergeAlarms, type ShownAlarm } from '../store/alarms.js';
import { useDashboard } from '../store/react.js';
import { selectServerNow, selectWorkerStaleMs } from '../store/selectors.js';

const KIND_LABEL: Record<string, string> = {
  [AlarmKind.workerStale]: 'worker stale',
  [AlarmKind.sourceDown]: 'source down',
  [AlarmKind.failureRate]: 'failure rate',
  [AlarmKind.cacheHitLow]: 'cache hit low',
  [AlarmKind.nodeDown]: 'node down',
};

export function Alarms() {
  const view = useDashboard((s) => s.view);
  const thresholds = useDashboard((s) => s.thresholds);
  const staleMs = useDashboard(selectWorkerStaleMs);
  // Whole seconds of the server clock: ages and worker silence need no finer steps.
  const serverSecond = useDashboard((s) => Math.floor(selectServerNow(s) / 1000));
  const serverNow = serverSecond * 1000;

  const alarms = useMemo(
    () => mergeAlarms(view.alarms, clientAlarms(view, { serverNow, workerStaleMs: staleMs, thresholds })),
    [view, serverNow, staleMs, thresholds],
  );
  const critical = alarms.filter((a) => a.severity === 'critical').length;
  const warning = alarms.length - critical;
  const legend =
    `Dashboard thresholds: worker silent > ${formatDuration(staleMs / 1000)}; ` +
    `task failures > ${formatPercent(thresholds.failureRate, 0)} of outcomes (after ${thresholds.failureMinOutcomes}); ` +
    `cache hit ratio < ${formatPercent(thresholds.cacheHitLow, 0)} (last ${formatDuration(thresholds.hitRatioWindowMs / 1000)}); ` +
    `view stale after ${thresholds.staleIntervals} missed updates (at least ${formatDuration(thresholds.minStaleMs / 1000)}). Server alarms use the server's thresholds.`;

  return (
    <section
      className={`alarms ${critical > 0 ? 'alarms-critical' : warning > 0 ? 'alarms-warning' : 'alarms-ok'}`}
      data-testid="alarms"
      data-count={alarms.length}
      data-critical={critical}
      data-warning={warning}
      aria-label="Alarms"
    >
      <div className="alarms-summary" title={legend}>
        <span className="alarms-title">Alarms</span>
        {!view.ready ? (
          <span className="muted">waiting for data</span>
        ) : alarms.length === 0 ? (
          <span className="alarms-none" data-testid="alarms-none">
            ✓ none
          </span>
        ) : (
          <>
            {critical > 0 && <span className="count count-critical">{critical} critical</span>}
            {warning > 0 && <span className="count count-warning">{warning} warning</span>}
          </>
        )}
      </div>
      {alarms.length > 0 && (
        <ul className="alarms-list" aria-label="Active alarms">
          {alarms.map((a) => (
            <AlarmItem key={a.id} alarm={a} serverNow={serverNow} />
          ))}
        </ul>
      )}
    </section>
  );
}

function AlarmItem({ alarm: a, serverNow }: { alarm: ShownAlarm; serverNow: number }) {
  const subjects = a.subjects ? a.subjects.slice(0, 8).join(', ') + (a.subjects.length > 8 ? ` … +${a.subjects.length - 8}` : '') : null;
  return (
    <li
      className={`alarm alarm-${a.severity}`}
      data-testid="alarm"
      data-alarm-id={a.id}
      data-alarm-kind={a.kind}
      data-severity={a.severity}
      data-subject={a.subject}
      data-origin={a.origin}
    >
      <span className="alarm-sev">{a.severity}</span>
      <span className="alarm-kind">{KIND_LABEL[a.kind] ?? a.kind}</span>
      <span className="alarm-msg">
        {a.message}
        {subjects && <span className="muted"> ({subjects})</span>}
      </span>
      <span className="alarm-meta">
        {a.origin === 'client' && (
          <span className="alarm-origin" title="Raised by this dashboard's own thresholds">
            dashboard
          </span>
        )}
        <span className="muted" title="Since">
          {formatDuration(Math.max(0, (serverNow - a.since) / 1000))}
        </span>
      </span>
    </li>
  );
}
