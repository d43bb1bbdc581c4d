/**
 * The queue behind a stream transport's write buffer: chunks wait here and leave coalesced, so
 * that many small writes in one turn cost one `conn.write`.
 *
 * @module
 */

/** The most bytes joined into one coalesced write: bigger chunks are written on their own. */
export const MAX_COALESCED_WRITE = 1024 * 1024;

/** A FIFO of byte chunks that hands them out joined, up to a size. */
export class WriteQueue {
  #chunks: Uint8Array[] = [];
  #head = 0;

  /** Whether no chunk is queued. */
  get empty(): boolean {
    return this.#head === this.#chunks.length;
  }

  /** Queues a non-empty chunk (by reference). */
  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
  }

  /** Drops every queued chunk. */
  clear(): void {
    this.#chunks = [];
    this.#head = 0;
  }

  /**
   * Takes the next bytes to write: the head chunk alone when it is the only one or at least
   * `max` bytes long, otherwise as many whole chunks as fit in `max` bytes, joined into one new
   * buffer. Returns `undefined` when empty.
   */
  take(max: number = MAX_COALESCED_WRITE): Uint8Array | undefined {
    const chunks = this.#chunks;
    const start = this.#head;
    if (start === chunks.length) return undefined;
    let end = start + 1;
    let total = chunks[start].byteLength;
    while (end < chunks.length && total + chunks[end].byteLength <= max) {
      total += chunks[end].byteLength;
      end++;
    }
    let out: Uint8Array;
    if (end === start + 1) {
      out = chunks[start];
    } else {
      out = new Uint8Array(total);
      let offset = 0;
      for (let i = start; i < end; i++) {
        out.set(chunks[i], offset);
        offset += chunks[i].byteLength;
      }
    }
    if (end === chunks.length) {
      chunks.length = 0;
      this.#head = 0;
    } else {
      for (let i = start; i < end; i++) chunks[i] = EMPTY;
      this.#head = end;
      if (end > 1024 && end * 2 > chunks.length) {
        this.#chunks = chunks.slice(end);
        this.#head = 0;
      }
    }
    return out;
  }
}

const EMPTY = new Uint8Array(0);
