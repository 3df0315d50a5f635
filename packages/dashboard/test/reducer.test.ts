import { describe, expect, test } from 'vitest';
import { applyBatch, applyMessage } from '../src/store/reducer.js';
import { EMPTY_VIEW, type MonitorView, type Received } from '../src/store/types.js';
import { T0, delta, snapshot, task, worker } from './fixtures/stream.js';

const at = (msg: Received['msg'], t = 0): Received => ({ msg, at: t });

function snap3(): MonitorView {
  return applyMessage(EMPTY_VIEW, at(snapshot([worker(1, T0), worker(2, T0), worker(3, T0)]), 5));
}

describe('monitor reducer', () => {
  test('a snapshot replaces everything', () => {
    const v = snap3();
    expect(v.ready).toBe(true);
    expect([...v.workers.keys()]).toEqual(['w-1', 'w-2', 'w-3']);
    expect(v.tasks.get(1)?.dataset).toBe('mc23:ds1');
    expect(v.receivedAt).toBe(5);
    expect(v.intervalMs).toBe(1000);

    const again = applyMessage(v, at(snapshot([worker(9, T0)], { seq: 50 })));
    expect([...again.workers.keys()]).toEqual(['w-9']);
    expect(again.seq).toBe(50);
  });

  test('a delta upserts changed rows by id and keeps the others as they were', () => {
    const v = snap3();
    const w2 = worker(2, T0 + 1000, { rate: 5e6 });
    const w4 = worker(4, T0 + 1000);
    const next = applyMessage(v, at(delta(1, [w2, w4], [], [])));
    expect(next.workers.get('w-2')).toBe(w2);
    expect(next.workers.get('w-4')).toBe(w4);
    // Untouched rows keep their identity, so their components do not re-render.
    expect(next.workers.get('w-1')).toBe(v.workers.get('w-1'));
    expect(next.workers.get('w-3')).toBe(v.workers.get('w-3'));
    // The previous view is not mutated.
    expect(v.workers.has('w-4')).toBe(false);
    expect(next.seq).toBe(1);
    expect(next.t).toBe(T0 + 1000);
  });

  test('gone rows are removed', () => {
    const next = applyMessage(snap3(), at(delta(1, [], ['w-1', 'w-3', 'w-unknown'], [])));
    expect([...next.workers.keys()]).toEqual(['w-2']);
  });

  test('a row changed and gone in the same delta is gone', () => {
    const next = applyMessage(snap3(), at(delta(1, [worker(1, T0 + 1000)], ['w-1'], [])));
    expect(next.workers.has('w-1')).toBe(false);
  });

  test('tasks are upserted; totals, cache, sources, alarms and nodes are replaced whole', () => {
    const v = snap3();
    const t2 = task(2);
    const alarm = { id: 'a', kind: 'source_down', severity: 'critical' as const, subject: 's', message: 'm', since: T0 };
    const next = applyMessage(v, at(delta(1, [], [], [], { tasks: [t2], alarms: [alarm] })));
    expect(next.tasks.get(1)).toBe(v.tasks.get(1));
    expect(next.tasks.get(2)).toBe(t2);
    expect(next.alarms).toEqual([alarm]);
    const after = applyMessage(next, at(delta(2, [], [], [])));
    expect(after.alarms).toEqual([]);
  });

  test('a delta without row changes keeps the maps', () => {
    const v = snap3();
    const next = applyMessage(v, at(delta(1, [], [], [])));
    expect(next.workers).toBe(v.workers);
    expect(next.tasks).toBe(v.tasks);
  });

  test('a delta before any snapshot is ignored', () => {
    const v = applyMessage(EMPTY_VIEW, at(delta(1, [worker(1, T0)], [], [])));
    expect(v).toBe(EMPTY_VIEW);
  });

  test('a jump in seq is counted as a gap', () => {
    let v = snap3();
    v = applyMessage(v, at(delta(1, [], [], [])));
    v = applyMessage(v, at(delta(4, [], [], [])));
    expect(v.seqGaps).toBe(1);
  });

  test('a batch copies the maps once and equals applying one by one', () => {
    const v = snap3();
    const msgs = [
      at(delta(1, [worker(1, T0 + 1000, { rate: 1 })], [], [])),
      at(delta(2, [worker(5, T0 + 2000)], ['w-2'], [])),
      at(delta(3, [worker(1, T0 + 3000, { rate: 3 })], [], [])),
    ];
    const batched = applyBatch(v, msgs);
    let stepped = v;
    for (const m of msgs) stepped = applyMessage(stepped, m);
    expect([...batched.workers.entries()]).toEqual([...stepped.workers.entries()]);
    expect(batched.workers.get('w-1')?.rate).toBe(3);
    expect(v.workers.size).toBe(3);
  });
});
