/** The cache: hits and misses per tier, bytes held, evictions, coalesced requests and prefetch; or plainly "no cache". */
import { formatBytes, formatBytesOf, formatCompact, formatCount, formatPercent } from '../format/units.js';
import { useDashboard } from '../store/react.js';
import { cacheTotals, ratio } from '../store/selectors.js';
import { Empty, Panel } from './Panel.js';

function Fig(props: { testId: string; label: string; value: number; text?: string; title?: string }) {
  return (
    <div className="fig" data-testid={props.testId} data-value={props.value} title={props.title}>
      <dt>{props.label}</dt>
      <dd>{props.text ?? formatCompact(props.value)}</dd>
    </div>
  );
}

export function CachePanel() {
  const cache = useDashboard((s) => s.view.cache);
  const ready = useDashboard((s) => s.view.ready);
  const recent = useDashboard((s) => s.view.recentHitRatio);
  const low = useDashboard((s) => s.thresholds.cacheHitLow);

  if (!ready) {
    return (
      <Panel title="Cache" testId="cache-panel" className="cache">
        <Empty>Waiting for the first snapshot…</Empty>
      </Panel>
    );
  }
  if (!cache) {
    return (
      <Panel title="Cache" testId="cache-panel" className="cache">
        <Empty testId="cache-empty">No cache configured: every byte comes from a source.</Empty>
      </Panel>
    );
  }
  const tot = cacheTotals(cache);
  const hits = tot?.hits ?? 0;
  const lookups = tot?.lookups ?? 0;
  const misses = Math.max(0, lookups - hits);
  const overall = ratio(hits, misses);
  const shown = recent ?? overall;
  const p = cache.prefetch;
  return (
    <Panel
      title="Cache"
      testId="cache-panel"
      className="cache"
      aside={
        <span className={`cache-ratio ${shown !== null && shown < low ? 'c-warn' : ''}`} data-testid="cache-hit-ratio" data-value={shown ?? ''}>
          {formatPercent(shown)} <span className="muted small">hit ratio{recent !== null ? ', last min' : ''}</span>
        </span>
      }
    >
      <dl className="figs">
        <Fig testId="cache-hits" label="Hits" value={hits} title={`${formatCount(hits)} lookups served from the cache`} />
        <Fig testId="cache-misses" label="Misses" value={misses} title={`${formatCount(misses)} lookups that went to a source`} />
        <Fig testId="cache-hit-ratio-total" label="Since start" value={overall ?? 0} text={formatPercent(overall)} />
        <Fig testId="cache-hit-bytes" label="Served" value={tot?.hitBytes ?? 0} text={formatBytes(tot?.hitBytes ?? 0)} title="Payload bytes served from the cache" />
        <Fig testId="cache-coalesced" label="Coalesced" value={cache.coalesced} title="Requests that joined a fetch already in progress" />
      </dl>
      {cache.tiers.length === 0 ? (
        <Empty>The cache reports no tiers.</Empty>
      ) : (
        <table className="mini" data-testid="cache-tiers">
          <thead>
            <tr>
              <th scope="col">Tier</th>
              <th scope="col" className="c-num">Hits</th>
              <th scope="col" className="c-num">Misses</th>
              <th scope="col" className="c-num">Hit %</th>
              <th scope="col">Held</th>
              <th scope="col" className="c-num" title="Blocks evicted">Evicted</th>
            </tr>
          </thead>
          <tbody>
            {cache.tiers.map((t) => {
              const fill = t.capacity > 0 ? Math.min(1, t.bytes / t.capacity) : 0;
              return (
                <tr key={t.tier} data-tier={t.tier} title={`${t.tier}: ${formatBytes(t.hitBytes)} served from this tier`}>
                  <th scope="row">{t.tier}</th>
                  <td className="c-num" data-testid={`cache-hits-${t.tier}`} data-value={t.hits} data-hit-bytes={t.hitBytes}>
                    {formatCompact(t.hits)}
                  </td>
                  <td className="c-num" data-testid={`cache-misses-${t.tier}`} data-value={t.misses}>
                    {formatCompact(t.misses)}
                  </td>
                  <td className="c-num">{formatPercent(ratio(t.hits, t.misses))}</td>
                  <td
                    className="held"
                    style={{ backgroundSize: `${fill * 100}% 3px` }}
                    data-testid={`cache-bytes-${t.tier}`}
                    data-value={t.bytes}
                    data-capacity={t.capacity}
                    title={`${formatBytes(t.bytes)} held of ${formatBytes(t.capacity)} (${formatPercent(fill, 0)})`}
                  >
                    {formatBytesOf(t.bytes, t.capacity)}
                  </td>
                  <td className="c-num" data-testid={`cache-evictions-${t.tier}`} data-value={t.evictions}>
                    {formatCompact(t.evictions)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <p className="footnote muted small" data-testid="cache-block-size" data-value={cache.blockSize}>
        Blocks of {formatBytes(cache.blockSize)}; hit ratios count lookups, a lookup reaching the last tier and missing goes to a source.
      </p>
      <dl className="figs figs-prefetch" aria-label="Prefetch">
        <dt className="figs-title">Prefetch</dt>
        <Fig testId="cache-prefetch-issued" label="Issued" value={p.issued} />
        <Fig
          testId="cache-prefetch-used"
          label="Used"
          value={p.used}
          text={`${formatCompact(p.used)}${p.issued > 0 ? ` (${formatPercent(p.used / p.issued, 0)})` : ''}`}
          title="Prefetched blocks later served to a worker"
        />
        <Fig testId="cache-prefetch-inflight" label="In flight" value={p.inFlight} />
        <Fig testId="cache-prefetch-bytes" label="Bytes" value={p.bytes} text={formatBytes(p.bytes)} />
      </dl>
    </Panel>
  );
}
