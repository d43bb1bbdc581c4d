import { LARGE_BLOCK, OVERSIZE, SHRINK_AFTER } from "./_shrink.ts";

/** Options of a {@linkcode SendBuffer}. */
export interface SendBufferOptions {
  /**
   * The smallest storage block. Blocks grow to fit the batches taken (up to 1 MiB), and a
   * larger write gets a block of its own size, dropped once that batch is taken.
   *
   * @default {65536}
   */
  blockSize?: number;
}

/**
 * Chunks at least this long that are given to {@linkcode SendBuffer.append} are queued by
 * reference instead of copied: 64 KiB.
 */
export const APPEND_BY_REFERENCE = 64 * 1024;

/**
 * Pending bytes past which a full block is sealed and a new one started, rather than the
 * pending bytes copied into a bigger block: 256 KiB. Big batches then leave in pieces of about
 * this size and are never copied twice.
 */
export const SEAL_SIZE = 256 * 1024;

/**
 * A growable byte sink that encoders write frames into, and the one write buffer of every
 * stream transport (`transport.out`). Many small frames end up in one storage block, so sending
 * them costs one transport write per batch rather than per frame; big chunks given to
 * {@linkcode SendBuffer.append} are queued by reference, in order, and never copied.
 *
 * {@linkcode SendBuffer.take} hands the bytes written so far out as a view and never writes
 * that region again (later writes go after it, or into a fresh block), so the view may be
 * passed to `transport.write()` as it is.
 *
 * A transport drains its buffer with {@linkcode SendBuffer.shift}, a contiguous piece at a
 * time, and calls {@linkcode SendBuffer.rewind} once everything shifted has been written, so
 * that a connection in steady state reuses one block instead of allocating (a block grown for a
 * burst is let go after a run of small batches; see {@linkcode SendBuffer.rewind}).
 *
 * @example Encode two frames into one buffer
 * ```ts
 * import { LengthPrefixedFramer } from "@plexus/net/framing";
 * import { SendBuffer } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const framer = new LengthPrefixedFramer({ lengthFieldLength: 1 });
 * const out = new SendBuffer();
 * framer.encode(new Uint8Array([7]), out);
 * framer.encode(new Uint8Array([8, 9]), out);
 * assertEquals(out.take(), new Uint8Array([1, 7, 2, 8, 9]));
 * assertEquals(out.length, 0);
 * ```
 */
export class SendBuffer {
  /** Pieces before the block's region, in order: sealed block regions and appended chunks. */
  #pieces: Uint8Array[] = [];
  #piecesHead = 0;
  #piecesLength = 0;
  #bytes: Uint8Array;
  #start = 0;
  #end = 0;
  readonly #blockSize: number;
  #nextBlock: number;
  /**
   * Double buffering for a transport that shifts while writes go on: the block left when a
   * drained block had too little room for the next batch (its last piece may still be in
   * flight), and the block ready for reuse once {@linkcode SendBuffer.rewind} says it was sent.
   */
  #retired: Uint8Array | undefined;
  #spare: Uint8Array | undefined;
  /** Batches in a row the block was oversized for (see `SHRINK_AFTER`). */
  #smallBatches = 0;

