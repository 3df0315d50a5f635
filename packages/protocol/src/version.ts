/**
 * Protocol version and the two WebSocket paths. A peer whose `hello` names another
 * version is refused with `CloseCode.versionMismatch` and an `incompatible` reason.
 */

/** The one wire version this build speaks. Bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1 as const;

/** Worker channel: assignments, chunks, credit, reports. */
export const STREAM_PATH = '/v1/stream' as const;

/** Monitor channel: snapshot then batched deltas for dashboards. */
export const MONITOR_PATH = '/v1/monitor' as const;

/** Why two peers cannot talk, named (after tldraw's sync protocol) so a UI can say it plainly. */
export const Incompatibility = {
  clientTooOld: 'clientTooOld',
  serverTooOld: 'serverTooOld',
} as const;
export type Incompatibility = (typeof Incompatibility)[keyof typeof Incompatibility];

export function incompatibility(clientVersion: number): Incompatibility | null {
  if (clientVersion === PROTOCOL_VERSION) return null;
  return clientVersion < PROTOCOL_VERSION ? Incompatibility.clientTooOld : Incompatibility.serverTooOld;
}
