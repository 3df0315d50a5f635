/**
 * ByteSource: positional reads of an event file wherever it lives (a local file here; HTTP
 * byte ranges elsewhere implement the same interface).
 */
import { open } from 'node:fs/promises';
import { FormatError } from './errors.js';

/** Random-access bytes of one file. */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Exactly `length` bytes starting at absolute `offset` (rejects if the source is shorter:
   * a ByteSource never returns a short read).
   */
  read(offset: number, length: number): Promise<Buffer>;
}

/** A ByteSource over a local file, read with positional reads on one FileHandle. */
export async function openFileByteSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  const fh = await open(path, 'r');
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (e) {
    await fh.close();
    throw e;
  }
  return {
    size,
    async read(offset: number, length: number): Promise<Buffer> {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw new RangeError(`invalid read of ${length} bytes at ${offset}`);
      }
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new FormatError('truncated', `${path}: read of ${length} bytes at offset ${offset} hit the end of the file after ${done} bytes`);
        }
        done += bytesRead;
      }
      return buf;
    },
    close: () => fh.close(),
  };
}
