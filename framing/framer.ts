/**
 * The framer contract: decode one frame at a time from a connection's receive buffer, encode
 * one frame into a send buffer.
 *
 * @module
 */

import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";

/**
 * Cuts frames out of a byte stream, one at a time (tokio's `Decoder`).
 *
 * The buffer belongs to the connection. A decoder takes the bytes of one frame out of it and
 * leaves the rest, so another decoder can carry on exactly where it stopped: that is what makes
 * a mid-stream switch lossless.
 *
 * | `decode(buffer)` ...                          | meaning                                     |
 * | --------------------------------------------- | ------------------------------------------- |
 * | returns a frame                               | one frame; its bytes are consumed           |
 * | returns `undefined`                           | need more bytes: call again when more arrive |
 * | throws a {@linkcode FramingError}             | the stream is bad; the connection must close |
 *
 * - `undefined` means only "need more bytes": no whole frame is buffered. A decoder may have
 *   consumed bytes that can never be part of a frame (garbage, padding, a dropped over-long
 *   line) before returning it, but it never returns `undefined` while a frame it could decode
 *   is buffered, so the caller waits for more bytes and does not call again until they come.
 *   It never means end of stream.
 * - At end of stream the caller calls {@linkcode Decoder.decodeEof} (or `decode` when absent)
 *   until it returns `undefined`; any bytes still buffered then are a truncated frame, and the
 *   caller throws {@linkcode TruncatedFrameError} (tokio's default `decode_eof`), naming the
 *   decoder's class.
 * - A decoder may keep state between calls (a scan offset, a count), so use one instance per
 *   stream. The state never holds bytes: those stay in the buffer.
 *
 * @typeParam T The frame type.
 *
 * @example A decoder for 2-byte frames
 * ```ts
 * import { type Decoder, ReceiveBuffer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const pairs: Decoder<Uint8Array> = {
 *   decode: (buffer) => buffer.length >= 2 ? buffer.take(2) : undefined,
 * };
 * const buffer = new ReceiveBuffer();
 * buffer.append(new Uint8Array([1, 2, 3]));
 * assertEquals(pairs.decode(buffer), new Uint8Array([1, 2]));
 * assertEquals(pairs.decode(buffer), undefined); // need more bytes
 * ```
 */
export interface Decoder<T = Uint8Array> {
  /**
   * Decodes the next frame from the start of `buffer`.
   *
   * @param buffer The connection's receive buffer.
   * @returns The frame, or `undefined` when more bytes are needed (and only then).
   * @throws {FramingError} When the bytes cannot start a valid frame.
   */
  decode(buffer: ReceiveBuffer): T | undefined;
  /**
   * Decodes a frame at end of stream, when no more bytes will come (for example the rest of
   * the bytes as a last frame). Defaults to {@linkcode Decoder.decode}. Called until it returns
   * `undefined`; bytes still buffered then are a {@linkcode TruncatedFrameError}.
   *
   * @param buffer The connection's receive buffer.
   * @returns The frame, or `undefined` when there is none left.
   * @throws {FramingError} When the leftover bytes are bad.
   */
  decodeEof?(buffer: ReceiveBuffer): T | undefined;
  /**
   * Whether the decoder is inside a frame whose rest is still to come although none of its
   * bytes may be buffered: a chunk delivered in pieces, or a header decoded as a frame of its
   * own (tinyproto's size). The frame deadline (`frameTimeout`) then keeps running from the
   * frame's start, and the pieces delivered meanwhile do not count as completed frames. Left
   * out: a frame is in progress while part of it is buffered, and every frame completes one.
   *
   * @returns `true` while such a frame is under way.
   */
  frameUnderway?(): boolean;
}

/**
 * Turns frames into bytes (tokio's `Encoder`): writes one encoded frame into a
 * {@linkcode SendBuffer}.
 *
 * @typeParam T The frame type.
 *
 * @example An encoder that ends every frame with a 0 byte
 * ```ts
 * import { type Encoder, encodeFrame } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const zeroTerminated: Encoder<Uint8Array> = {
 *   encode(frame, out) {
 *     out.write(frame);
 *     out.writeByte(0);
 *   },
 * };
 * assertEquals(encodeFrame(zeroTerminated, new Uint8Array([5])), new Uint8Array([5, 0]));
 * ```
 */
export interface Encoder<T = Uint8Array> {
  /**
   * Writes the encoding of `frame` into `out`. On a throw nothing may have been written.
   *
   * @param frame The frame.
   * @param out Where the bytes go.
   * @throws {FramingError} When the frame cannot be encoded (too long, holds a delimiter).
   */
  encode(frame: T, out: SendBuffer): void;
}

/**
 * A decoder and encoder of the same frame type: what a {@linkcode FramedProtocol} uses for
 * both directions.
 *
 * @typeParam T The frame type.
 *
 * @example Every built-in framer is a Framer
 * ```ts
 * import { type Framer, LineFramer } from "@plexus/net/framing";
 *
 * const framer: Framer<Uint8Array> = new LineFramer();
 * ```
 */
export interface Framer<T = Uint8Array> extends Decoder<T>, Encoder<T> {}
