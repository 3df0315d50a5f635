/** The tasks: completion as a stacked bar by range state, events/s and the estimated time to completion. */
import { memo, useMemo } from 'react';
import type { TaskRow } from '@ess/protocol';
import { formatCompact, formatCount, formatDuration, formatEventRate, formatPercent } from '../format/units.js';
import { useDashboard } from '../store/react.js';
import { taskCompletion, taskFinished } from '../store/selectors.js';
import { Empty, Panel } from './Panel.js';
import { RangeLegend, StackedBar } from './StackedBar.js';

const STATE_ORDER = { active: 0, complete: 1, cancelled: 2 } as const;

function byRelevance(a: TaskRow, b: TaskRow): number {
  return STATE_ORDER[a.state] - STATE_ORDER[b.state] || (a.state === 'active' ? b.priority - a.priority || a.id - b.id : b.createdAt - a.createdAt || b.id - a.id);
}

export function TaskView() {
  const tasks = useDashboard((s) => s.view.tasks);
  const ready = useDashboard((s) => s.view.ready);
  const sorted = useMemo(() => [...tasks.values()].sort(byRelevance).map((t) => t.id), [tasks]);
  const active = useMemo(() => [...tasks.values()].filter((t) => t.state === 'active').length, [tasks]);
  return (
    <Panel
      title="Tasks"
      testId="tasks-panel"
      className="tasks"
      aside={ready && tasks.size > 0 ? <span className="muted small">{active} active · {tasks.size - active} ended</span> : undefined}
    >
      {!ready ? (
        <Empty>Waiting for the first snapshot…</Empty>
      ) : sorted.length === 0 ? (
        <Empty testId="tasks-empty">No tasks.</Empty>
      ) : (
        <ol className="task-list">
          {sorted.map((id) => (
            <TaskItem key={id} id={id} />
          ))}
        </ol>
      )}
    </Panel>
  );
}

const TaskItem = memo(function TaskItem(props: { id: number }) {
  const t = useDashboard((s) => s.view.tasks.get(props.id));
  if (!t) return null;
  const complete = taskCompletion(t);
  const finished = taskFinished(t);
  const pct = Math.round(complete * 1000) / 10;
  const eta =
    t.state === 'complete' ? 'done' : t.state === 'cancelled' ? 'cancelled' : t.etaSeconds === null ? '—' : formatDuration(t.etaSeconds);
  return (
    <li
      className={`task task-${t.state}`}
      data-testid={`task-${t.id}`}
      data-task-id={t.id}
      data-state={t.state}
      data-complete-pct={pct}
      data-finished-pct={Math.round(finished * 1000) / 10}
    >
      <div className="task-head">
        <span className="task-id">#{t.id}</span>
        <span className="task-ds" title={t.dataset}>
          {t.dataset}
        </span>
        {t.state !== 'active' && <span className={`badge badge-task-${t.state}`}>{t.state}</span>}
        <span className="task-pct" title="Ranges in a final state (finished, fatal, cancelled)">
          {formatPercent(complete)}
        </span>
      </div>
      <StackedBar ranges={t.ranges} total={t.rangesTotal} />
      <RangeLegend ranges={t.ranges} />
      <dl className="task-figs">
        <div>
          <dt>Events/s</dt>
          <dd data-testid={`task-${t.id}-event-rate`}>{t.state === 'active' ? formatEventRate(t.eventRate) : '—'}</dd>
        </div>
        <div>
          <dt>ETA</dt>
          <dd data-testid={`task-${t.id}-eta`} data-eta-seconds={t.etaSeconds ?? ''}>
            {eta}
          </dd>
        </div>
        <div>
          <dt>Events</dt>
          <dd title={`${formatCount(t.eventsDone)} of ${formatCount(t.events)} events`}>
            {formatCompact(t.eventsDone)} / {formatCompact(t.events)}
          </dd>
        </div>
        <div>
          <dt>Ranges</dt>
          <dd title={`${t.rangeSize} events per range; priority ${t.priority}`}>{formatCount(t.rangesTotal)}</dd>
        </div>
      </dl>
    </li>
  );
});
