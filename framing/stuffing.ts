import { FrameTooLongError } from "./errors.ts";
import type { Framer } from "./framer.ts";
import { DEFAULT_MAX_FRAME_LENGTH } from "./length_prefixed.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";
import { checkLimit, indexOfSequence, indexOfSequenceIn } from "./_bytes.ts";

/** Options of a {@linkcode StuffingFramer}; the defaults are Tendril's. */
export interface StuffingFramerOptions {
  /**
   * The bytes that start every marker.
   *
   * @default {new Uint8Array([0xff, 0xff, 0xff, 0xff])}
   */
  prefix?: Uint8Array;
  /**
   * The byte after `prefix` that begins a frame.
   *
   * @default {0xff}
   */
  begin?: number;
  /**
   * The byte after `prefix` that ends a frame.
   *
   * @default {0xfe}
   */
  end?: number;
  /**
   * The byte stuffed after every `prefix` inside a frame, dropped on decoding. It must not
   * occur in `prefix`.
   *
   * @default {0x00}
   */
  nop?: number;
  /**
   * The longest frame accepted or sent, in bytes (before stuffing).
   *
   * @default {8388608}
   */
  maxFrameLength?: number;
}

/**
 * Byte stuffing with begin and end markers (Tendril's `StuffingFramer`). Each frame goes out
 * as `prefix begin <frame> prefix end`, and every `prefix` inside the frame is followed by a
 * `nop` byte, so the markers cannot occur in it. A receiver that lost track finds the next
 * frame at the next begin marker.
 *
 * ```
 *  defaults: prefix ff ff ff ff, begin ff, end fe, nop 00
 *  FRAME (5 bytes)        ON THE WIRE (16 bytes)
 *  +----------------+     +----------------+-------------------+----------------+
 *  | ff ff ff ff 41 | <-> | ff ff ff ff ff | ff ff ff ff 00 41 | ff ff ff ff fe |
 *  +----------------+     +----------------+-------------------+----------------+
 *                          begin marker      stuffed frame       end marker
 * ```
 *
 * Decoding drops bytes before a begin marker, then returns `undefined` until the end marker
 * is buffered; a frame whose stuffed form grows past what `maxFrameLength` allows throws
 * {@linkcode FrameTooLongError}. Frames are views into the receive buffer unless they held
 * stuffing. At end of stream, a started frame is truncated.
 *
 * @example Round trip with stuffing
 * ```ts
 * import { decodeFrames, encodeFrame, StuffingFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const frame = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x41]);
 * const wire = encodeFrame(new StuffingFramer(), frame);
 * assertEquals(wire.length, 16);
 * assertEquals(decodeFrames(new StuffingFramer(), wire), [frame]);
 * ```
 */
export class StuffingFramer implements Framer<Uint8Array> {
  readonly #prefix: Uint8Array;
  readonly #beginMarker: Uint8Array;
  readonly #endMarker: Uint8Array;
  readonly #stuffed: Uint8Array;
  readonly #max: number;
  readonly #maxStuffed: number;
  #scanBuffer: ReceiveBuffer | undefined;
  #scanMarker: Uint8Array | undefined;
  #scanned = 0;

  /**
   * Creates a stuffing framer.
   *
   * @param options The markers and the limit.
   * @throws {RangeError} When `prefix` is empty, `begin`, `end` and `nop` are not three
   * distinct bytes, or `prefix` contains `nop` or `end` (a stuffed frame could then not be told
   * from a marker).
   */
  constructor(options?: StuffingFramerOptions) {
    options ??= {};
    const prefix = options.prefix ?? new Uint8Array([0xff, 0xff, 0xff, 0xff]);
    const begin = options.begin ?? 0xff;
    const end = options.end ?? 0xfe;
    const nop = options.nop ?? 0x00;
    const isByte = (b: number) => Number.isInteger(b) && b >= 0 && b <= 255;
    if (
      prefix.byteLength === 0 || ![begin, end, nop].every(isByte) ||
      new Set([begin, end, nop]).size !== 3
    ) {
      throw new RangeError(
        `Cannot create stuffing framer: need a non-empty prefix and distinct begin, end and nop bytes, got ${begin}, ${end}, ${nop}`,
      );
    }
    // A nop in the prefix: a stuffed frame could not be told from a marker. An end byte: a
    // frame ending in the prefix's first bytes would form an end marker with the real one and
    // end early (prefix ff ff ff ff, end ff: 41 ff + ff ff ff ff ff).
    for (const [name, byte] of [["nop", nop], ["end", end]] as const) {
      const at = prefix.indexOf(byte);
      if (at >= 0) {
        throw new RangeError(
          `Cannot create stuffing framer: the prefix must not contain the ${name} byte 0x${
            byte.toString(16).padStart(2, "0")
          }, found at offset ${at} of the prefix`,
        );
      }
    }
    const withByte = (b: number) => {
      const marker = new Uint8Array(prefix.byteLength + 1);
      marker.set(prefix);
      marker[prefix.byteLength] = b;
      return marker;
    };
    this.#prefix = prefix;
    this.#beginMarker = withByte(begin);
    this.#endMarker = withByte(end);
    this.#stuffed = withByte(nop);
    this.#max = checkLimit("maxFrameLength", options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH);
    this.#maxStuffed = this.#max + Math.floor(this.#max / prefix.byteLength);
  }

