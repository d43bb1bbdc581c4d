/**
 * The framing error tree (after Netty's `CodecException`):
 *
 * ```
 * FramingError
 * ├── FrameTooLongError          a frame (or its announced length) is over the limit
 * ├── CorruptFrameError          bytes that no valid frame can contain
 * ├── TruncatedFrameError        the stream ended inside a frame
 * └── TransmissionRejectedError  a tinyproto peer refused our transmission
 * ```
 *
 * Misuse (a bad option, a wrong argument type) throws `TypeError` or `RangeError` instead.
 *
 * @module
 */

/**
 * A frame could not be decoded or encoded. The base class of every framing error: catch it to
 * handle them all.
 *
 * @example Catch any framing error
 * ```ts
 * import { FrameTooLongError, FramingError } from "@plexus/net/framing";
 *
 * const error = new FrameTooLongError("Cannot decode frame", 9000000, 8388608);
 * console.assert(error instanceof FramingError);
 * console.assert(error.message === "Cannot decode frame: length 9000000 exceeds maxFrameLength 8388608");
 * ```
 */
export class FramingError extends Error {
  /**
   * Creates a framing error.
   *
   * @param message What failed and why, naming the offending value.
   * @param options `cause`: the underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FramingError";
  }
}

/**
 * A frame is longer than the framer allows, or a peer announced such a length. Decoders throw
 * it before allocating anything for the frame.
 *
 * @example The message names the length and the limit
 * ```ts
 * import { FrameTooLongError } from "@plexus/net/framing";
 *
 * const error = new FrameTooLongError("Cannot decode line", 70000, 65536);
 * console.assert(error.message === "Cannot decode line: length 70000 exceeds maxFrameLength 65536");
 * console.assert(error.length === 70000 && error.maxLength === 65536);
 * ```
 */
export class FrameTooLongError extends FramingError {
  /** The length found or announced (a `bigint` when it does not fit a safe integer). */
  readonly length: number | bigint;
  /** The limit it exceeds. */
  readonly maxLength: number;

  /**
   * Creates the error; the message is `${context}: length ${length} exceeds ${limitName} ${maxLength}`.
   *
   * @param context What failed, for example `"Cannot decode frame"`.
   * @param length The length found or announced.
   * @param maxLength The limit.
   * @param limitName The option that sets the limit (default `maxFrameLength`).
   */
  constructor(
    context: string,
    length: number | bigint,
    maxLength: number,
    limitName?: string,
  ) {
    super(`${context}: length ${length} exceeds ${limitName ?? "maxFrameLength"} ${maxLength}`);
    this.name = "FrameTooLongError";
    this.length = length;
    this.maxLength = maxLength;
  }
}

/**
 * The input holds bytes that no valid frame can contain (a bad length digit, a COBS code that
 * runs past the frame, a missing terminator, ...).
 *
 * @example Tell corrupt input from other failures
 * ```ts
 * import { CorruptFrameError, FramingError } from "@plexus/net/framing";
 *
 * const error = new CorruptFrameError("Cannot decode netstring: expected ',' at offset 7, got 0x21");
 * console.assert(error instanceof FramingError);
 * ```
 */
export class CorruptFrameError extends FramingError {
  /**
   * Creates the error.
   *
   * @param message What is wrong, naming the offending byte or offset.
   */
  constructor(message: string) {
    super(message);
    this.name = "CorruptFrameError";
  }
}

/**
 * The stream ended inside a frame: bytes were left that make no whole frame. On Deno a TCP
 * reset is reported as end of stream, so a peer that dies mid-frame shows up as this error.
 *
 * @example Leftover bytes at end of stream
 * ```ts
 * import { TruncatedFrameError } from "@plexus/net/framing";
 *
 * const error = new TruncatedFrameError(3);
 * console.assert(error.message === "Cannot decode frame: the stream ended with 3 bytes of an incomplete frame");
 * ```
 */
export class TruncatedFrameError extends FramingError {
  /** How many bytes of the incomplete frame were left. */
  readonly leftover: number;

  /**
   * Creates the error.
   *
   * @param leftover The bytes left in the receive buffer at end of stream.
   * @param context What failed.
   */
  constructor(leftover: number, context?: string) {
    context ??= "Cannot decode frame";
    super(`${context}: the stream ended with ${leftover} bytes of an incomplete frame`);
    this.name = "TruncatedFrameError";
    this.leftover = leftover;
  }
}

/**
 * A tinyproto peer refused a transmission we announced (it answered `00` to our size), or
 * refused the connection itself at the handshake (`00` refused, `fe` connection limit
 * reached, `fd` conflict; then {@linkcode TransmissionRejectedError.size} is 0).
 *
 * @example What a refused send rejects with
 * ```ts
 * import { TransmissionRejectedError } from "@plexus/net/framing";
 *
 * const error = new TransmissionRejectedError(5);
 * console.assert(error.message === "Transmission rejected: the peer refused 5 bytes");
 * console.assert(error.status === 0x00);
 * ```
 */
export class TransmissionRejectedError extends FramingError {
  /** The size we announced (0 for a connection refused at the handshake). */
  readonly size: number;
  /**
   * The status byte the peer answered with: `0x00` (refused), or at the handshake `0xfe`
   * (connection limit reached) or `0xfd` (conflict).
   */
  readonly status: number;

  /**
   * Creates the error.
   *
   * @param size The size the peer refused.
   * @param options `status`: the peer's status byte (default `0x00`); `message`: a message
   * other than the default one.
   */
  constructor(size: number, options?: { status?: number; message?: string }) {
    super(options?.message ?? `Transmission rejected: the peer refused ${size} bytes`);
    this.name = "TransmissionRejectedError";
    this.size = size;
    this.status = options?.status ?? 0x00;
  }
}
