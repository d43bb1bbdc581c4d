/**
 * The end of a graceful close's grace: a protocol that closed with its last words (an
 * answered bad frame, a drain timeout's failure answers) bounds their flush, so that a peer
 * that does not read cannot hold the connection open.
 *
 * @module
 */

import type { Transport } from "./types.ts";

/**
 * Whether `transport`'s close has handed everything to the socket: a grace for its flush was
 * kept, and what is left is the lingering close's wait for the peer's EOF, which
 * `lingerTimeout` bounds (aborting it would reset the peer that is still sending — what
 * lingering is for).
 */
export function closeFlushed(transport: Transport): boolean {
  return transport.isClosing() && transport.getWriteBufferSize() === 0;
}

/** Aborts `transport` with `error` unless its close has flushed (see {@linkcode closeFlushed}). */
export function abortIfStillFlushing(transport: Transport, error: Error | undefined): void {
  if (!closeFlushed(transport)) transport.abort(error);
}
