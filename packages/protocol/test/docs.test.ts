// docs/PROTOCOL.md must stay in step with the code: a section per message type, every close
// code and error code in its tables, the version and the numbers a peer relies on.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CHUNK_FRAME_OVERHEAD,
  CLIENT_MESSAGE_TYPES,
  CloseCode,
  DEFAULT_LIMIT_POLICY,
  ErrorCode,
  MAX_EVENTS_PER_CHUNK,
  MIN_CHUNK,
  MONITOR_PATH,
  PROTOCOL_VERSION,
  SERVER_MESSAGE_TYPES,
  STREAM_PATH,
} from '../src/index.js';

const doc = readFileSync(fileURLToPath(new URL('../../../docs/PROTOCOL.md', import.meta.url)), 'utf8');

describe('docs/PROTOCOL.md', () => {
  it('names the protocol version and both paths', () => {
    expect(doc).toContain(`(version ${PROTOCOL_VERSION})`);
    expect(doc).toContain(`\`${STREAM_PATH}\``);
    expect(doc).toContain(`\`${MONITOR_PATH}\``);
  });

  it.each([...new Set([...CLIENT_MESSAGE_TYPES, ...SERVER_MESSAGE_TYPES])])('has a section and an example for `%s`', (type) => {
    expect(doc).toMatch(new RegExp(`^### \`${type}\``, 'm'));
    expect(doc).toContain(`"type": "${type}"`);
  });

  it.each(Object.entries(CloseCode))('lists close code %s (%i) in the close code table', (name, code) => {
    expect(doc).toMatch(new RegExp(`^\\| ${code} \\| \`${name}\` \\|`, 'm'));
  });

  it.each(Object.values(ErrorCode))('lists error code %s in the error code table', (code) => {
    expect(doc).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
  });

  it('states the limits a peer relies on', () => {
    expect(MIN_CHUNK).toBe(4096);
    expect(doc).toContain('below 4096 bytes (`MIN_CHUNK`)');
    expect(CHUNK_FRAME_OVERHEAD).toBe(32 * 1024);
    expect(doc).toContain('`maxChunk` + 32 KiB (`CHUNK_FRAME_OVERHEAD`)');
    expect(doc).toContain(`at most ${MAX_EVENTS_PER_CHUNK} (\`MAX_EVENTS_PER_CHUNK\`)`);
    const p = DEFAULT_LIMIT_POLICY;
    expect([p.maxChunk, p.defaultWindow, p.maxWindow, p.defaultPrefetch, p.maxPrefetch]).toEqual([1 << 20, 8 << 20, 256 << 20, 2, 64]);
    expect([p.heartbeatMs, p.leaseMs, p.maxFrame]).toEqual([5000, 30_000, 65_536]);
    expect(doc).toContain('`heartbeatMs` (5000), `leaseMs` (30000) and `maxFrame` (65536)');
  });
});
