/**
 * Events between nodes over Redis pub/sub: ranges became ready (wake idle workers everywhere), a
 * task was created or completed, the catalogue changed. Delivery is best effort: every node also
 * looks again on a timer, so a lost message costs a delay, never correctness (the ledger decides).
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../log.js';

export const ClusterEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ranges-ready'), from: z.string() }),
  z.object({ type: z.literal('task-complete'), from: z.string(), task: z.number().int() }),
  z.object({ type: z.literal('catalogue-changed'), from: z.string() }),
]);
export type ClusterEvent = z.infer<typeof ClusterEventSchema>;

type WithoutFrom<E> = E extends unknown ? Omit<E, 'from'> : never;

export class ClusterBus {
  private readonly channel: string;

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    prefix: string,
    private readonly self: string,
    private readonly log: Logger,
  ) {
    this.channel = `${prefix}:events`;
  }

  /** Subscribes; `handle` gets every event another node publishes. */
  async start(handle: (e: ClusterEvent) => void): Promise<void> {
    this.subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      let parsed;
      try {
        parsed = ClusterEventSchema.safeParse(JSON.parse(text));
      } catch {
        parsed = null;
      }
      if (!parsed?.success) {
        this.log.warn({ text: text.slice(0, 200) }, 'unreadable cluster event ignored');
        return;
      }
      if (parsed.data.from !== this.self) handle(parsed.data);
    });
    await this.subscriber.subscribe(this.channel);
  }

  publish(event: WithoutFrom<ClusterEvent>): void {
    this.publisher.publish(this.channel, JSON.stringify({ ...event, from: this.self })).catch((e: unknown) => this.log.warn({ err: e }, 'publishing a cluster event failed'));
  }
}
