/** The sources (storage endpoints): health, latency, throughput, errors; or plainly "no sources reporting". */
import { formatByteRate, formatBytes, formatCompact, formatCount, formatLatency, formatPercent } from '../format/units.js';
import { useDashboard } from '../store/react.js';
import { Empty, Panel } from './Panel.js';
import { HealthBadge } from './HealthBadge.js';

const HEALTH_ORDER = { down: 0, degraded: 1, up: 2 } as const;

export function SourcesPanel() {
  const sources = useDashboard((s) => s.view.sources);
  const ready = useDashboard((s) => s.view.ready);
  const down = sources.filter((s) => s.health !== 'up').length;
  const sorted = [...sources].sort((a, b) => HEALTH_ORDER[a.health] - HEALTH_ORDER[b.health] || a.id.localeCompare(b.id));
  return (
    <Panel
      title="Sources"
      testId="sources-panel"
      className="sources"
      aside={
        ready && sources.length > 0 ? (
          <span className={down > 0 ? 'c-warn small' : 'muted small'}>
            {sources.length} source{sources.length === 1 ? '' : 's'}
            {down > 0 ? ` · ${down} not healthy` : ' · all up'}
          </span>
        ) : undefined
      }
    >
      {!ready ? (
        <Empty>Waiting for the first snapshot…</Empty>
      ) : sources.length === 0 ? (
        <Empty testId="sources-empty">No sources reporting.</Empty>
      ) : (
        <table className="mini mini-fixed" data-testid="sources-table">
          <colgroup>
            <col />
            <col style={{ width: 84 }} />
            <col style={{ width: 64 }} />
            <col style={{ width: 88 }} />
            <col style={{ width: 52 }} />
          </colgroup>
          <thead>
            <tr>
              <th scope="col">Source</th>
              <th scope="col">Health</th>
              <th scope="col" className="c-num">Latency</th>
              <th scope="col" className="c-num">Throughput</th>
              <th scope="col" className="c-num">Errors</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((s) => {
              return (
                <tr key={s.id} data-source-id={s.id} data-health={s.health} className={`src-${s.health}`}>
                  <th scope="row" title={`${s.kind} · ${s.endpoint}\n${formatCompact(s.requests)} requests · ${formatBytes(s.bytes)} · ${s.failovers} failovers · ${s.inFlight} requests in flight`}>
                    <span className="src-id">{s.id}</span>
                    <span className="src-ep">
                      {s.kind} · {s.endpoint}
                    </span>
                  </th>
                  <td>
                    <HealthBadge health={s.health} />
                  </td>
                  <td className="c-num" data-testid={`source-latency-${s.id}`} data-value={s.latencyMs}>
                    {formatLatency(s.latencyMs)}
                  </td>
                  <td className="c-num" data-testid={`source-throughput-${s.id}`} data-value={s.throughput}>
                    {formatByteRate(s.throughput)}
                  </td>
                  <td
                    className={`c-num ${s.errors > 0 ? 'warn-text' : ''}`}
                    data-testid={`source-errors-${s.id}`}
                    data-value={s.errors}
                    title={`${formatCount(s.errors)} errors of ${formatCount(s.requests)} requests (${formatPercent(s.requests > 0 ? s.errors / s.requests : null)})`}
                  >
                    {formatCompact(s.errors)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Panel>
  );
}
