/**
 * Where a plain `Protocol`'s reads go (a `BufferedProtocol` brings its own buffer, a framed
 * one its receive buffer).
 *
 * By default, into the free tail of a slab that is never written twice: each chunk handed to
 * `dataReceived()` is a view that stays valid, with no copy. Small reads share a slab; a read
 * that uses one up (bulk traffic) is followed by a new one, as fresh memory is the price of
 * chunks that stay valid (made cheaper by `_fresh_memory.ts`, where every slab is allocated).
 * With `reuseReadBuffer`, reads go into one buffer of the read size, overwritten by every
 * read: no allocation at all.
 *
 * A slab's tail is read into while it holds half a read or {@linkcode SLAB_TAIL_MIN} bytes,
 * whichever is less; then a new slab of the read size is made. The trade: every slab byte is
 * zeroed when allocated and weighs on V8's external-memory GC until each chunk in it is
 * garbage, so a tail left unread costs about what received bytes cost, while reading into a
 * short tail may split what one read would have taken into two. Small tails are cheaper to
 * drop than to read into (a 1 KiB slab: a few hundred bytes against a read); large ones are
 * not.
 *
 * A slab more than {@linkcode OVERSIZE} reads large is let go at once: the read size dropped
 * after a burst (see `_read_size.ts`), and the pending read of a quiet connection would
 * otherwise hold the burst's slab.
 *
 * @module
 */

import { freshBlock } from "./_fresh_memory.ts";
import { OVERSIZE } from "./_shrink.ts";

/**
 * A slab tail of at least this many bytes is read into even when it holds less than half a
 * read: 16 KiB. Measured with a bulk receiver (4 GiB in 256 KiB writes): with half a read
 * (128 KiB) as the only rule, 21% of the slab bytes were never read into; at 16 KiB, in three
 * interleaved A/Bs of 8–10 rounds, the receiver's CPU fell by 11–22% and the transfer took
 * 2–10% less time.
 */
export const SLAB_TAIL_MIN = 16 * 1024;

const EMPTY = new Uint8Array(0);

/** The read buffer of a plain `Protocol`: a slab's free tail, or one reused buffer. */
export class ReadSlab {
  readonly #reuse: boolean;
  #slab: Uint8Array = EMPTY;
  #used = 0;

  /** @param reuse One buffer overwritten by every read, instead of slabs never written twice. */
  constructor(reuse: boolean) {
    this.#reuse = reuse;
  }

  /** The buffer for the next read, of `size` bytes or (a slab's tail) fewer. */
  target(size: number): Uint8Array {
    const slab = this.#slab.byteLength;
    if (this.#reuse) {
      if (slab !== size) this.#slab = new Uint8Array(size);
      return this.#slab;
    }
    if (slab - this.#used < (Math.min(size >> 1, SLAB_TAIL_MIN) || 1) || slab > OVERSIZE * size) {
      this.#slab = new Uint8Array(freshBlock(size));
      this.#used = 0;
    }
    return this.#used === 0 ? this.#slab : this.#slab.subarray(this.#used);
  }

  /** Marks the first `n` bytes of the last target as handed out: a slab never rewrites them. */
  took(n: number): void {
    if (!this.#reuse) this.#used += n;
  }
}
