import { FrameTooLongError } from "./errors.ts";
import type { Framer } from "./framer.ts";
import { DEFAULT_MAX_FRAME_LENGTH } from "./length_prefixed.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";
import { type CobsVariant, decodeCobs, encodeCobs, maxEncodedLength } from "./_cobs_codec.ts";
import { checkLimit } from "./_bytes.ts";

export type { CobsVariant } from "./_cobs_codec.ts";

/** Options of a {@linkcode CobsFramer}. */
export interface CobsFramerOptions {
  /**
   * The encoding: `"cobs"` (plain COBS, byte for byte as Tendril), `"zpe"` (Tendril's zero-pair
   * elimination) or `"cobsr"` (COBS/R, as the `cobs` Python package).
   *
   * @default {"cobs"}
   */
  variant?: CobsVariant;
  /**
   * The longest decoded frame accepted or sent, in bytes.
   *
   * @default {8388608}
   */
  maxFrameLength?: number;
}

/**
 * Consistent Overhead Byte Stuffing: each frame is encoded without zero bytes and ended by a
 * `00` (Tendril's `COBSFramer`, plus COBS/R).
 *
 * ```
 *  plain COBS
 *  FRAME (4 bytes)            ON THE WIRE (6 bytes)
 *  +-------------+            +----------------------+
 *  | 11 22 00 33 |  <------>  | 03 11 22 02 33 | 00  |
 *  +-------------+            +----------------------+
 * ```
 *
 * Decoding returns `undefined` until a `00` is buffered; an empty frame on the wire (`00`
 * right after `00`) carries nothing and is skipped, so senders may use extra `00`s to
 * resynchronise. A code that runs past the frame throws {@linkcode CorruptFrameError}. Once
 * more bytes are buffered without a `00` than an encoding of `maxFrameLength` bytes can take, or
 * a frame decodes to more, it throws {@linkcode FrameTooLongError} (the length is measured
 * before the frame is allocated). Decoded frames are new arrays. At end of stream, bytes after
 * the last `00` are a truncated frame.
 *
 * @example Tendril's vectors
 * ```ts
 * import { CobsFramer, decodeFrames, encodeFrame } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const frame = new Uint8Array([0x11, 0x00, 0x00, 0x00]);
 * assertEquals(encodeFrame(new CobsFramer(), frame), new Uint8Array([2, 0x11, 1, 1, 1, 0]));
 * const zpe = new CobsFramer({ variant: "zpe" });
 * assertEquals(encodeFrame(zpe, frame), new Uint8Array([0xe2, 0x11, 0xe1, 0]));
 * assertEquals(decodeFrames(zpe, new Uint8Array([0xe2, 0x11, 0xe1, 0])), [frame]);
 * ```
 */
export class CobsFramer implements Framer<Uint8Array> {
  readonly #variant: CobsVariant;
  readonly #max: number;
  readonly #maxEncoded: number;
  #scanBuffer: ReceiveBuffer | undefined;
  #scanned = 0;

  /**
   * Creates a COBS framer.
   *
   * @param options The variant and the limit.
   * @throws {RangeError} When the variant is unknown or the limit is not a safe integer.
   */
  constructor(options?: CobsFramerOptions) {
    options ??= {};
    const variant = options.variant ?? "cobs";
    if (variant !== "cobs" && variant !== "zpe" && variant !== "cobsr") {
      throw new RangeError(
        `Cannot create COBS framer: variant must be "cobs", "zpe" or "cobsr", got ${variant}`,
      );
    }
    this.#variant = variant;
    this.#max = checkLimit("maxFrameLength", options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH);
    this.#maxEncoded = maxEncodedLength(this.#max);
  }

  /**
   * Decodes the next frame.
   *
   * @param buffer The receive buffer.
   * @returns The frame, or `undefined` when more bytes are needed (lone `00` bytes, empty
   * frames, are skipped on the way).
   * @throws {CorruptFrameError} When a code runs past the end of the frame.
   * @throws {FrameTooLongError} When the frame exceeds `maxFrameLength`.
   */
  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    // Empty frames (a lone 00) are skipped.
    while (buffer.length > 0 && buffer.bytes[buffer.start] === 0) buffer.skip(1);
    const from = this.#scanBuffer === buffer && this.#scanned > buffer.position
      ? this.#scanned - buffer.position
      : 0;
    const zero = buffer.indexOf(0, from);
    if (zero < 0) {
      const length = buffer.length;
      if (length > this.#maxEncoded) {
        throw new FrameTooLongError(
          "Cannot decode COBS frame",
          length,
          this.#maxEncoded,
          "the encoded maximum",
        );
      }
      this.#scanBuffer = buffer;
      this.#scanned = buffer.position + length;
      return undefined;
    }
    this.#scanBuffer = undefined;
    const { bytes, start } = buffer;
    if (zero > this.#maxEncoded) {
      throw new FrameTooLongError(
        "Cannot decode COBS frame",
        zero,
        this.#maxEncoded,
        "the encoded maximum",
      );
    }
    const length = decodeCobs(bytes, start, start + zero, this.#variant);
    if (length > this.#max) {
      throw new FrameTooLongError("Cannot decode COBS frame", length, this.#max);
    }
    const frame = buffer.allocate(length);
    decodeCobs(bytes, start, start + zero, this.#variant, frame);
    buffer.skip(zero + 1);
    return frame;
  }

  /**
   * Writes the encoded frame and its `00` delimiter.
   *
   * @param frame The frame.
   * @param out Where the bytes go.
   * @throws {FrameTooLongError} When the frame exceeds `maxFrameLength`.
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    if (frame.byteLength > this.#max) {
      throw new FrameTooLongError("Cannot encode COBS frame", frame.byteLength, this.#max);
    }
    encodeCobs(frame, out, this.#variant);
    out.writeByte(0);
  }
}
