// eventRangeID: `task-file-range-attempt`, parsed back to the same parts, and refused otherwise.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventRangeSchema, RANGE_STATES, TERMINAL_STATES, formatRangeId, parseRangeId, rangeKey } from '../src/index.js';

const parts = fc.record({
  task: fc.integer({ min: 0, max: 10 ** 15 - 1 }),
  file: fc.integer({ min: 0, max: 10 ** 9 - 1 }),
  range: fc.integer({ min: 0, max: 10 ** 9 - 1 }),
  attempt: fc.integer({ min: 1, max: 10 ** 6 - 1 }),
});

describe('eventRangeID', () => {
  it('formats as task-file-range-attempt', () => {
    expect(formatRangeId({ task: 7, file: 3, range: 12, attempt: 2 })).toBe('7-3-12-2');
    expect(rangeKey({ task: 7, file: 3, range: 12 })).toBe('7-3-12');
  });

  it('property: parseRangeId(formatRangeId(p)) equals p', () => {
    fc.assert(
      fc.property(parts, (p) => {
        const id = formatRangeId(p);
        expect(parseRangeId(id)).toEqual(p);
        expect(EventRangeSchema.shape.eventRangeID.safeParse(id).success).toBe(true);
        expect(id.startsWith(`${rangeKey(p)}-`)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('property: parseRangeId accepts exactly the canonical ids, each of which formats back to itself', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{1,15}-\d{1,9}-\d{1,9}-\d{1,6}$/), (id) => {
        const p = parseRangeId(id);
        const canonical = id.split('-').map((x) => String(Number(x))).join('-') === id && Number(id.split('-')[3]) >= 1;
        if (!canonical) {
          expect(p).toBeNull();
          return;
        }
        expect(p).not.toBeNull();
        expect(formatRangeId(p!)).toBe(id);
      }),
      { numRuns: 500 },
    );
  });

  it.each([
    '',
    '7-3-12',
    '7-3-12-0',
    '7-3-12-2-1',
    '-7-3-12-2',
    '7-3-12-2 ',
    ' 7-3-12-2',
    '7_3_12_2',
    '7-3-1e2-2',
    '7-3-12-+2',
    '1234567890123456-0-0-1',
    '0-1234567890-0-1',
    '0-0-1234567890-1',
    '0-0-0-1234567',
    '٧-3-12-2',
  ])('refuses %j', (id) => {
    expect(parseRangeId(id)).toBeNull();
  });

  it('property: arbitrary strings never throw', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => void parseRangeId(s)));
  });
});

describe('range states', () => {
  it('are the seven of the design, three of them terminal', () => {
    expect([...RANGE_STATES].sort()).toEqual(['assigned', 'cancelled', 'failed', 'fatal', 'finished', 'ready', 'running']);
    expect([...TERMINAL_STATES].sort()).toEqual(['cancelled', 'fatal', 'finished']);
  });
});
