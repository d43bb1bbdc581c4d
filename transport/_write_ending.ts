/**
 * How a protocol that holds whole frames back in the transport's write buffer (appended, not
 * yet committed: a packet writer's `packetGrace`) learns that the write side is ending, so
 * that what it wrote before a `close()` or `writeEof()` still goes out. The transport cannot
 * commit them itself: it cannot tell whole frames from one an encoder is still appending.
 *
 * @module
 */

/** A protocol method the transport calls just before its write side ends (see the module). */
export const WRITE_ENDING: unique symbol = Symbol("plexus.writeEnding");

/** A protocol that may hold frames back. */
export type WriteEndingProtocol = {
  /** Commits the whole frames held back; called once the close or `writeEof()` begins. */
  [WRITE_ENDING]?(): void;
};
