/**
 * The workers table's logic, free of React: which rows pass the filter and in what order.
 * Sorting is stable (ties broken by id) so rows do not jitter between updates.
 */
import { WorkerHealth, type WorkerRow } from '@ess/protocol';
import { effectiveHealth, workerHitRatio } from './selectors.js';

export const WORKER_SORT_KEYS = [
  'worker',
  'site',
  'node',
  'health',
  'task',
  'rate',
  'eventRate',
  'inFlight',
  'rangesInFlight',
  'rangesFinished',
  'rangesFailed',
  'hitRatio',
  'lastSeen',
] as const;
export type WorkerSortKey = (typeof WORKER_SORT_KEYS)[number];
export type SortDir = 'asc' | 'desc';

export interface WorkerSort {
  readonly key: WorkerSortKey;
  readonly dir: SortDir;
}

/** Health filter: one health, `problem` (stale or gone), or everything. */
export type HealthFilter = 'all' | 'problem' | WorkerHealth;

export interface WorkerFilter {
  /** Case-insensitive words; a row passes when every word occurs in its id, label, site, node or task. */
  readonly text: string;
  readonly health: HealthFilter;
}

export interface WorkerClock {
  readonly serverNow: number;
  readonly staleMs: number;
}

/** Text columns read best A→Z, figures biggest first. */
export function defaultDir(key: WorkerSortKey): SortDir {
  return key === 'worker' || key === 'site' || key === 'node' || key === 'task' ? 'asc' : 'desc';
}

/** Clicking a header: the same column flips its direction, another column starts at its natural one. */
export function nextSort(current: WorkerSort, key: WorkerSortKey): WorkerSort {
  if (current.key === key) return { key, dir: current.dir === 'asc' ? 'desc' : 'asc' };
  return { key, dir: defaultDir(key) };
}

/** Problems rank highest, so "health, descending" lists gone and stale workers first. */
const HEALTH_RANK: Record<WorkerHealth, number> = { active: 0, idle: 1, stale: 2, gone: 3 };

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

function searchText(w: WorkerRow): string {
  return `${w.id} ${w.label} ${w.site} ${w.node} ${w.task === null ? '' : `task ${w.task} #${w.task}`}`.toLowerCase();
}

/** The rows that pass the filter. */
export function filterWorkers(rows: Iterable<WorkerRow>, f: WorkerFilter, clock: WorkerClock): WorkerRow[] {
  const words = f.text.toLowerCase().split(/\s+/).filter(Boolean);
  const out: WorkerRow[] = [];
  for (const w of rows) {
    if (f.health !== 'all') {
      const h = effectiveHealth(w, clock.serverNow, clock.staleMs);
      if (f.health === 'problem' ? h !== WorkerHealth.stale && h !== WorkerHealth.gone : h !== f.health) continue;
    }
    if (words.length > 0) {
      const hay = searchText(w);
      if (!words.every((word) => hay.includes(word))) continue;
    }
    out.push(w);
  }
  return out;
}

/** Sorts rows in place and returns them. */
export function sortWorkers(rows: WorkerRow[], sort: WorkerSort, clock: WorkerClock): WorkerRow[] {
  const sign = sort.dir === 'asc' ? 1 : -1;
  const byId = (a: WorkerRow, b: WorkerRow) => collator.compare(a.id, b.id);
  let cmp: (a: WorkerRow, b: WorkerRow) => number;
  const num = (f: (w: WorkerRow) => number | null) => {
    // Precompute keys once: a comparator runs n log n times.
    const keys = new Map<WorkerRow, number>();
    for (const w of rows) keys.set(w, f(w) ?? Number.NEGATIVE_INFINITY);
    return (a: WorkerRow, b: WorkerRow) => (keys.get(a)! - keys.get(b)!) * sign;
  };
  switch (sort.key) {
    case 'worker':
      cmp = (a, b) => collator.compare(a.label || a.id, b.label || b.id) * sign;
      break;
    case 'site':
      cmp = (a, b) => collator.compare(a.site, b.site) * sign;
      break;
    case 'node':
      cmp = (a, b) => collator.compare(a.node, b.node) * sign;
      break;
    case 'task':
      cmp = num((w) => w.task);
      break;
    case 'health':
      cmp = num((w) => HEALTH_RANK[effectiveHealth(w, clock.serverNow, clock.staleMs)]);
      break;
    case 'hitRatio':
      cmp = num(workerHitRatio);
      break;
    case 'lastSeen':
      // "Last seen, descending" = longest silence first: sort by age.
      cmp = num((w) => clock.serverNow - w.lastSeen);
      break;
    default: {
      const key = sort.key;
      cmp = num((w) => w[key]);
    }
  }
  return rows.sort((a, b) => cmp(a, b) || byId(a, b));
}

/** Filter then sort; the ids in display order. */
export function selectWorkerIds(rows: Iterable<WorkerRow>, f: WorkerFilter, sort: WorkerSort, clock: WorkerClock): string[] {
  return sortWorkers(filterWorkers(rows, f, clock), sort, clock).map((w) => w.id);
}

/** Counts by effective health. */
export function countHealth(rows: Iterable<WorkerRow>, clock: WorkerClock): Record<WorkerHealth, number> {
  const c: Record<WorkerHealth, number> = { active: 0, idle: 0, stale: 0, gone: 0 };
  for (const w of rows) c[effectiveHealth(w, clock.serverNow, clock.staleMs)]++;
  return c;
}
