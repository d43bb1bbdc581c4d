import { CorruptFrameError, FrameTooLongError } from "./errors.ts";
import type { Framer } from "./framer.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "./send_buffer.ts";
import { checkLimit, indexOfSequence, toBytes } from "./_bytes.ts";

/** Options of a {@linkcode DelimiterFramer}. */
export interface DelimiterFramerOptions {
  /**
   * The delimiters, as bytes or UTF-8 text. Decoding splits at whichever gives the shortest
   * frame; encoding appends the first.
   */
  delimiters: readonly (Uint8Array | string)[];
  /**
   * The longest frame accepted or sent, in bytes, not counting the delimiter.
   *
   * @default {65536}
   */
  maxFrameLength?: number;
  /**
   * Whether decoded frames lose their delimiter.
   *
   * @default {true}
   */
  stripDelimiter?: boolean;
}

/**
 * Frames ended by a delimiter, or by one of several (Netty's `DelimiterBasedFrameDecoder`):
 * when more than one delimiter is buffered, the one that gives the shortest frame wins; at equal
 * length, the one listed first.
 *
 * ```
 *  delimiters ["\r\n", "\n"]
 *  BEFORE DECODE (12 bytes)            AFTER DECODE
 *  +---------------------+            +-----+ +-----+
 *  | ABC\nDEF\r\nGH      |   ----->   | ABC | | DEF |    "GH" stays buffered
 *  +---------------------+            +-----+ +-----+
 * ```
 *
 * Decoding returns `undefined` until a delimiter is buffered; once `maxFrameLength` plus the
 * longest delimiter's length are buffered without one it throws {@linkcode FrameTooLongError}.
 * At end of stream, bytes after the last delimiter are a truncated frame. Frames are views into
 * the receive buffer.
 *
 * @example Split on either of two delimiters
 * ```ts
 * import { decodeFrames, DelimiterFramer, encodeFrame } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const framer = new DelimiterFramer({ delimiters: ["||", ";"] });
 * const frames = decodeFrames(framer, new TextEncoder().encode("a||b;c;"));
 * assertEquals(frames.map((f) => new TextDecoder().decode(f)), ["a", "b", "c"]);
 * assertEquals(encodeFrame(framer, new TextEncoder().encode("d")), new TextEncoder().encode("d||"));
 * ```
 */
export class DelimiterFramer implements Framer<Uint8Array> {
  readonly #delimiters: Uint8Array[];
  readonly #longest: number;
  readonly #maxFrameLength: number;
  readonly #strip: boolean;
  #scanBuffer: ReceiveBuffer | undefined;
  #scanned = 0;

  /**
   * Creates a delimiter framer.
   *
   * @param options The delimiters, the limit and stripping.
   * @throws {RangeError} When there is no delimiter or one is empty.
   */
  constructor(options: DelimiterFramerOptions) {
    this.#delimiters = options.delimiters.map(toBytes);
    if (this.#delimiters.length === 0 || this.#delimiters.some((d) => d.byteLength === 0)) {
      throw new RangeError("Cannot create delimiter framer: need at least one non-empty delimiter");
    }
    this.#longest = Math.max(...this.#delimiters.map((d) => d.byteLength));
    this.#maxFrameLength = checkLimit("maxFrameLength", options.maxFrameLength ?? 64 * 1024);
    this.#strip = options.stripDelimiter ?? true;
  }

  /**
   * Decodes the next frame.
   *
   * @param buffer The receive buffer.
   * @returns The frame, or `undefined` when more bytes are needed.
   * @throws {FrameTooLongError} When no delimiter comes within `maxFrameLength` bytes.
   */
  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    const { bytes, start, end } = buffer;
    // Resume where the last call stopped, backing off for a delimiter split across reads.
    const resume = this.#scanBuffer === buffer ? this.#scanned - buffer.position : 0;
    const from = start + Math.max(0, resume - this.#longest + 1);
    let best = -1;
    let bestDelimiter: Uint8Array | undefined;
    for (const delimiter of this.#delimiters) {
      const limit = best < 0 ? end : Math.min(end, best + delimiter.byteLength);
      const i = indexOfSequence(bytes, delimiter, from, limit);
      if (i >= 0 && (best < 0 || i < best)) {
        best = i;
        bestDelimiter = delimiter;
      }
    }
    if (best < 0) {
      const length = end - start;
      if (length >= this.#maxFrameLength + this.#longest) {
        throw new FrameTooLongError("Cannot decode frame", length, this.#maxFrameLength);
      }
      this.#scanBuffer = buffer;
      this.#scanned = buffer.position + length;
      return undefined;
    }
    this.#scanBuffer = undefined;
    const frameLength = best - start;
    if (frameLength > this.#maxFrameLength) {
      throw new FrameTooLongError("Cannot decode frame", frameLength, this.#maxFrameLength);
    }
    const delimiterLength = bestDelimiter!.byteLength;
    if (!this.#strip) return buffer.take(frameLength + delimiterLength);
    const frame = buffer.take(frameLength);
    buffer.skip(delimiterLength);
    return frame;
  }

  /**
   * Writes `frame` and the first delimiter.
   *
   * @param frame The frame.
   * @param out Where the bytes go.
   * @throws {CorruptFrameError} When `frame` contains a delimiter.
   * @throws {FrameTooLongError} When `frame` is longer than `maxFrameLength`.
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    if (frame.byteLength > this.#maxFrameLength) {
      throw new FrameTooLongError("Cannot encode frame", frame.byteLength, this.#maxFrameLength);
    }
    for (const delimiter of this.#delimiters) {
      const i = indexOfSequence(frame, delimiter, 0, frame.byteLength);
      if (i >= 0) {
        throw new CorruptFrameError(`Cannot encode frame: it contains a delimiter at offset ${i}`);
      }
    }
    out.write(frame);
    out.write(this.#delimiters[0]);
  }
}