  /**
   * Creates an empty buffer.
   *
   * @param options The storage block size.
   */
  constructor(options?: SendBufferOptions) {
    options ??= {};
    this.#blockSize = options.blockSize ?? 64 * 1024;
    if (!(this.#blockSize >= 16)) {
      throw new RangeError(
        `Cannot create send buffer: blockSize must be >= 16, got ${this.#blockSize}`,
      );
    }
    this.#bytes = EMPTY;
    this.#nextBlock = this.#blockSize;
  }

  /** The number of bytes written and not yet taken. */
  get length(): number {
    return this.#piecesLength + this.#end - this.#start;
  }

  /**
   * Appends bytes, copying them.
   *
   * @param bytes The bytes to copy in.
   */
  write(bytes: Uint8Array): void {
    const n = bytes.byteLength;
    if (this.#bytes.byteLength - this.#end < n) this.#grow(n);
    this.#bytes.set(bytes, this.#end);
    this.#end += n;
  }

  /**
   * Appends a chunk: a small one is copied as {@linkcode SendBuffer.write} does, one of at
   * least 64 KiB ({@linkcode APPEND_BY_REFERENCE}) is queued by reference, after the bytes
   * before it. Do not modify a chunk handed over until it has been sent.
   *
   * @param chunk The bytes.
   *
   * @example Append a big chunk without copying it
   * ```ts
   * import { SendBuffer } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * const out = new SendBuffer();
   * const big = new Uint8Array(128 * 1024);
   * out.writeByte(1);
   * out.append(big);
   * assertEquals(out.shift(Infinity), new Uint8Array([1]));
   * assertEquals(out.shift(Infinity) === big, true);
   * ```
   */
  append(chunk: Uint8Array): void {
    const n = chunk.byteLength;
    if (n < APPEND_BY_REFERENCE) {
      this.write(chunk);
      return;
    }
    this.#seal();
    this.#pieces.push(chunk);
    this.#piecesLength += n;
  }

  /**
   * Appends one byte.
   *
   * @param byte The value, 0 to 255.
   */
  writeByte(byte: number): void {
    if (this.#end === this.#bytes.byteLength) this.#grow(1);
    this.#bytes[this.#end++] = byte;
  }

  /**
   * Appends an unsigned integer of `width` bytes (1 to 6, or 8 for values up to 2^53 - 1).
   *
   * @param value The value; it must fit `width` bytes.
   * @param width The byte count.
   * @param littleEndian Least significant byte first.
   */
  writeUint(value: number, width: number, littleEndian?: boolean): void {
    littleEndian ??= false;
    const at = this.reserve(width);
    const bytes = this.#bytes;
    let v = value;
    for (let i = 0; i < width; i++) {
      const byte = v % 256;
      v = Math.floor(v / 256);
      bytes[littleEndian ? at + i : at + width - 1 - i] = byte;
    }
    this.#end = at + width;
  }

  /**
   * Makes room for `n` bytes and returns the index in {@linkcode SendBuffer.bytes} where they
   * go; write them there, then call {@linkcode SendBuffer.advance}.
   *
   * @param n The byte count.
   * @returns The index of the first byte to write.
   */
  reserve(n: number): number {
    if (this.#bytes.byteLength - this.#end < n) this.#grow(n);
    return this.#end;
  }

  /**
   * Marks `n` bytes written after a {@linkcode SendBuffer.reserve}.
   *
   * @param n The byte count written at the reserved index.
   */
  advance(n: number): void {
    this.#end += n;
  }

  /**
   * Copies the last `n` bytes written (all of them when fewer are buffered): a trace shows a
   * frame just encoded this way.
   *
   * @param n The byte count.
   * @returns A copy of the bytes.
   *
   * @example The frame just encoded
   * ```ts
   * import { SendBuffer } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * const out = new SendBuffer();
   * out.write(new Uint8Array([1, 2]));
   * out.write(new Uint8Array([3, 4, 5]));
   * assertEquals(out.copyLast(3), new Uint8Array([3, 4, 5]));
   * ```
   */
  copyLast(n: number): Uint8Array {
    const copy = new Uint8Array(Math.max(0, Math.min(n, this.length)));
    let need = copy.byteLength;
    const inBlock = Math.min(need, this.#end - this.#start);
    copy.set(this.#bytes.subarray(this.#end - inBlock, this.#end), need - inBlock);
    need -= inBlock;
    const pieces = this.#pieces;
    for (let i = pieces.length - 1; need > 0 && i >= this.#piecesHead; i--) {
      const piece = pieces[i];
      const take = Math.min(need, piece.byteLength);
      copy.set(piece.subarray(piece.byteLength - take), need - take);
      need -= take;
    }
    return copy;
  }

  /** The current storage block (valid until the next write). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /**
   * Hands out the bytes written since the last call, as a view that stays valid for ever
   * (joined into one new buffer when big chunks were appended by reference). Use it or
   * {@linkcode SendBuffer.shift} with {@linkcode SendBuffer.rewind}, not both: `rewind()`
   * writes the block again from its start.
   *
   * @returns The bytes; empty when nothing was written.
   */
  take(): Uint8Array {
    if (this.#piecesLength > 0) {
      const joined = new Uint8Array(this.length);
      let at = 0;
      for (let piece = this.shift(Infinity); piece; piece = this.shift(Infinity)) {
        joined.set(piece, at);
        at += piece.byteLength;
      }
      this.#afterBatch(joined.byteLength);
      return joined;
    }
    const view = this.#bytes.subarray(this.#start, this.#end);
    this.#start = this.#end;
    this.#afterBatch(view.byteLength);
    return view;
  }

  /**
   * Hands out the next contiguous piece of at most `max` bytes from the front, as a view (or
   * an appended chunk itself). Later writes never touch it until {@linkcode SendBuffer.rewind}.
   *
   * @param max The most bytes to hand out (> 0).
   * @returns The piece, or `undefined` when the buffer is empty.
   */
  shift(max: number): Uint8Array | undefined {
    if (this.#piecesLength > 0) {
      const pieces = this.#pieces;
      const head = pieces[this.#piecesHead];
      if (head.byteLength <= max) {
        pieces[this.#piecesHead++] = EMPTY;
        if (this.#piecesHead === pieces.length) {
          pieces.length = 0;
          this.#piecesHead = 0;
        }
        this.#piecesLength -= head.byteLength;
        return head;
      }
      pieces[this.#piecesHead] = head.subarray(max);
      this.#piecesLength -= max;
      return head.subarray(0, max);
    }
    const pending = this.#end - this.#start;
    if (pending === 0) return undefined;
    const n = pending < max ? pending : max;
    const view = this.#bytes.subarray(this.#start, this.#start + n);
    this.#start += n;
    if (n === pending) this.#drained(n);
    return view;
  }

  /**
   * The block was drained by a piece of `n` bytes: size the next block for a batch like it,
   * and when the block has no room left for another, go on in the spare block (or a new one),
   * so the next batch is neither copied nor grown while this piece is being written.
   */
  #drained(n: number): void {
    this.#nextBlock = Math.min(MAX_BLOCK, Math.max(this.#blockSize, n + (n >> 2)));
    if (this.#bytes.byteLength - this.#end >= n) return;
    if (this.#bytes.byteLength <= MAX_BLOCK) this.#retired = this.#bytes;
    const spare = this.#spare;
    this.#spare = undefined;
    this.#bytes = spare !== undefined && spare.byteLength >= this.#nextBlock ? spare : EMPTY;
    this.#start = this.#end = 0;
  }

  /**
   * Drops bytes from the back until `length` are left: a transport discards what was appended
   * since its last commit this way.
   *
   * @param length The byte count to keep (at most {@linkcode SendBuffer.length}).
   */
  truncate(length: number): void {
    let excess = this.length - length;
    if (excess <= 0) return;
    const inBlock = this.#end - this.#start;
    const fromBlock = excess < inBlock ? excess : inBlock;
    this.#end -= fromBlock;
    excess -= fromBlock;
    const pieces = this.#pieces;
    while (excess > 0) {
      const last = pieces[pieces.length - 1];
      if (last.byteLength <= excess) {
        pieces.pop();
        excess -= last.byteLength;
        this.#piecesLength -= last.byteLength;
      } else {
        pieces[pieces.length - 1] = last.subarray(0, last.byteLength - excess);
        this.#piecesLength -= excess;
        excess = 0;
      }
    }
    if (this.#piecesHead === pieces.length) {
      pieces.length = 0;
      this.#piecesHead = 0;
    }
  }

  /**
   * Drops every byte, and the block with them: pieces handed out may still be read (a write
   * a closed channel had in flight), so their memory is not written again.
   */
  clear(): void {
    this.#pieces = [];
    this.#piecesHead = 0;
    this.#piecesLength = 0;
    this.#bytes = EMPTY;
    this.#start = this.#end = 0;
    this.#retired = this.#spare = undefined;
  }

  /**
   * Declares every piece handed out by {@linkcode SendBuffer.shift} finished with. A block
   * left behind while they were written becomes the spare the next full block switches to;
   * when the buffer is empty, the next bytes go to the start of the current block again, and an
   * idle buffer keeps one block (the larger), not two. A block past 1 MiB, or more than four
   * times the size the last batch asks for after 4 such batches in a row (a burst is over), is
   * let go instead, for the smaller block if that one fits: the next write takes a block sized
   * for it.
   */
  rewind(): void {
    if (this.#retired !== undefined) {
      this.#spare = this.#retired;
      this.#retired = undefined;
    }
    if (this.length !== 0) return;
    const spare = this.#spare;
    this.#spare = undefined;
    let block = this.#bytes;
    let other = spare;
    if (spare !== undefined && spare.byteLength > block.byteLength) {
      other = block;
      block = spare;
    }
    // A block grown for a burst is let go after a run of small batches (at once past 1 MiB),
    // for the other block if that one fits: a quiet connection keeps a block sized for its
    // recent traffic, not its peak, and traffic that mixes large and small batches keeps one.
    const fits = OVERSIZE * this.#nextBlock;
    this.#smallBatches = block.byteLength > fits ? this.#smallBatches + 1 : 0;
    const limit = this.#smallBatches >= SHRINK_AFTER ? fits : MAX_BLOCK;
    if (block.byteLength > limit) {
      block = other !== undefined && other.byteLength <= limit ? other : EMPTY;
      this.#smallBatches = 0;
    }
    this.#bytes = block;
    this.#start = this.#end = 0;
  }

  /** Sizes the next block after a batch of `n` bytes, and lets a big block go. */
  #afterBatch(n: number): void {
    if (n === 0) return;
    // Size the next block for a batch like this one, and start it in a fresh block when
    // this one has no room for it, so a batch seldom has to move.
    this.#nextBlock = Math.min(MAX_BLOCK, Math.max(this.#blockSize, n + (n >> 2)));
    // A block grown for one big batch is let go with it rather than kept for ever.
    if (this.#bytes.byteLength - this.#end < n || this.#bytes.byteLength > MAX_BLOCK) {
      this.#bytes = EMPTY;
      this.#start = this.#end = 0;
    }
  }

  /** Moves the block's pending region to the pieces; later bytes go after it. */
  #seal(): void {
    if (this.#end === this.#start) return;
    const region = this.#bytes.subarray(this.#start, this.#end);
    this.#pieces.push(region);
    this.#piecesLength += region.byteLength;
    this.#start = this.#end;
  }

  #grow(n: number): void {
    const pending = this.#end - this.#start;
    if (pending >= SEAL_SIZE) {
      // A big batch: seal what is pending rather than copy it, and go on in a fresh block.
      this.#seal();
      this.#bytes = new Uint8Array(Math.max(this.#nextBlock, n));
      this.#start = this.#end = 0;
      return;
    }
    const old = this.#bytes;
    // Double the pending bytes, so that joining many frames copies each byte O(1) times, and
    // add just the room a write needs (a big one is not doubled).
    const size = Math.max(this.#nextBlock, 2 * pending + n);
    const spare = this.#spare;
    this.#spare = undefined;
    this.#bytes = spare !== undefined && spare.byteLength >= size ? spare : new Uint8Array(size);
    // With no sealed piece of it still queued, the old block is free once what was shifted
    // from it is written (see rewind()).
    if (this.#piecesLength === 0 && old.byteLength > 0 && old.byteLength <= MAX_BLOCK) {
      this.#retired = old;
    }
    if (pending > 0) this.#bytes.set(old.subarray(this.#start, this.#end));
    this.#start = 0;
    this.#end = pending;
  }
}

const EMPTY = new Uint8Array(0);
/** The largest block sized after previous batches (larger ones are let go at once): 1 MiB. */
const MAX_BLOCK = LARGE_BLOCK;
