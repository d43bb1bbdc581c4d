import { FrameTooLongError } from "./errors.ts";
import type { Framer } from "./framer.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "./send_buffer.ts";
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
 * The chunk is a view into the receive buffer. `length` is its own limit: with
 * `partial: false` the receive buffer holds at most `length` bytes plus one read. Bytes that
 * wait after the chunk are bounded by `maxTrailing`. Encoding writes frames as they are.
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
   * @param options Whole or partial delivery.
   */
  constructor(length: number, options: ChunkFramerOptions = {}) {
    this.length = checkLimit("length", length);
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
      if (buffer.length > this.#maxTrailing) {
        throw new FrameTooLongError(
          "Cannot decode after the chunk",
          buffer.length,
          this.#maxTrailing,
          "maxTrailing",
        );
      }
      if (this.length > 0 || this.#emptyDelivered) return undefined;
      this.#emptyDelivered = true;
      return buffer.take(0);
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
   * Writes the frame as it is.
   *
   * @param frame The bytes.
   * @param out Where the bytes go.
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    out.write(frame);
  }
}
