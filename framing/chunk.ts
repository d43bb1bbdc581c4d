import { FrameTooLongError, TruncatedFrameError } from "./errors.ts";
import type { Framer } from "./framer.ts";
import { DEFAULT_MAX_FRAME_LENGTH } from "./length_prefixed.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";
import { checkLimit } from "./_bytes.ts";

/** Options of a {@linkcode ChunkFramer}. */
export interface ChunkFramerOptions {
  /**
   * `false`: the chunk comes as one frame once all of it is buffered. `true`: it comes in
   * pieces as bytes arrive, as Tendril's `ChunkFramer` does, so a large chunk is never held
   * whole.
   *
   * @default {false}
   */
  partial?: boolean;
  /**
   * The largest chunk allowed. Applications often take the length from the peer (`DATA 5`):
   * check it against this limit, since a bigger `length` throws `RangeError` here.
   *
   * @default {8388608}
   */
  maxFrameLength?: number;
  /**
   * The most bytes that may wait in the receive buffer after the chunk is done, for the next
   * receive framer; more throw {@linkcode FrameTooLongError} (the application never switched).
   *
   * @default {65536}
   */
  maxTrailing?: number;
}

/**
 * Exactly `length` bytes, then nothing more (Tendril's `ChunkFramer`): for a fixed-size body
 * inside another protocol, such as the data after an SMTP-like `DATA 5`. Once the chunk is
 * delivered ({@linkcode ChunkFramer.done}), `decode` returns `undefined` and later bytes stay
 * buffered for the next receive framer; switch to it from `frameReceived`.
 *
 * The chunk is a view into the receive buffer. `length` may be at most `maxFrameLength`
 * (8 MiB by default): with `partial: false` the receive buffer holds at most `length` bytes
 * plus one read, and it grows only as the bytes arrive. Bytes that wait after the chunk are
 * bounded by `maxTrailing`. At end of stream a chunk begun but not finished is a
 * {@linkcode TruncatedFrameError}, also when its first pieces were delivered
 * (`partial: true`). Encoding writes frames as they are.
 *
 * @example A 5-byte chunk between lines
 * ```ts
 * import { ChunkFramer, LineFramer, ReceiveBuffer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const buffer = new ReceiveBuffer();
 * buffer.append(new TextEncoder().encode("DATA 5\r\n12345QUIT\r\n"));
 * const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
 * assertEquals(text(new LineFramer().decode(buffer)), "DATA 5");
 * const chunk = new ChunkFramer(5);
 * assertEquals(text(chunk.decode(buffer)), "12345");
 * assertEquals(chunk.done, true);
 * assertEquals(text(new LineFramer().decode(buffer)), "QUIT");
 * ```
 */
export class ChunkFramer implements Framer<Uint8Array> {
  /** The chunk size. */
  readonly length: number;
  readonly #partial: boolean;
  readonly #maxTrailing: number;
  #remaining: number;
  #emptyDelivered = false;

  /**
   * Creates a chunk framer.
   *
   * @param length The chunk size in bytes.
   * @param options Whole or partial delivery, and the limits.
   * @throws {RangeError} When `length` is not a non-negative safe integer or exceeds
   * `maxFrameLength`.
   */
  constructor(length: number, options?: ChunkFramerOptions) {
    options ??= {};
    this.length = checkLimit("length", length);
    const max = checkLimit("maxFrameLength", options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH);
    if (length > max) {
      throw new RangeError(
        `Cannot create chunk framer: length ${length} exceeds maxFrameLength ${max}`,
      );
    }
    this.#remaining = length;
    this.#partial = options.partial ?? false;
    this.#maxTrailing = checkLimit("maxTrailing", options.maxTrailing ?? 64 * 1024);
  }

  /** The bytes of the chunk not yet delivered. */
  get remaining(): number {
    return this.#remaining;
  }

  /** Whether the whole chunk was delivered. */
  get done(): boolean {
    return this.#remaining === 0;
  }

  /**
   * Whether pieces of the chunk were delivered and the rest is still to come (`partial`): the
   * frame deadline runs from the first piece, and a piece is not a completed frame, so a chunk
   * trickled a byte at a time is still cut by `frameTimeout`.
   *
   * @returns `true` between the chunk's first piece and its last.
   */
  frameUnderway(): boolean {
    return this.#remaining > 0 && this.#remaining < this.length;
  }

  /**
   * Decodes the chunk, or the next piece of it.
   *
   * @param buffer The receive buffer.
   * @returns The chunk (or a piece), or `undefined` when more bytes are needed or the chunk
   * is done. A 0-byte chunk is delivered once, as an empty frame.
   * @throws {FrameTooLongError} When more than `maxTrailing` bytes wait after the chunk.
   */
  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    const remaining = this.#remaining;
    if (remaining === 0) {
      // A 0-byte chunk is delivered first, as any chunk is, so the application can switch
      // framers before the bytes after it are judged.
      if (this.length === 0 && !this.#emptyDelivered) {
        this.#emptyDelivered = true;
        return buffer.take(0);
      }
      if (buffer.length > this.#maxTrailing) {
        throw new FrameTooLongError(
          "Cannot decode after the chunk",
          buffer.length,
          this.#maxTrailing,
          "maxTrailing",
        );
      }
      return undefined;
    }
    const available = buffer.length;
    if (available < remaining) {
      if (!this.#partial || available === 0) {
        buffer.reserve(remaining);
        return undefined;
      }
      this.#remaining = remaining - available;
      return buffer.take(available);
    }
    this.#remaining = 0;
    return buffer.take(remaining);
  }

  /**
   * At end of stream: the rest of a partial chunk, if any bytes of it are buffered; otherwise
   * an error when the chunk was begun and not finished.
   *
   * @param buffer The receive buffer.
   * @returns A piece of the chunk, or `undefined`.
   * @throws {TruncatedFrameError} When the stream ended inside a chunk whose first pieces
   * were delivered.
   */
  decodeEof(buffer: ReceiveBuffer): Uint8Array | undefined {
    const frame = this.decode(buffer);
    if (frame !== undefined) return frame;
    const delivered = this.length - this.#remaining;
    if (this.#remaining > 0 && delivered > 0) {
      throw new TruncatedFrameError(
        delivered + buffer.length,
        `Cannot decode chunk of ${this.length} bytes`,
      );
    }
    return undefined;
  }

  /**
   * Writes the frame as it is.
   *
   * @param frame The bytes.
   * @param out Where the bytes go.
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    out.write(frame);
  }
}
