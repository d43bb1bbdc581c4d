import { CorruptFrameError, FrameTooLongError } from "./errors.ts";
import type { Framer } from "./framer.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";
import { checkLimit } from "./_bytes.ts";

const LF = 0x0a;
const CR = 0x0d;
const CRLF = new Uint8Array([CR, LF]);
const LF_ONLY = new Uint8Array([LF]);

/** Options of a {@linkcode LineFramer}. */
export interface LineFramerOptions {
  /**
   * The longest line accepted or sent, in bytes, not counting the line ending.
   *
   * @default {65536}
   */
  maxLength?: number;
  /**
   * Whether decoded lines lose their line ending (`\n` or `\r\n`). A `\r` not followed by
   * `\n` is always part of the line.
   *
   * @default {true}
   */
  stripDelimiter?: boolean;
  /**
   * The line ending {@linkcode LineFramer.encode} appends.
   *
   * @default {"\r\n"}
   */
  lineEnding?: "\r\n" | "\n";
  /**
   * What to do with a line over `maxLength`: `false` throws {@linkcode FrameTooLongError};
   * `true` drops it up to the next `\n` and goes on with the next line (resynchronises).
   *
   * @default {false}
   */
  discardTooLong?: boolean;
  /**
   * What to do at end of stream with a last line that has no line ending: `false` leaves it
   * as a truncated frame (a `FramedProtocol` ends with a `TruncatedFrameError`);
   * `true` delivers it as the last line (tokio's `LinesCodec::decode_eof`, asyncio's
   * `readline()`), as input from a file or stdin often ends. A trailing `\r` is stripped
   * with the delimiter, and `maxLength` still applies.
   *
   * @default {false}
   */
  allowUnterminated?: boolean;
}

/**
 * Lines ended by `\n` or `\r\n` (Tendril's `LineFramer`, Netty's `LineBasedFrameDecoder`).
 *
 * ```
 *  BEFORE DECODE (16 bytes)              AFTER DECODE
 *  +------------------+--------+        +---------+ +--------+
 *  | HELO x\r\nQUIT\n | NOOP.. |  --->  | HELO x  | | QUIT   |   "NOOP.." stays buffered
 *  +------------------+--------+        +---------+ +--------+
 * ```
 *
 * Decoding returns a line as soon as its `\n` is buffered, or `undefined` (need more bytes).
 * A line longer than `maxLength` throws {@linkcode FrameTooLongError} as soon as that many
 * bytes are buffered without a line feed, so a peer cannot make the buffer grow beyond about
 * twice `maxLength` (a long line grows it geometrically, so its bytes are copied a few times,
 * not once per read); with `discardTooLong` it is dropped instead. At end of stream an
 * unterminated last line is a truncated frame, or with `allowUnterminated` the last line.
 * Lines are views into the receive buffer.
 *
 * Encoding appends the line ending and throws {@linkcode CorruptFrameError} for a frame that
 * contains `\n` (or, with `lineEnding: "\n"`, ends with `\r`), {@linkcode FrameTooLongError}
 * for one over `maxLength`.
 *
 * @example Decode and encode lines
 * ```ts
 * import { decodeFrames, encodeFrame, LineFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const text = (b: Uint8Array) => new TextDecoder().decode(b);
 * const lines = decodeFrames(new LineFramer(), new TextEncoder().encode("one\r\ntwo\nthree\r\n"));
 * assertEquals(lines.map(text), ["one", "two", "three"]);
 * assertEquals(text(encodeFrame(new LineFramer(), new TextEncoder().encode("four"))), "four\r\n");
 * ```
 */
export class LineFramer implements Framer<Uint8Array> {
  readonly #maxLength: number;
  readonly #strip: boolean;
  readonly #ending: Uint8Array;
  readonly #discardTooLong: boolean;
  readonly #allowUnterminated: boolean;
  #discarding = false;
  #scanBuffer: ReceiveBuffer | undefined;
  #scanned = 0;

  /**
   * Creates a line framer.
   *
   * @param options Limit, delimiter stripping, line ending, oversize policy.
   */
  constructor(options?: LineFramerOptions) {
    options ??= {};
    this.#maxLength = checkLimit("maxLength", options.maxLength ?? 64 * 1024);
    this.#strip = options.stripDelimiter ?? true;
    this.#ending = (options.lineEnding ?? "\r\n") === "\n" ? LF_ONLY : CRLF;
    this.#discardTooLong = options.discardTooLong ?? false;
    this.#allowUnterminated = options.allowUnterminated ?? false;
  }

