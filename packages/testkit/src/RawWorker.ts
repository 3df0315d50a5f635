/**
 * A scriptable protocol peer over `ws` for tests that need to misbehave or to watch the wire:
 * send any frame, stop reading, grant credit by hand, and await particular messages.
 */
import WebSocket from 'ws';
import {
  CHUNK_FRAME_OVERHEAD,
  PROTOCOL_VERSION,
  STREAM_PATH,
  decodeServerMessage,
  encode,
  type ClientMessage,
  type Hello,
  type ServerMessage,
} from '@ess/protocol';

export interface RawWorkerOptions {
  readonly path?: string;
  /** Largest frame accepted (default 2 MiB plus overhead). */
  readonly maxPayload?: number;
  /** Called for every decoded message with the size of its frame. */
  readonly onMessage?: (message: ServerMessage, frameBytes: number) => void;
  /** Keep chunk messages in `received` (default true; long tests turn it off to bound memory). */
  readonly retainChunks?: boolean;
}

type Waiter = { pred: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void };

export class RawWorker {
  readonly received: ServerMessage[] = [];
  /** Frames that did not decode. */
  readonly undecodable: Buffer[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly waiters: Waiter[] = [];
  /** Payload bytes of chunks received. */
  chunkBytes = 0;

  private constructor(
    readonly ws: WebSocket,
    private readonly o: RawWorkerOptions,
  ) {
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data: Buffer) => {
      const r = decodeServerMessage(data);
      if (!r.ok) {
        this.undecodable.push(data);
        return;
      }
      const m = r.value;
      if (m.type === 'chunk') this.chunkBytes += m.data.length;
      this.o.onMessage?.(m, data.length);
      if (m.type !== 'chunk' || this.o.retainChunks !== false) this.received.push(m);
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const w = this.waiters[i]!;
        if (w.pred(m)) {
          this.waiters.splice(i, 1);
          w.resolve(m);
        }
      }
    });
    ws.on('error', () => undefined);
  }

  static async connect(baseUrl: string, o: RawWorkerOptions = {}): Promise<RawWorker> {
    const ws = new WebSocket(baseUrl + (o.path ?? STREAM_PATH), {
      perMessageDeflate: false,
      maxPayload: o.maxPayload ?? 2 * 1024 * 1024 + CHUNK_FRAME_OVERHEAD,
    });
    const w = new RawWorker(ws, o);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return w;
  }

  /** Connects, says hello as a worker and waits for the welcome. */
  static async hello(baseUrl: string, hello: Partial<Hello> = {}, o: RawWorkerOptions = {}): Promise<RawWorker> {
    const w = await RawWorker.connect(baseUrl, o);
    w.send({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', ...hello });
    await w.next('welcome');
    return w;
  }

  send(msg: ClientMessage): void {
    this.ws.send(encode(msg));
  }

  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** The first message of `type` (and matching `pred`) already received or still to come. */
  next<T extends ServerMessage['type']>(type: T, pred: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true, timeoutMs = 10_000): Promise<Extract<ServerMessage, { type: T }>> {
    const match = (m: ServerMessage): boolean => m.type === type && pred(m as Extract<ServerMessage, { type: T }>);
    const found = this.received.find(match);
    if (found) return Promise.resolve(found as Extract<ServerMessage, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} message within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        pred: match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<ServerMessage, { type: T }>);
        },
      });
    });
  }

  /** Stops reading from the socket: the server's writes pile up in kernel buffers, then in its own. */
  pauseReading(): void {
    (this.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
  }

  resumeReading(): void {
    (this.ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
