/**
 * The pure part of the store: folds snapshot and delta messages into a MonitorView.
 * A batch copies each keyed map at most once; rows a message does not mention keep their identity.
 */
import type { TaskRow, WorkerRow } from '@ess/protocol';
import { EMPTY_VIEW, type MonitorView, type Received } from './types.js';

/** Applies one message. */
export function applyMessage(view: MonitorView, item: Received): MonitorView {
  return applyBatch(view, [item]);
}

/**
 * Applies a batch of messages in arrival order and returns the new view (or `view` itself if nothing applied).
 * `onApplied` sees the view after each message (read it synchronously: later messages of the batch may update its maps).
 */
export function applyBatch(
  view: MonitorView,
  batch: readonly Received[],
  onApplied?: (view: MonitorView, item: Received) => void,
): MonitorView {
  let v = view;
  // Maps created inside this batch may be mutated in place; maps of the incoming view never are.
  let ownWorkers: Map<string, WorkerRow> | null = null;
  let ownTasks: Map<number, TaskRow> | null = null;

  for (const item of batch) {
    const { msg, at } = item;
    if (msg.type === 'snapshot') {
      ownWorkers = new Map(msg.workers.map((w) => [w.id, w]));
      ownTasks = new Map(msg.tasks.map((t) => [t.id, t]));
      v = {
        ...EMPTY_VIEW,
        ready: true,
        seq: msg.seq,
        t: msg.t,
        receivedAt: at,
        intervalMs: msg.intervalMs > 0 ? msg.intervalMs : EMPTY_VIEW.intervalMs,
        node: msg.node,
        workers: ownWorkers,
        tasks: ownTasks,
        totals: msg.totals,
        cache: msg.cache,
        sources: msg.sources,
        alarms: msg.alarms,
        nodes: msg.nodes,
        seqGaps: v.seqGaps,
        recentHitRatio: v.recentHitRatio,
      };
      onApplied?.(v, item);
      continue;
    }
    // A delta before any snapshot has nothing to apply to.
    if (!v.ready) continue;
    // One socket delivers in order, so a jump in seq means the server skipped deltas for us (counted, shown).
    const gap = msg.seq > v.seq + 1;

    if (msg.workers.length > 0 || msg.gone.length > 0) {
      ownWorkers ??= new Map(v.workers);
      for (const w of msg.workers) ownWorkers.set(w.id, w);
      for (const id of msg.gone) ownWorkers.delete(id);
    }
    if (msg.tasks.length > 0) {
      ownTasks ??= new Map(v.tasks);
      for (const t of msg.tasks) ownTasks.set(t.id, t);
    }
    v = {
      ...v,
      seq: msg.seq,
      t: msg.t,
      receivedAt: at,
      workers: ownWorkers ?? v.workers,
      tasks: ownTasks ?? v.tasks,
      totals: msg.totals,
      cache: msg.cache,
      sources: msg.sources,
      alarms: msg.alarms,
      nodes: msg.nodes,
      seqGaps: gap ? v.seqGaps + 1 : v.seqGaps,
    };
    onApplied?.(v, item);
  }
  return v;
}