  /**
   * Decodes the next line.
   *
   * @param buffer The receive buffer.
   * @returns The line, or `undefined` when more bytes are needed (over-long lines dropped with
   * `discardTooLong` are skipped on the way).
   * @throws {FrameTooLongError} When a line exceeds `maxLength` and `discardTooLong` is off.
   */
  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    for (;;) {
      const length = buffer.length;
      // Resume the scan for "\n" where the last call stopped, if it was on this same data.
      const from = this.#scanBuffer === buffer && this.#scanned > buffer.position
        ? this.#scanned - buffer.position
        : 0;
      const lf = buffer.indexOf(LF, from);
      if (lf < 0) {
        // Even a trailing "\r" would leave more than maxLength bytes of line.
        if (!this.#discarding && length > this.#maxLength + 1) this.#tooLong(length);
        if (this.#discarding) {
          // Keep one byte (no line feed): the dropped line is still a frame under way, so the
          // deadline clock sees it as a partial frame and frameTimeout bounds it.
          if (length > 1) buffer.skip(length - 1);
        } else {
          this.#scanBuffer = buffer;
          this.#scanned = buffer.position + length;
        }
        return undefined;
      }
      this.#scanBuffer = undefined;
      const end = lf > 0 && buffer.bytes[buffer.start + lf - 1] === CR ? lf - 1 : lf;
      if (this.#discarding || end > this.#maxLength) {
        if (!this.#discarding) this.#tooLong(end);
        this.#discarding = false;
        buffer.skip(lf + 1);
        continue; // the line is dropped; the next one may be buffered
      }
      if (!this.#strip) return buffer.take(lf + 1);
      const line = buffer.take(end);
      buffer.skip(lf + 1 - end);
      return line;
    }
  }

  /**
   * Decodes the next line at end of stream: as {@linkcode LineFramer.decode}, and with
   * `allowUnterminated` the bytes left after the last line ending are the last line.
   *
   * @param buffer The receive buffer, to which no more bytes will come.
   * @returns The line, or `undefined` when no whole line is left.
   * @throws {FrameTooLongError} When a line exceeds `maxLength` and `discardTooLong` is off.
   *
   * @example A last line without a line ending
   * ```ts
   * import { decodeFrames, LineFramer } from "@plexus/net/framing";
   * import { assertEquals } from "@std/assert";
   *
   * const input = new TextEncoder().encode("one\ntwo");
   * const lines = decodeFrames(new LineFramer({ allowUnterminated: true }), input);
   * assertEquals(lines.map((line) => new TextDecoder().decode(line)), ["one", "two"]);
   * ```
   */
  decodeEof(buffer: ReceiveBuffer): Uint8Array | undefined {
    const line = this.decode(buffer);
    if (line === undefined && this.#discarding) {
      // The end of a dropped line: nothing to deliver.
      this.#discarding = false;
      buffer.skip(buffer.length);
      return undefined;
    }
    const length = buffer.length;
    if (line !== undefined || !this.#allowUnterminated || length === 0) return line;
    this.#scanBuffer = undefined;
    // As in decode(): a trailing "\r" does not count against maxLength, stripped or not.
    const end = buffer.bytes[buffer.start + length - 1] === CR ? length - 1 : length;
    if (end > this.#maxLength) {
      this.#tooLong(end);
      this.#discarding = false;
      buffer.skip(length);
      return undefined;
    }
    if (!this.#strip) return buffer.take(length);
    const last = buffer.take(end);
    buffer.skip(length - end);
    return last;
  }

  /**
   * Writes `frame` and the line ending.
   *
   * @param frame The line, without a line ending.
   * @param out Where the bytes go.
   * @throws {CorruptFrameError} When `frame` contains `\n`, or ends with `\r` and the line
   * ending is `\n`.
   * @throws {FrameTooLongError} When `frame` is longer than `maxLength`.
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    if (frame.byteLength > this.#maxLength) {
      throw new FrameTooLongError(
        "Cannot encode line",
        frame.byteLength,
        this.#maxLength,
        "maxLength",
      );
    }
    const lf = frame.indexOf(LF);
    if (lf >= 0) {
      throw new CorruptFrameError(
        `Cannot encode line: the frame contains a line feed at offset ${lf}`,
      );
    }
    const n = frame.byteLength;
    if (this.#ending === LF_ONLY && n > 0 && frame[n - 1] === CR) {
      // "\r\n" would end the line: the peer would decode it without its last "\r".
      throw new CorruptFrameError(
        `Cannot encode line: the frame ends with a carriage return at offset ${n - 1}`,
      );
    }
    out.write(frame);
    out.write(this.#ending);
  }

  #tooLong(length: number): void {
    if (!this.#discardTooLong) {
      throw new FrameTooLongError("Cannot decode line", length, this.#maxLength, "maxLength");
    }
    this.#discarding = true;
    this.#scanBuffer = undefined;
  }
}
