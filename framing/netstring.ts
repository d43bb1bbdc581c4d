import { CorruptFrameError, FrameTooLongError } from "./errors.ts";
import type { Framer } from "./framer.ts";
import { DEFAULT_MAX_FRAME_LENGTH } from "./length_prefixed.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";
import { checkLimit } from "./_bytes.ts";

const COLON = 0x3a;
const COMMA = 0x2c;
const ZERO = 0x30;

/** Options of a {@linkcode NetstringFramer}. */
export interface NetstringFramerOptions {
  /**
   * The longest frame accepted or sent, in bytes.
   *
   * @default {8388608}
   */
  maxFrameLength?: number;
}

/**
 * D. J. Bernstein's netstrings: `<decimal length>:<bytes>,`.
 *
 * ```
 *  FRAME             ON THE WIRE
 *  +-------+         +----------+
 *  | hello | <-----> | 5:hello, |
 *  +-------+         +----------+
 * ```
 *
 * Decoding returns `undefined` until the whole netstring is buffered. It checks the length
 * digit by digit, so an announced length over `maxFrameLength` throws
 * {@linkcode FrameTooLongError} before the frame is waited for. A non-digit, a leading zero
 * (`05:`), an empty length or a missing `,` throws {@linkcode CorruptFrameError}. Frames are
 * views into the receive buffer.
 *
 * @example Round trip
 * ```ts
 * import { decodeFrames, encodeFrame, NetstringFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeFrame(new NetstringFramer(), new TextEncoder().encode("hello"));
 * assertEquals(new TextDecoder().decode(bytes), "5:hello,");
 * assertEquals(decodeFrames(new NetstringFramer(), new TextEncoder().encode("0:,2:hi,")), [
 *   new Uint8Array([]),
 *   new TextEncoder().encode("hi"),
 * ]);
 * ```
 */
export class NetstringFramer implements Framer<Uint8Array> {
  readonly #max: number;

  /**
   * Creates a netstring framer.
   *
   * @param options The limit.
   */
  constructor(options?: NetstringFramerOptions) {
    options ??= {};
    this.#max = checkLimit("maxFrameLength", options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH);
  }

  /**
   * Decodes the next netstring.
   *
   * @param buffer The receive buffer.
   * @returns The frame, or `undefined` when more bytes are needed.
   * @throws {FrameTooLongError} When the announced length exceeds `maxFrameLength`.
   * @throws {CorruptFrameError} When the bytes are not a netstring.
   */
  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    const { bytes, start, end } = buffer;
    let length = 0;
    let i = start;
    for (; i < end; i++) {
      const byte = bytes[i];
      if (byte === COLON) break;
      const digit = byte - ZERO;
      if (digit < 0 || digit > 9) {
        this.#corrupt(`expected a digit or ':' at offset ${i - start}`, byte);
      }
      if (i > start && bytes[start] === ZERO) {
        this.#corrupt("the length has a leading zero at offset 0", ZERO);
      }
      length = length * 10 + digit;
      if (length > this.#max) {
        throw new FrameTooLongError("Cannot decode netstring", length, this.#max);
      }
    }
    if (i === end) return undefined;
    if (i === start) this.#corrupt("expected a digit at offset 0", COLON);
    const header = i + 1 - start;
    const total = header + length + 1;
    if (end - start < total) {
      buffer.reserve(total);
      return undefined;
    }
    const comma = bytes[start + total - 1];
    if (comma !== COMMA) this.#corrupt(`expected ',' at offset ${total - 1}`, comma);
    buffer.skip(header);
    const frame = buffer.take(length);
    buffer.skip(1);
    return frame;
  }

  /**
   * Writes `frame` as a netstring.
   *
   * @param frame The frame.
   * @param out Where the bytes go.
   * @throws {FrameTooLongError} When the frame exceeds `maxFrameLength`.
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    const length = frame.byteLength;
    if (length > this.#max) {
      throw new FrameTooLongError("Cannot encode netstring", length, this.#max);
    }
    const digits = String(length);
    const at = out.reserve(digits.length + length + 2);
    const bytes = out.bytes;
    for (let i = 0; i < digits.length; i++) bytes[at + i] = digits.charCodeAt(i);
    bytes[at + digits.length] = COLON;
    bytes.set(frame, at + digits.length + 1);
    bytes[at + digits.length + 1 + length] = COMMA;
    out.advance(digits.length + length + 2);
  }

  #corrupt(what: string, byte: number): never {
    throw new CorruptFrameError(
      `Cannot decode netstring: ${what}, got 0x${byte.toString(16).padStart(2, "0")}`,
    );
  }
}
