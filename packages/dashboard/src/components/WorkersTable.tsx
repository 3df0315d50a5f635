/**
 * The workers table: filter, sort by any column (header buttons with aria-sort), and a windowed body that
 * renders only the rows in view, so a thousand workers cost what thirty do. Sorting runs in a memo.
 */
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { formatCount } from '../format/units.js';
import { useDashboard } from '../store/react.js';
import { selectMultiNode, selectServerNow, selectWorkerStaleMs } from '../store/selectors.js';
import { countHealth, filterWorkers, nextSort, sortWorkers, type HealthFilter, type WorkerSort, type WorkerSortKey } from '../store/workers.js';
import { ROW_HEIGHT, WorkerRow } from './WorkerRow.js';

interface Column {
  key: WorkerSortKey;
  label: string;
  title: string;
  width: number;
  numeric?: boolean;
}

const COLUMNS: readonly Column[] = [
  { key: 'worker', label: 'Worker', title: 'Worker label (and id)', width: 146 },
  { key: 'site', label: 'Site', title: 'Site the worker runs at', width: 96 },
  { key: 'node', label: 'Node', title: 'ESS node the worker is connected to', width: 120 },
  { key: 'health', label: 'Health', title: 'Active, idle, stale (silent) or gone (disconnected)', width: 74 },
  { key: 'task', label: 'Task', title: 'Task the worker takes ranges from', width: 50, numeric: true },
  { key: 'rate', label: 'Throughput', title: 'Payload bytes/s, with the last minute', width: 148, numeric: true },
  { key: 'eventRate', label: 'Events/s', title: 'Events per second', width: 84, numeric: true },
  { key: 'inFlight', label: 'Credit in flight', title: 'Payload bytes sent but not yet released, of the credit window', width: 158 },
  { key: 'rangesInFlight', label: 'In flight', title: 'Event ranges assigned and not yet reported', width: 70, numeric: true },
  { key: 'rangesFinished', label: 'Done', title: 'Event ranges finished', width: 56, numeric: true },
  { key: 'rangesFailed', label: 'Failed', title: 'Event ranges failed', width: 58, numeric: true },
  { key: 'hitRatio', label: 'Hit', title: 'Share of the bytes this worker received that came from the cache', width: 60, numeric: true },
  { key: 'lastSeen', label: 'Last seen', title: 'Time since anything arrived from the worker', width: 80, numeric: true },
];

const HEALTH_FILTERS: readonly { value: HealthFilter; label: string }[] = [
  { value: 'all', label: 'All health' },
  { value: 'problem', label: 'Stale or gone' },
  { value: 'active', label: 'Active' },
  { value: 'idle', label: 'Idle' },
  { value: 'stale', label: 'Stale' },
  { value: 'gone', label: 'Gone' },
];

const OVERSCAN = 8;
/** Used until the scroll box is measured (and in test DOMs, which do not lay out). */
const DEFAULT_VIEWPORT = 600;

/** Keeps the previous array when the new one has the same ids in the same order. */
function useStableIds(ids: string[]): string[] {
  const prev = useRef<string[]>(ids);
  const p = prev.current;
  if (p !== ids && (p.length !== ids.length || p.some((id, i) => id !== ids[i]))) prev.current = ids;
  return prev.current;
}