  /**
   * Decodes the next frame.
   *
   * @param buffer The receive buffer.
   * @returns The frame, or `undefined` when more bytes are needed (bytes before a begin marker
   * may have been dropped).
   * @throws {FrameTooLongError} When a frame grows past `maxFrameLength`.
   */
  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    const markerLength = this.#beginMarker.byteLength;
    if (!this.#startsWithBegin(buffer)) {
      const begin = this.#find(buffer, this.#beginMarker, 0);
      if (begin < 0) {
        // Garbage: keep only what could be the start of a begin marker.
        const keep = markerLength - 1;
        if (buffer.length > keep) buffer.skip(buffer.length - keep);
        return undefined;
      }
      // Drop the garbage only: the begin marker stays until the frame is whole.
      buffer.skip(begin);
    }
    const end = this.#find(buffer, this.#endMarker, markerLength);
    if (end < 0) {
      const length = buffer.length - markerLength - (this.#endMarker.byteLength - 1);
      if (length > this.#maxStuffed) {
        throw new FrameTooLongError(
          "Cannot decode stuffed frame",
          length,
          this.#maxStuffed,
          "the stuffed maximum",
        );
      }
      return undefined;
    }
    buffer.skip(markerLength);
    const frame = this.#unstuff(buffer, end - markerLength);
    buffer.skip(this.#endMarker.byteLength);
    return frame;
  }

  /**
   * Decodes the next frame at end of stream: as {@linkcode StuffingFramer.decode}; bytes left
   * that start no frame (no begin marker) are garbage and dropped.
   *
   * @param buffer The receive buffer, to which no more bytes will come.
   * @returns The frame, or `undefined` when none is left.
   * @throws {FrameTooLongError} When a frame grows past `maxFrameLength`.
   */
  decodeEof(buffer: ReceiveBuffer): Uint8Array | undefined {
    const frame = this.decode(buffer);
    if (frame === undefined && !this.#startsWithBegin(buffer)) buffer.skip(buffer.length);
    return frame;
  }

  #startsWithBegin(buffer: ReceiveBuffer): boolean {
    const marker = this.#beginMarker;
    if (buffer.length < marker.byteLength) return false;
    const { bytes, start } = buffer;
    for (let i = 0; i < marker.byteLength; i++) if (bytes[start + i] !== marker[i]) return false;
    return true;
  }

  /**
   * Writes the begin marker, the stuffed frame and the end marker.
   *
   * @param frame The frame.
   * @param out Where the bytes go.
   * @throws {FrameTooLongError} When the frame exceeds `maxFrameLength`.
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    if (frame.byteLength > this.#max) {
      throw new FrameTooLongError("Cannot encode stuffed frame", frame.byteLength, this.#max);
    }
    const prefix = this.#prefix;
    out.write(this.#beginMarker);
    let from = 0;
    for (;;) {
      const i = indexOfSequence(frame, prefix, from);
      if (i < 0) break;
      out.write(frame.subarray(from, i));
      out.write(this.#stuffed);
      from = i + prefix.byteLength;
    }
    out.write(frame.subarray(from));
    out.write(this.#endMarker);
  }

  /** Finds `marker` from offset `min` on, resuming the scan of the last call for it on the same bytes. */
  #find(buffer: ReceiveBuffer, marker: Uint8Array, min: number): number {
    const resume = this.#scanBuffer === buffer && this.#scanMarker === marker
      ? this.#scanned - buffer.position
      : 0;
    const from = Math.max(min, resume - marker.byteLength + 1);
    const i = indexOfSequenceIn(buffer, marker, from);
    if (i < 0) {
      this.#scanBuffer = buffer;
      this.#scanMarker = marker;
      this.#scanned = buffer.position + buffer.length;
      return -1;
    }
    this.#scanBuffer = undefined;
    return i;
  }

  /** Takes `length` stuffed bytes and returns them unstuffed. */
  #unstuff(buffer: ReceiveBuffer, length: number): Uint8Array {
    const { bytes, start } = buffer;
    const stuffed = this.#stuffed;
    // Offsets of the stuffed sequences inside the frame's `length` bytes, from `from` on (the
    // search stops at the frame's end: past it, a read of many small frames was searched to
    // its end for each of them, quadratic in their number).
    const next = (from: number) => {
      const at = indexOfSequenceIn(buffer, stuffed, from, length);
      return at >= 0 ? start + at : -1;
    };
    let i = next(0);
    if (i < 0) {
      if (length > this.#max) {
        throw new FrameTooLongError("Cannot decode stuffed frame", length, this.#max);
      }
      return buffer.take(length);
    }
    const pieces: Uint8Array[] = [];
    let from = start;
    let total = 0;
    while (i >= 0) {
      const piece = bytes.subarray(from, i + this.#prefix.byteLength);
      pieces.push(piece);
      total += piece.byteLength;
      from = i + stuffed.byteLength;
      i = next(from - start);
    }
    const last = bytes.subarray(from, start + length);
    total += last.byteLength;
    if (total > this.#max) {
      throw new FrameTooLongError("Cannot decode stuffed frame", total, this.#max);
    }
    pieces.push(last);
    const frame = buffer.allocate(total);
    let offset = 0;
    for (const piece of pieces) {
      frame.set(piece, offset);
      offset += piece.byteLength;
    }
    buffer.skip(length);
    return frame;
  }
}
