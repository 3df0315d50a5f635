/** Transport: the uWebSockets.js server behind a small interface (sockets, channels, routes). */
export { UwsTransport, assertNativeUws, jsonReply, NativeTransportError, SAFE_SEND_THRESHOLD } from './UwsTransport.js';
export type * from './types.js';
