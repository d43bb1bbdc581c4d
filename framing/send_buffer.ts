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
 * A growable byte sink that encoders write frames into. Many small frames end up in one
 * storage block, so sending them costs one allocation and one transport write per batch rather
 * than per frame.
 *
 * {@linkcode SendBuffer.take} hands the bytes written so far out as a view and never writes
 * that region again (later writes go after it, or into a fresh block), so the view may be
 * passed to `transport.write()` as it is.
 *
 * @example Encode two frames into one buffer
 * ```ts
 * import { LengthPrefixedFramer, SendBuffer } from "@plexus/net/framing";
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
  #bytes: Uint8Array;
  #start = 0;
  #end = 0;
  readonly #blockSize: number;
  #nextBlock: number;

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
    return this.#end - this.#start;
  }

  /**
   * Appends bytes.
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

  /** The current storage block (valid until the next write). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /**
   * Hands out the bytes written since the last call, as a view that stays valid for ever.
   *
   * @returns The bytes; empty when nothing was written.
   */
  take(): Uint8Array {
    const view = this.#bytes.subarray(this.#start, this.#end);
    this.#start = this.#end;
    const n = view.byteLength;
    if (n > 0) {
      // Size the next block for a batch like this one, and start it in a fresh block when
      // this one has no room for it, so a batch seldom has to move.
      this.#nextBlock = Math.min(MAX_BLOCK, Math.max(this.#blockSize, n + (n >> 2)));
      // A block grown for one big batch is let go with it rather than kept for ever.
      if (this.#bytes.byteLength - this.#end < n || this.#bytes.byteLength > MAX_BLOCK) {
        this.#bytes = EMPTY;
        this.#start = this.#end = 0;
      }
    }
    return view;
  }

  #grow(n: number): void {
    const pending = this.#end - this.#start;
    const old = this.#bytes;
    // Double the pending bytes, so that joining many frames copies each byte O(1) times, and
    // add just the room a write needs (a big one is not doubled).
    this.#bytes = new Uint8Array(Math.max(this.#nextBlock, 2 * pending + n));
    if (pending > 0) this.#bytes.set(old.subarray(this.#start, this.#end));
    this.#start = 0;
    this.#end = pending;
  }
}

const EMPTY = new Uint8Array(0);
/** The largest block sized after previous batches: 1 MiB. */
const MAX_BLOCK = 1024 * 1024;
