/**
 * When a connection lets go of a buffer that grew for a burst: one rule for the read slab,
 * the framed receive buffer and the send buffer, so that a connection holds memory for its
 * recent traffic, not its peak (and its pending read does not keep a burst's block while it
 * is quiet).
 *
 * - A buffer is oversized when it is more than {@linkcode OVERSIZE} times what the current
 *   traffic needs (one read, one batch, plus any frame in progress).
 * - It is replaced by one of the needed size after {@linkcode SHRINK_AFTER} uses in a row
 *   that found it oversized, so traffic that mixes large and small messages keeps its buffer.
 *   The read slab needs no count of its own: the read size it is compared with drops only
 *   after a run of small reads (see `_read_size.ts`).
 *
 * @module
 */

/** How many times larger than needed a buffer may be before it counts as oversized. */
export const OVERSIZE = 4;

/** Uses in a row that found a buffer oversized before it is replaced. */
export const SHRINK_AFTER = 4;

/**
 * An oversized buffer larger than this is replaced at once, not after {@linkcode SHRINK_AFTER}
 * uses: 1 MiB. A block grown for one large message (a frame of several MiB) would otherwise be
 * held by the pending read of a connection that goes quiet after it, for as long as it stays
 * quiet, and every small frame taken from it later would pin it too.
 */
export const LARGE_BLOCK = 1024 * 1024;
