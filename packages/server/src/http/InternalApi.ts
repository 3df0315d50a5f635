/**
 * The endpoint nodes of a cluster serve each other: a block of a file (by GUID) this node owns in
 * the cooperative cache, read through its own cache and origin and never forwarded further.
 * Guarded by the cluster's shared secret, not by user tokens.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { ErrorCode } from '@ess/protocol';
import type { Catalogue } from '../catalogue/index.js';
import { INTERNAL_BLOCKS_PATH } from '../cluster/PeerBlocks.js';
import type { Logger } from '../log.js';
import type { CachedReader } from '../marshal/index.js';
import { jsonReply, type UwsTransport } from '../transport/index.js';
import { bearerToken } from '../auth/index.js';

export interface InternalApiDeps {
  readonly catalogue: Catalogue;
  readonly reader: CachedReader;
  readonly secret: string;
  readonly blockSize: number;
  readonly log: Logger;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function registerInternalApi(transport: UwsTransport, deps: InternalApiDeps): void {
  const expected = digest(deps.secret);
  transport.route('get', `${INTERNAL_BLOCKS_PATH}/:guid/:block`, async (req) => {
    const token = bearerToken(req.headers);
    if (!token || !timingSafeEqual(digest(token), expected)) return jsonReply(401, { code: ErrorCode.unauthorized, message: 'cluster secret required' });
    const file = deps.catalogue.fileByGuid(req.params[0] ?? '');
    const offset = Number(req.query.get('offset'));
    const length = Number(req.query.get('length'));
    if (!file) return jsonReply(404, { code: ErrorCode.notFound, message: `no file with GUID ${req.params[0]}` });
    if (Number(req.query.get('blockSize')) !== deps.blockSize) return jsonReply(409, { code: 'conflict', message: `this node's block size is ${deps.blockSize}` });
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 1 || offset + length > file.size || offset % deps.blockSize !== 0) {
      return jsonReply(400, { code: ErrorCode.invalidRequest, message: 'offset and length must name one block of the file' });
    }
    const body = Buffer.allocUnsafe(length);
    await deps.reader.readLocal(file, offset, length, body);
    return { status: 200, headers: { 'content-type': 'application/octet-stream' }, body };
  });
}
