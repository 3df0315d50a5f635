import { describe, expect, it } from 'vitest';
import { Teardown } from '../src/teardown.js';

describe('Teardown', () => {
  it('stops things newest first and returns what it owns', async () => {
    const t = new Teardown();
    const order: string[] = [];
    const a = t.own({ name: 'dir' }, (v) => order.push(v.name));
    t.defer(async () => {
      await new Promise((r) => setTimeout(r, 5));
      order.push('server');
    });
    t.defer(() => order.push('worker'));
    expect(a.name).toBe('dir');
    await t.run();
    expect(order).toEqual(['worker', 'server', 'dir']);
    await t.run();
    expect(order).toHaveLength(3);
  });

  it('runs every step even when some fail, then reports the failures', async () => {
    const t = new Teardown();
    const ran: number[] = [];
    t.defer(() => ran.push(1));
    t.defer(() => {
      throw new Error('second');
    });
    t.defer(() => ran.push(3));
    await expect(t.run()).rejects.toThrow('second');
    expect(ran).toEqual([3, 1]);

    t.defer(() => Promise.reject(new Error('a')));
    t.defer(() => Promise.reject(new Error('b')));
    const err = await t.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).errors.map((e: Error) => e.message)).toEqual(['b', 'a']);
  });
});
