/**
 * Cutting a task into event ranges: every file of the dataset into runs of `rangeSize`
 * consecutive entries, in file order, so ranges of one file are read front to back.
 */
import type { Dataset } from '../catalogue/index.js';
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
