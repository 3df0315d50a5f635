/** A task's event ranges as one bar, a segment per state (finished, running, assigned, ready, failed, fatal, cancelled). */
import type { RangeCounts } from '@ess/protocol';
import { formatCount } from '../format/units.js';
import { BAR_STATES } from '../store/selectors.js';

export function StackedBar(props: { ranges: RangeCounts; total: number }) {
  const total = Math.max(props.total, BAR_STATES.reduce((n, s) => n + props.ranges[s], 0));
  const label = BAR_STATES.filter((s) => props.ranges[s] > 0)
    .map((s) => `${s} ${props.ranges[s]}`)
    .join(', ');
  return (
    <div className="sbar" role="img" aria-label={`ranges: ${label || 'none'}`}>
      {total > 0 &&
        BAR_STATES.map((s) => {
          const n = props.ranges[s];
          if (n === 0) return null;
          return (
            <span
              key={s}
              className={`sbar-seg st-${s}`}
              data-range-state={s}
              data-count={n}
              style={{ width: `${(n / total) * 100}%` }}
              title={`${s}: ${formatCount(n)} of ${formatCount(total)}`}
            />
          );
        })}
    </div>
  );
}

export function RangeLegend(props: { ranges: RangeCounts }) {
  return (
    <ul className="legend">
      {BAR_STATES.map((s) =>
        s === 'cancelled' && props.ranges[s] === 0 ? null : (
          <li key={s} className={props.ranges[s] === 0 ? 'legend-zero' : undefined} data-range-state={s} data-count={props.ranges[s]}>
            <span className={`dot st-${s}`} aria-hidden="true" />
            {s} <b>{formatCount(props.ranges[s])}</b>
          </li>
        ),
      )}
    </ul>
  );
}
