/**
 * Cutting a task into event ranges: every file of the dataset into runs of `rangeSize`
 * consecutive entries, in file order, so ranges of one file are read front to back; or, for
 * picked events, runs of adjacent picked entries (coalesced), at most `rangeSize` long.
 */
import type { Dataset, EventLocation } from '../catalogue/index.js';
import type { RangePlan } from './Ledger.js';

export function planRanges(dataset: Dataset, rangeSize: number): RangePlan[] {
  if (!Number.isSafeInteger(rangeSize) || rangeSize < 1) throw new RangeError(`rangeSize must be a positive integer, got ${rangeSize}`);
  const plans: RangePlan[] = [];
  for (const file of dataset.files) {
    let index = 0;
    for (let start = 0; start < file.events; start += rangeSize) {
      plans.push({
        file: file.index,
        index: index++,
        scope: file.scope,
        LFN: file.lfn,
        GUID: file.guid,
        startEvent: start,
        lastEvent: Math.min(start + rangeSize, file.events) - 1,
      });
    }
  }
  return plans;
}

/**
 * Ranges covering exactly the picked events: grouped by file, sorted, adjacent entries merged into
 * one range (up to `rangeSize` events), duplicates dropped.
 */
export function planPickedRanges(dataset: Dataset, picked: readonly EventLocation[], rangeSize: number): RangePlan[] {
  if (!Number.isSafeInteger(rangeSize) || rangeSize < 1) throw new RangeError(`rangeSize must be a positive integer, got ${rangeSize}`);
  const byFile = new Map<number, number[]>();
  for (const p of picked) {
    const entries = byFile.get(p.file) ?? [];
    entries.push(p.entry);
    byFile.set(p.file, entries);
  }
  const plans: RangePlan[] = [];
  for (const fileIndex of [...byFile.keys()].sort((a, b) => a - b)) {
    const file = dataset.files[fileIndex]!;
    const entries = [...new Set(byFile.get(fileIndex)!)].sort((a, b) => a - b);
    let index = 0;
    for (let i = 0; i < entries.length; ) {
      const start = entries[i]!;
      let last = start;
      while (i + 1 < entries.length && entries[i + 1] === last + 1 && last - start + 1 < rangeSize) last = entries[++i]!;
      i++;
      plans.push({ file: file.index, index: index++, scope: file.scope, LFN: file.lfn, GUID: file.guid, startEvent: start, lastEvent: last });
    }
  }
  return plans;
}
