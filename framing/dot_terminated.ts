import { FrameTooLongError } from "./errors.ts";
import type { Framer } from "./framer.ts";
import { DEFAULT_MAX_FRAME_LENGTH } from "./length_prefixed.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";
import { checkLimit } from "./_bytes.ts";

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const CRLF = new Uint8Array([CR, LF]);
const TERMINATOR = new Uint8Array([DOT, CR, LF]);

/** Options of a {@linkcode DotTerminatedFramer}. */
export interface DotTerminatedFramerOptions {
  /**
   * The longest message accepted or sent, in bytes after dot-unstuffing.
   *
   * @default {8388608}
   */
  maxFrameLength?: number;
}

/**
 * An SMTP `DATA` body (RFC 5321 4.5.2): lines up to a line holding a single `.`, with
 * dot-stuffing. The frame is the message, every line with its line ending.
 *
 * ```
 *  ON THE WIRE                                 FRAME
 *  +------------------------------------+      +---------------------------+
 *  | Hi\r\n..dots\r\nbye\r\n.\r\n       | <--> | Hi\r\n.dots\r\nbye\r\n    |
 *  +------------------------------------+      +---------------------------+
 * ```
 *
 * Decoding removes the first `.` of every line that starts with one and returns the message
 * at the `.` line (`.\r\n`, or `.\n` from lenient peers); until then it returns `undefined`.
 * A message over `maxFrameLength` throws {@linkcode FrameTooLongError} as soon as that many
 * bytes are buffered. The message is a view into the receive buffer when no line needed
 * unstuffing, a new array otherwise.
 *
 * Encoding doubles a `.` at the start of every line, ends a last line that lacks a line
 * ending with `\r\n`, and appends `.\r\n` (what Python's `smtplib` sends).
 *
 * @example Dot-stuffing both ways
 * ```ts
 * import { decodeFrames, DotTerminatedFramer, encodeFrame } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const message = new TextEncoder().encode("Hi\r\n.dots\r\nbye");
 * const wire = encodeFrame(new DotTerminatedFramer(), message);
 * assertEquals(new TextDecoder().decode(wire), "Hi\r\n..dots\r\nbye\r\n.\r\n");
 * const [decoded] = decodeFrames(new DotTerminatedFramer(), wire);
 * assertEquals(new TextDecoder().decode(decoded), "Hi\r\n.dots\r\nbye\r\n");
 * ```
 */
export class DotTerminatedFramer implements Framer<Uint8Array> {
  readonly #max: number;
  #scanBuffer: ReceiveBuffer | undefined;
  /** Stream offset of the message being scanned. */
  #origin = 0;
  /** Stream offset of the first line not yet scanned. */
  #lineStart = 0;
  /** Dots to remove in the lines scanned so far. */
  #dots = 0;
  /**
   * Stream offset the search for the current line's `\n` resumes at: a long line is searched
   * once, not again from its start on every read.
   */
  #scanned = 0;

  /**
   * Creates a dot-terminated framer.
   *
   * @param options The limit.
   */
  constructor(options?: DotTerminatedFramerOptions) {
    options ??= {};
    this.#max = checkLimit("maxFrameLength", options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH);
  }

  /**
   * Decodes the next message.
   *
   * @param buffer The receive buffer.
   * @returns The unstuffed message, or `undefined` when more bytes are needed.
   * @throws {FrameTooLongError} When the message exceeds `maxFrameLength`.
   */
  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    const { bytes, start, end } = buffer;
    if (this.#scanBuffer !== buffer || this.#origin !== buffer.position) {
      // A new message (or bytes consumed by another framer since the last call).
      this.#scanBuffer = buffer;
      this.#origin = buffer.position;
      this.#lineStart = buffer.position;
      this.#scanned = buffer.position;
      this.#dots = 0;
    }
    let line = start + (this.#lineStart - buffer.position);
    let from = Math.max(line, start + (this.#scanned - buffer.position));
    for (;;) {
      const found = buffer.indexOf(LF, from - start);
      const lf = found < 0 ? -1 : start + found;
      if (lf < 0) {
        const length = end - start - this.#dots;
        if (length > this.#max + TERMINATOR.byteLength) {
          throw new FrameTooLongError("Cannot decode message", length, this.#max);
        }
        this.#lineStart = buffer.position + (line - start);
        this.#scanned = buffer.position + (end - start);
        return undefined;
      }
      if (bytes[line] === DOT) {
        const rest = lf - line;
        if (rest === 1 || (rest === 2 && bytes[line + 1] === CR)) {
          return this.#finish(buffer, line - start, lf + 1 - line);
        }
        this.#dots++;
      }
      line = from = lf + 1;
      if (line - start - this.#dots > this.#max) {
        throw new FrameTooLongError("Cannot decode message", line - start - this.#dots, this.#max);
      }
    }
  }

  /**
   * Writes the dot-stuffed message and the `.` line.
   *
   * @param frame The message.
   * @param out Where the bytes go.
   * @throws {FrameTooLongError} When the message exceeds `maxFrameLength` (with the `\r\n`
   * added to a last line without a line ending).
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    const n = frame.byteLength;
    // The message sent includes the "\r\n" added to a last line without a line ending.
    const length = n > 0 && frame[n - 1] !== LF ? n + CRLF.byteLength : n;
    if (length > this.#max) throw new FrameTooLongError("Cannot encode message", length, this.#max);
    let line = 0;
    while (line < n) {
      if (frame[line] === DOT) out.writeByte(DOT);
      const lf = frame.indexOf(LF, line);
      const next = lf < 0 ? n : lf + 1;
      out.write(frame.subarray(line, next));
      line = next;
    }
    if (n > 0 && frame[n - 1] !== LF) out.write(CRLF);
    out.write(TERMINATOR);
  }

  /** Takes the message of `length` bytes and the terminator line after it. */
  #finish(buffer: ReceiveBuffer, length: number, terminator: number): Uint8Array {
    const dots = this.#dots;
    this.#scanBuffer = undefined;
    this.#dots = 0;
    if (dots === 0) {
      const message = buffer.take(length);
      buffer.skip(terminator);
      return message;
    }
    const { bytes, start } = buffer;
    const message = buffer.allocate(length - dots);
    let w = 0;
    let line = start;
    const end = start + length;
    while (line < end) {
      const from = bytes[line] === DOT ? line + 1 : line;
      const lf = bytes.indexOf(LF, line);
      const next = lf < 0 || lf >= end ? end : lf + 1;
      message.set(bytes.subarray(from, next), w);
      w += next - from;
      line = next;
    }
    buffer.skip(length + terminator);
    return message;
  }
}
