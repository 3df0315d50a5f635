/**
 * Server-side prefetch: warms the cache for the ranges the dispatcher will hand out next, up to a
 * number of ranges ahead (the cache bounds the bytes and pins what it warmed). A warm-up is let go
 * once its range has been handed out and its stream pins the data instead.
 */
import { TaskStateName } from '@ess/protocol';
import type { PrefetchHandle } from '../cache/index.js';
import type { Logger } from '../log.js';
import type { CachedReader, Marshaller } from '../marshal/index.js';
import type { Ledger } from './Ledger.js';

/** One handle for several prefetches: done when all are, released together. */
function allOf(handles: readonly PrefetchHandle[]): PrefetchHandle {
  return {
    done: Promise.all(handles.map((h) => h.done)).then((rs) => ({ bytes: rs.reduce((n, r) => n + r.bytes, 0) })),
    release: () => handles.forEach((h) => h.release()),
  };
}

export interface RangePrefetcherOptions {
  /** Ranges to keep warm ahead of the workers, across all active tasks. */
  readonly ranges: number;
  readonly log: Logger;
}

export class RangePrefetcher {
  private readonly warming = new Map<string, PrefetchHandle>();
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly ledger: Ledger,
    private readonly marshaller: Marshaller,
    private readonly reader: CachedReader,
    private readonly o: RangePrefetcherOptions,
  ) {}

  /** Looks at what comes next and warms it; calls made while a pass runs fold into one more pass. */
  kick(): void {
    if (this.stopped || this.o.ranges <= 0) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass().catch((e: unknown) => this.o.log.warn({ err: e }, 'prefetch pass failed'));
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = null;
    });
  }

  /** A range was handed out and its stream pins the data now: the warm-up can go. */
  claimed(key: string): void {
    this.warming.get(key)?.release();
    this.warming.delete(key);
  }

  /** Ranges being kept warm now. */
  get warm(): number {
    return this.warming.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    for (const h of this.warming.values()) h.release();
    this.warming.clear();
  }

  private async pass(): Promise<void> {
    const tasks = await this.ledger.listTasks(TaskStateName.active);
    if (tasks.length === 0) return;
    const perTask = Math.max(1, Math.ceil(this.o.ranges / tasks.length));
    for (const task of tasks.sort((a, b) => b.spec.priority - a.spec.priority || a.id - b.id)) {
      for (const r of await this.ledger.peek(task.id, perTask)) {
        if (this.stopped || this.warming.size >= this.o.ranges) return;
        if (this.warming.has(r.key)) continue;
        const selection = await this.marshaller.selectionFor(task.id, task.spec);
        const span = await this.marshaller.locate({ dataset: task.spec.dataset, file: r.file, startEvent: r.startEvent, lastEvent: r.lastEvent, selection });
        if (span.length === 0) continue;
        // A ROOT range reads only the baskets of its branches: warm those parts, not the whole span.
        const handles = (span.parts ?? [span]).map((p) => this.reader.prefetch(span.file, p.offset, p.length));
        this.warming.set(r.key, handles.length === 1 ? handles[0]! : allOf(handles));
      }
    }
  }
}
