/** One row of the workers table. Memoized by id; it selects its own row, so only rows that changed re-render. */
import { memo } from 'react';
import { WorkerHealth } from '@ess/protocol';
import { formatAgo, formatByteRate, formatBytes, formatBytesOf, formatEventRate, formatPercent, formatCount } from '../format/units.js';
import { useDashboard } from '../store/react.js';
import { effectiveHealth, selectMultiNode, selectServerNow, selectWorkerStaleMs, staleByClient, workerHitRatio } from '../store/selectors.js';
import { HealthBadge } from './HealthBadge.js';
import { Sparkline } from './Sparkline.js';

export const ROW_HEIGHT = 28;

/** Counts how often rows render (read by the render-count test). */
export const workerRowRenders = { count: 0 };

export const WorkerRow = memo(function WorkerRow(props: { id: string; index: number }) {
  workerRowRenders.count++;
  const w = useDashboard((s) => s.view.workers.get(props.id));
  const staleMs = useDashboard(selectWorkerStaleMs);
  const serverSecond = useDashboard((s) => Math.floor(selectServerNow(s) / 1000));
  const noCache = useDashboard((s) => s.view.cache === null);
  const multiNode = useDashboard(selectMultiNode);
  if (!w) return null;
  const serverNow = serverSecond * 1000;
  const health = effectiveHealth(w, serverNow, staleMs);
  const byClient = staleByClient(w, serverNow, staleMs);
  const hit = workerHitRatio(w);
  const credit = w.window > 0 ? Math.min(1, w.inFlight / w.window) : 0;
  return (
    <tr
      className={`wrow wrow-${health}`}
      data-worker-id={w.id}
      data-health={health}
      data-server-health={w.health}
      aria-rowindex={props.index + 2}
    >
      <td className="c-worker" title={`${w.label || w.id}\nid ${w.id}\nnode ${w.node}`}>
        <span className="w-label">{w.label || w.id}</span>
        {w.label && w.label !== w.id && <span className="w-id">{w.id}</span>}
      </td>
      <td className="c-site" title={w.site}>
        {w.site || '—'}
      </td>
      {multiNode && (
        <td className="c-node" title={w.node}>
          {w.node}
        </td>
      )}
      <td className="c-health">
        <HealthBadge health={health} title={byClient ? `server says ${w.health}; silent for ${formatAgo(serverNow - w.lastSeen)}` : undefined} />
      </td>
      <td className="c-num c-task">{w.task === null ? <span className="muted">—</span> : `#${w.task}`}</td>
      <td className="c-rate">
        <Sparkline workerId={w.id} />
        <span className="num">{health === WorkerHealth.gone ? '—' : formatByteRate(w.rate)}</span>
      </td>
      <td className="c-num">{health === WorkerHealth.gone ? '—' : formatEventRate(w.eventRate)}</td>
      <td className="c-credit" title={`${formatBytes(w.inFlight)} in flight of a ${formatBytes(w.window)} credit window`}>
        <span className="meter" aria-hidden="true">
          <span className="meter-fill" style={{ width: `${credit * 100}%` }} />
        </span>
        <span className="num">{formatBytesOf(w.inFlight, w.window)}</span>
      </td>
      <td className="c-num">{formatCount(w.rangesInFlight)}</td>
      <td className="c-num">{formatCount(w.rangesFinished)}</td>
      <td className={`c-num ${w.rangesFailed > 0 ? 'warn-text' : ''}`}>{formatCount(w.rangesFailed)}</td>
      <td className="c-num" title={noCache ? 'no cache configured' : `${formatBytes(w.hitBytes)} from cache, ${formatBytes(w.missBytes)} from sources`}>
        {noCache && w.hitBytes === 0 ? <span className="muted">—</span> : formatPercent(hit)}
      </td>
      <td className={`c-num c-seen ${byClient || health === WorkerHealth.stale ? 'warn-text' : ''}`} data-last-seen={w.lastSeen}>
        {formatAgo(serverNow - w.lastSeen)}
      </td>
    </tr>
  );
});