export function WorkersTable() {
  const workers = useDashboard((s) => s.view.workers);
  const multiNode = useDashboard(selectMultiNode);
  const columns = useMemo(() => (multiNode ? COLUMNS : COLUMNS.filter((c) => c.key !== 'node')), [multiNode]);
  const ready = useDashboard((s) => s.view.ready);
  const staleMs = useDashboard(selectWorkerStaleMs);
  const serverSecond = useDashboard((s) => Math.floor(selectServerNow(s) / 1000));
  const [sort, setSort] = useState<WorkerSort>({ key: 'worker', dir: 'asc' });
  const [text, setText] = useState('');
  const [health, setHealth] = useState<HealthFilter>('all');

  // Health and ages depend on the clock only when the filter or the sort looks at them.
  const clockMatters = health !== 'all' || sort.key === 'health' || sort.key === 'lastSeen';
  const clockKey = clockMatters ? serverSecond : 0;

  const rows = useMemo(() => [...workers.values()], [workers]);
  const idsNow = useMemo(() => {
    const clock = { serverNow: serverSecond * 1000, staleMs };
    return sortWorkers(filterWorkers(rows, { text, health }, clock), sort, clock).map((w) => w.id);
    // serverSecond enters through clockKey, and only when health or age matter to the result.
  }, [rows, text, health, sort, clockKey, staleMs]);
  const ids = useStableIds(idsNow);
  const counts = useMemo(() => countHealth(rows, { serverNow: serverSecond * 1000, staleMs }), [rows, serverSecond, staleMs]);

  // ---- windowing ----
  const scroller = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState(DEFAULT_VIEWPORT);
  const [first, setFirst] = useState(0);
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const measure = () => {
      if (el.clientHeight > 0) setViewport(el.clientHeight);
    };
    measure();
    if (typeof ResizeObserver !== 'function') return;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const onScroll = useCallback(() => {
    const el = scroller.current;
    if (el) setFirst(Math.floor(el.scrollTop / ROW_HEIGHT));
  }, []);
  // A new filter or sort starts at the top.
  useEffect(() => {
    if (scroller.current) scroller.current.scrollTop = 0;
    setFirst(0);
  }, [text, health, sort]);

  const visible = Math.ceil(viewport / ROW_HEIGHT);
  const start = Math.max(0, Math.min(first, ids.length - visible) - OVERSCAN);
  const end = Math.min(ids.length, first + visible + OVERSCAN);
  const slice = ids.slice(start, end);

  const onHeader = (key: WorkerSortKey) => setSort((s) => nextSort(s, key));

  return (
    <section className="panel workers" data-testid="workers-panel" aria-labelledby="workers-title">
      <header className="panel-head">
        <h2 id="workers-title">Workers</h2>
        <div className="workers-counts" data-testid="workers-summary">
          <span>{formatCount(rows.length)} connected</span>
          <span className="c-ok">{formatCount(counts.active)} active</span>
          <span className="muted">{formatCount(counts.idle)} idle</span>
          {counts.stale > 0 && <span className="c-warn">{formatCount(counts.stale)} stale</span>}
          {counts.gone > 0 && <span className="c-crit">{formatCount(counts.gone)} gone</span>}
        </div>
        <div className="panel-aside workers-tools">
          <input
            type="search"
            className="input"
            placeholder="Filter: id, label, site, node, task"
            aria-label="Filter workers"
            data-testid="workers-filter"
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
          <select className="input" aria-label="Filter by health" data-testid="workers-health-filter" value={health} onChange={(e) => setHealth(e.target.value as HealthFilter)}>
            {HEALTH_FILTERS.map((h) => (
              <option key={h.value} value={h.value}>
                {h.label}
              </option>
            ))}
          </select>
          <span className="muted small" data-testid="workers-count" data-shown={ids.length} data-total={rows.length}>
            {ids.length === rows.length ? `${formatCount(rows.length)} rows` : `${formatCount(ids.length)} of ${formatCount(rows.length)}`}
          </span>
        </div>
      </header>
      <div className="table-scroll" ref={scroller} onScroll={onScroll}>
        <table
          className="wtable"
          data-testid="workers-table"
          data-sort-key={sort.key}
          data-sort-dir={sort.dir}
          aria-rowcount={ids.length + 1}
          aria-label="Workers"
        >
          <colgroup>
            {columns.map((c) => (
              <col key={c.key} style={{ width: c.width }} />
            ))}
          </colgroup>
          <thead>
            <tr aria-rowindex={1}>
              {columns.map((c) => {
                const active = sort.key === c.key;
                return (
                  <th
                    key={c.key}
                    scope="col"
                    className={c.numeric ? 'c-num' : undefined}
                    aria-sort={active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}
                  >
                    <button type="button" className={`th-btn ${active ? 'th-active' : ''}`} data-testid={`sort-${c.key}`} title={c.title} onClick={() => onHeader(c.key)}>
                      {c.label}
                      <span className="th-arrow" aria-hidden="true">
                        {active ? (sort.dir === 'asc' ? '▲' : '▼') : ''}
                      </span>
                    </button>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {start > 0 && (
              <tr className="spacer" aria-hidden="true" style={{ height: start * ROW_HEIGHT }}>
                <td colSpan={columns.length} />
              </tr>
            )}
            {slice.map((id, i) => (
              <WorkerRow key={id} id={id} index={start + i} />
            ))}
            {end < ids.length && (
              <tr className="spacer" aria-hidden="true" style={{ height: (ids.length - end) * ROW_HEIGHT }}>
                <td colSpan={columns.length} />
              </tr>
            )}
          </tbody>
        </table>
        {ids.length === 0 && (
          <p className="empty" data-testid="workers-empty">
            {!ready ? 'Waiting for the first snapshot…' : rows.length === 0 ? 'No workers connected.' : 'No worker matches the filter.'}
          </p>
        )}
      </div>
    </section>
  );
}
