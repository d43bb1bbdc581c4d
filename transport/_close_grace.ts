/**
 * The end of a graceful close's grace: a protocol that closed with its last words (an
 * answered bad frame, a drain timeout's failure answers) bounds their flush, so that a peer
 * that does not read cannot hold the connection open.
 *
 * @module
 */

import type { Transport } from "./types.ts";

/**
 * A transport's method that tells whether its graceful close has handed everything to the
 * socket and lingers for the peer's EOF (its `closeWrite()` may still be pending then: the
 * lingering's own timeout bounds that too).
 */
export const LINGERING: unique symbol = Symbol("plexus.lingering");

/**
 * Whether `transport`'s close is only lingering: a grace for its flush was kept, and what is
 * left is the wait for the peer's EOF, which `lingerTimeout` bounds (aborting it would reset
 * the peer that is still sending — what lingering is for). An empty write buffer alone does
 * not say so: its `closeWrite()` may still be pending (a stream's sink that waits).
 */
export function closeFlushed(transport: Transport): boolean {
  return (transport as { [LINGERING]?: () => boolean })[LINGERING]?.() === true;
}

/** Aborts `transport` with `error` unless its close has flushed (see {@linkcode closeFlushed}). */
export function abortIfStillFlushing(transport: Transport, error: Error | undefined): void {
  if (!closeFlushed(transport)) transport.abort(error);
}
