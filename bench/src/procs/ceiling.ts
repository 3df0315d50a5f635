/**
 * The ceiling: a bare uWebSockets.js server (the build ESS uses) that pushes prebuilt chunk
 * frames — the same bytes, cut at the same chunk boundaries as ESS cuts them, with the same
 * MessagePack headers — to every client that asks, with no dispatch, credit, cache or copy.
 *
 * Flow control is the socket's alone: send while uWS's buffer is under the same 2 MiB
 * high-water mark ESS uses, resume on `drain`, and look again from a 1 ms timer while above it
 * (TRANSPORT-NOTES: a loop driven by `drain` alone stalls). Every send of 16 KiB or more that
 * finds the buffer empty is preceded by a ping inside the same `cork()`: the safe path of
 * TRANSPORT-NOTES, without which this build corrupts the stream.
 *
 * Driver protocol (IPC): `{cmd: 'load', files}` → reads the files and builds the frames, answers
 * `{ok, frames, bytes}`; then clients connect to ws://127.0.0.1:<port>/ and send one text frame
 * `{index, total, passes, mode?}`: they get the frames index, index+total, ... `passes` times, then a
 * small `{type: 'fin'}` frame.
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { encodeChunk, packStandard } from '@ess/protocol';
import type { PlannedChunk } from '../lib/data.js';

/** A chunk as ESS would cut it: its place in the range and of the range in the file. */
type ChunkJob = PlannedChunk;

export interface CeilingLoad {
  readonly cmd: 'load';
  readonly files: readonly { readonly path: string; readonly chunks: readonly ChunkJob[] }[];
}

interface UwsWs {
  send(m: Uint8Array | string, isBinary?: boolean, compress?: boolean): number;
  getBufferedAmount(): number;
  cork(cb: () => void): void;
  ping(m?: string): number;
  end(code?: number): void;
  getUserData(): Conn;
}
interface UwsApp {
  ws(pattern: string, b: Record<string, unknown>): UwsApp;
  listen(host: string, port: number, cb: (token: unknown) => void): UwsApp;
}
interface Uws {
  App(): UwsApp;
  DISABLED: number;
}

/**
 * How a connection's frames are produced: sent as prebuilt (`prebuilt`, the ceiling proper);
 * copied into a freshly allocated buffer per send (`alloc`, what the ESS node does per chunk); or
 * copied into one of a few reused buffers (`pool`, the fix proposed for the node).
 */
type FrameMode = 'prebuilt' | 'alloc' | 'pool';

interface Conn {
  mode: FrameMode;
  ws?: UwsWs;
  list: number[];
  next: number;
  closed: boolean;
  retry: NodeJS.Timeout | null;
}

const uWS = createRequire(import.meta.url)(process.env.ESS_BENCH_UWS ?? '') as Uws;
if (typeof uWS.DISABLED === 'undefined') throw new Error('ceiling: the native uWebSockets.js binding did not load');

const HIGH_WATER = 2 * 1024 * 1024;
const SAFE = 16 * 1024;
const port = Number(process.argv[2]);
let frames: Buffer[] = [];
const FIN = packStandard({ type: 'fin' });

function pump(c: Conn): void {
  const ws = c.ws;
  if (!ws || c.closed) return;
  while (c.next < c.list.length) {
    if (ws.getBufferedAmount() >= HIGH_WATER) {
      c.retry ??= setTimeout(() => {
        c.retry = null;
        pump(c);
      }, 1);
      return;
    }
    const frame = produce(c.mode, frames[c.list[c.next++]!]!);
    ws.cork(() => {
      if (frame.length >= SAFE && ws.getBufferedAmount() === 0) ws.ping();
      ws.send(frame, true, false);
    });
  }
  if (c.next === c.list.length) {
    c.next++;
    ws.send(FIN, true, false);
  }
}

const pool: Buffer[] = [];
let poolNext = 0;
function produce(mode: FrameMode, frame: Buffer): Buffer {
  if (mode === 'prebuilt') return frame;
  if (mode === 'alloc') {
    const b = Buffer.allocUnsafe(frame.length);
    frame.copy(b);
    return b;
  }
  // uWS has written or copied a frame by the time send() returns, so a buffer can be reused at once.
  let b = pool[poolNext];
  if (!b || b.length < frame.length) b = pool[poolNext] = Buffer.allocUnsafe(Math.max(frame.length, 1024 * 1024 + 32 * 1024));
  poolNext = (poolNext + 1) % 4;
  frame.copy(b);
  return b.subarray(0, frame.length);
}

uWS
  .App()
  .ws('/*', {
    maxPayloadLength: 64 * 1024,
    maxBackpressure: 0,
    closeOnBackpressureLimit: 0,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    compression: uWS.DISABLED,
    upgrade: undefined,
    open: (ws: UwsWs) => {
      const c = ws.getUserData();
      c.ws = ws;
      c.mode = 'prebuilt';
      c.list = [];
      c.next = 0;
      c.closed = false;
      c.retry = null;
    },
    message: (ws: UwsWs, message: ArrayBuffer) => {
      const c = ws.getUserData();
      const { index, total, passes, mode } = JSON.parse(Buffer.from(message).toString()) as { index: number; total: number; passes: number; mode?: FrameMode };
      c.mode = mode ?? 'prebuilt';
      const list: number[] = [];
      for (let p = 0; p < passes; p++) for (let i = index; i < frames.length; i += total) list.push(i);
      c.list = list;
      c.next = 0;
      pump(c);
    },
    drain: (ws: UwsWs) => pump(ws.getUserData()),
    close: (ws: UwsWs) => {
      const c = ws.getUserData();
      c.closed = true;
      if (c.retry) clearTimeout(c.retry);
    },
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      process.send?.({ ok: false, error: `ceiling: cannot listen on ${port}` });
      process.exit(1);
    }
    process.send?.({ listening: port });
  });

process.on('message', (m: CeilingLoad | { cmd: 'exit' }) => {
  if (m.cmd === 'exit') process.exit(0);
  void (async () => {
    const built: Buffer[] = [];
    let bytes = 0;
    for (const f of m.files) {
      const data = await readFile(f.path);
      for (const ch of f.chunks) {
        const payload = data.subarray(ch.fileOffset + ch.offset, ch.fileOffset + ch.offset + ch.length);
        built.push(encodeChunk({ range: ch.range, seq: ch.seq, offset: ch.offset, entries: [...ch.entries], sizes: [...ch.sizes] }, payload));
        bytes += ch.length;
      }
    }
    frames = built;
    process.send?.({ ok: true, frames: frames.length, bytes });
  })().catch((e: unknown) => process.send?.({ ok: false, error: String(e) }));
});
process.on('disconnect', () => process.exit(0));
