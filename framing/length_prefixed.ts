import { CorruptFrameError, FrameTooLongError } from "./errors.ts";
import type { Framer } from "./framer.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";
import { MAX_VARINT_LENGTH, varintLength } from "./varint.ts";
import { checkLimit } from "./_bytes.ts";

/** The size of a length field in bytes, or a varint kind. */
export type LengthFieldLength = 1 | 2 | 3 | 4 | 8 | "leb128" | "bsuint";

/** Options of a {@linkcode LengthPrefixedFramer} (Netty's and tokio's knobs). */
export interface LengthPrefixedFramerOptions {
  /**
   * The length field: 1, 2, 3, 4 or 8 bytes, `"leb128"` (protobuf-style varint) or
   * `"bsuint"` (cs.packetstream's big-endian varint).
   *
   * @default {4}
   */
  lengthFieldLength?: LengthFieldLength;
  /**
   * Whether a fixed-size length field is little endian.
   *
   * @default {false}
   */
  littleEndian?: boolean;
  /**
   * Bytes before the length field (a header the frame keeps unless stripped).
   *
   * @default {0}
   */
  lengthFieldOffset?: number;
  /**
   * Added to the length field's value to get the number of bytes after the field, for fields
   * that count more or less than that (-2 for a 2-byte field that counts itself).
   *
   * @default {0}
   */
  lengthAdjustment?: number;
  /**
   * Bytes dropped from the start of each decoded frame.
   *
   * @default {the whole header: lengthFieldOffset plus the length field}
   */
  bytesToStrip?: number;
  /**
   * The most bytes after the length field (the field's value plus `lengthAdjustment`) a frame
   * may have. An announced length over it is refused before anything is allocated.
   *
   * @default {8388608}
   */
  maxFrameLength?: number;
}

/** The default `maxFrameLength` of length-prefixed frames: 8 MiB. */
export const DEFAULT_MAX_FRAME_LENGTH = 8 * 1024 * 1024;

const FIELD_MAX: Record<number, number> = {
  1: 0xff,
  2: 0xffff,
  3: 0xffffff,
  4: 0xffffffff,
  8: Number.MAX_SAFE_INTEGER,
};

/**
 * Frames with a length prefix (Netty's `LengthFieldBasedFrameDecoder` and
 * `LengthFieldPrepender`, tokio's `LengthDelimitedCodec`, Tendril's `StructFramer`).
 *
 * ```
 *  default: 4-byte big-endian length, header stripped
 *  BEFORE DECODE (16 bytes)              AFTER DECODE (12 bytes)
 *  +-------------+----------------+      +----------------+
 *  | Length      | Actual Content |----->| Actual Content |
 *  | 0x0000000C  | "HELLO, WORLD" |      | "HELLO, WORLD" |
 *  +-------------+----------------+      +----------------+
 *
 *  lengthFieldOffset 2, lengthFieldLength 2, lengthAdjustment -2, bytesToStrip 0
 *  BEFORE DECODE (16 bytes)                       AFTER DECODE (16 bytes)
 *  +--------+--------+----------------+           +--------+--------+----------------+
 *  | Magic  | Length | Actual Content |---------->| Magic  | Length | Actual Content |
 *  | 0xCAFE | 0x000E | "HELLO, WORLD" |           | 0xCAFE | 0x000E | "HELLO, WORLD" |
 *  +--------+--------+----------------+           +--------+--------+----------------+
 * ```
 *
 * Decoding reads the length field as soon as it is buffered and checks the announced length
 * (plus `lengthAdjustment`) against `maxFrameLength` before anything else, throwing
 * {@linkcode FrameTooLongError} at once; a varint is checked while it is still incomplete.
 * Then it returns `undefined` until the whole frame is buffered, and the frame (minus
 * `bytesToStrip`) as a view into the receive buffer. A negative adjusted length or a strip
 * longer than the frame throws {@linkcode CorruptFrameError}. At end of stream a partial frame
 * is a truncated frame.
 *
 * Encoding writes the frame's first `lengthFieldOffset` bytes as they are, the length field
 * (the length of the rest minus `lengthAdjustment`), then the rest; `bytesToStrip` plays no
 * part. It throws {@linkcode FrameTooLongError} when the rest exceeds `maxFrameLength` or the
 * value does not fit the field.
 *
 * @example A 2-byte little-endian prefix
 * ```ts
 * import { decodeFrames, encodeFrame, LengthPrefixedFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const framer = new LengthPrefixedFramer({ lengthFieldLength: 2, littleEndian: true });
 * const bytes = encodeFrame(framer, new Uint8Array([9, 8, 7]));
 * assertEquals(bytes, new Uint8Array([3, 0, 9, 8, 7]));
 * assertEquals(decodeFrames(new LengthPrefixedFramer({ lengthFieldLength: 2, littleEndian: true }), bytes), [
 *   new Uint8Array([9, 8, 7]),
 * ]);
 * ```
 *
 * @example A BSUInt prefix, as cs.packetstream frames its packets
 * ```ts
 * import { decodeFrames, LengthPrefixedFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const framer = new LengthPrefixedFramer({ lengthFieldLength: "bsuint" });
 * assertEquals(decodeFrames(framer, new Uint8Array([0x03, 0x00, 0x02, 0x00])), [
 *   new Uint8Array([0x00, 0x02, 0x00]),
 * ]);
 * ```
 */
export class LengthPrefixedFramer implements Framer<Uint8Array> {
  readonly #field: LengthFieldLength;
  readonly #little: boolean;
  readonly #offset: number;
  readonly #adjustment: number;
  readonly #strip: number | undefined;
  readonly #max: number;
  readonly #fieldMax: number;
  readonly #plain: boolean;
  #varintBytes = 0;

  /**
   * Creates a length-prefixed framer.
   *
   * @param options The length field's form and place, adjustment, strip and limit.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options?: LengthPrefixedFramerOptions) {
    options ??= {};
    const field = options.lengthFieldLength ?? 4;
    if (!(field in FIELD_MAX) && field !== "leb128" && field !== "bsuint") {
      throw new RangeError(
        `Cannot create length-prefixed framer: lengthFieldLength must be 1, 2, 3, 4, 8, "leb128" or "bsuint", got ${field}`,
      );
    }
    this.#field = field;
    this.#fieldMax = typeof field === "number" ? FIELD_MAX[field] : Number.MAX_SAFE_INTEGER;
    this.#little = options.littleEndian ?? false;
    this.#offset = checkLimit("lengthFieldOffset", options.lengthFieldOffset ?? 0);
    this.#adjustment = options.lengthAdjustment ?? 0;
    if (!Number.isSafeInteger(this.#adjustment)) {
      throw new RangeError(
        `Cannot create length-prefixed framer: lengthAdjustment must be a safe integer, got ${this.#adjustment}`,
      );
    }
    this.#strip = options.bytesToStrip === undefined
      ? undefined
      : checkLimit("bytesToStrip", options.bytesToStrip);
    this.#max = checkLimit("maxFrameLength", options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH);
    // The hot paths check only maxFrameLength: one above what the 4-byte field holds takes the
    // general path, which also refuses a frame the field cannot express (instead of wrapping).
    this.#plain = field === 4 && !this.#little && this.#offset === 0 && this.#adjustment === 0 &&
      (this.#strip === undefined || this.#strip === 4) && this.#max <= FIELD_MAX[4];
  }

  /**
   * Decodes the next frame.
   *
   * @param buffer The receive buffer.
   * @returns The frame, or `undefined` when more bytes are needed.
   * @throws {FrameTooLongError} When the announced length exceeds `maxFrameLength`.
   * @throws {CorruptFrameError} When the length is negative after adjustment, the strip runs
   * past the frame, or a varint is malformed.
   */
  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    if (this.#plain) {
      // The default layout: the hot path.
      const bytes = buffer.bytes;
      const start = buffer.start;
      const available = buffer.end - start;
      if (available < 4) return undefined;
      const length = ((bytes[start] << 24) | (bytes[start + 1] << 16) | (bytes[start + 2] << 8) |
        bytes[start + 3]) >>> 0;
      if (length > this.#max) this.#tooLong(length, bytes, start);
      if (available < length + 4) {
        buffer.reserve(length + 4);
        return undefined;
      }
      return buffer.take(length, 4);
    }
    return this.#decodeAny(buffer);
  }

  #decodeAny(buffer: ReceiveBuffer): Uint8Array | undefined {
    const bytes = buffer.bytes;
    const start = buffer.start;
    const available = buffer.end - start;
    const at = start + this.#offset;
    const field = this.#field;
    let value: number;
    let fieldLength: number;
    if (typeof field === "number") {
      fieldLength = field;
      if (available < this.#offset + field) return undefined;
      value = this.#little ? readLittle(bytes, at, field) : readBig(bytes, at, field);
    } else {
      const parsed = this.#readVarint(bytes, at, buffer.end);
      if (parsed === undefined) return undefined;
      value = parsed;
      fieldLength = this.#varintBytes;
    }
    const length = value + this.#adjustment;
    if (length > this.#max) this.#tooLong(value, bytes, at);
    if (value > Number.MAX_SAFE_INTEGER) {
      // Reachable only with a large negative lengthAdjustment: such a field is read as the
      // nearest float, so the length it gives would be off.
      throw new CorruptFrameError(
        `Cannot decode frame: the length field exceeds Number.MAX_SAFE_INTEGER, so lengthAdjustment ${this.#adjustment} cannot be applied exactly`,
      );
    }
    if (length < 0) {
      throw new CorruptFrameError(
        `Cannot decode frame: length field ${value} plus lengthAdjustment ${this.#adjustment} is negative`,
      );
    }
    const header = this.#offset + fieldLength;
    const total = header + length;
    if (available < total) {
      buffer.reserve(total);
      return undefined;
    }
    const strip = this.#strip ?? header;
    if (strip > total) {
      throw new CorruptFrameError(
        `Cannot decode frame: bytesToStrip ${strip} exceeds the frame length ${total}`,
      );
    }
    if (strip > 0) buffer.skip(strip);
    return buffer.take(total - strip);
  }

  /**
   * Writes the frame with its length field.
   *
   * @param frame The frame (its first `lengthFieldOffset` bytes go before the length field).
   * @param out Where the bytes go.
   * @throws {FrameTooLongError} When the frame is too long for `maxFrameLength` or the field.
   * @throws {RangeError} When the frame is shorter than `lengthFieldOffset` or too short for a
   * negative `lengthAdjustment`.
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    if (this.#plain) {
      // The default layout (4-byte big-endian length, nothing else): the hot path.
      const n = frame.byteLength;
      if (n > this.#max) this.#tooLongToEncode(n);
      const at = out.reserve(n + 4);
      const bytes = out.bytes;
      bytes[at] = n >>> 24;
      bytes[at + 1] = n >>> 16;
      bytes[at + 2] = n >>> 8;
      bytes[at + 3] = n;
      bytes.set(frame, at + 4);
      out.advance(n + 4);
      return;
    }
    this.#encodeAny(frame, out);
  }

  #encodeAny(frame: Uint8Array, out: SendBuffer): void {
    const offset = this.#offset;
    const length = frame.byteLength - offset;
    const value = length - this.#adjustment;
    if (length < 0 || value < 0) {
      throw new RangeError(
        `Cannot encode frame: ${frame.byteLength} bytes is too short for lengthFieldOffset ${offset} and lengthAdjustment ${this.#adjustment}`,
      );
    }
    if (length > this.#max) throw new FrameTooLongError("Cannot encode frame", length, this.#max);
    const field = this.#field;
    if (typeof field === "number") {
      if (value > this.#fieldMax) {
        throw new FrameTooLongError(
          "Cannot encode frame",
          value,
          this.#fieldMax,
          `the ${field}-byte length field's maximum`,
        );
      }
      const at = out.reserve(frame.byteLength + field);
      const bytes = out.bytes;
      if (offset > 0) bytes.set(frame.subarray(0, offset), at);
      if (field === 4 && !this.#little) {
        bytes[at + offset] = value >>> 24;
        bytes[at + offset + 1] = value >>> 16;
        bytes[at + offset + 2] = value >>> 8;
        bytes[at + offset + 3] = value;
      } else {
        writeUint(bytes, at + offset, value, field, this.#little);
      }
      bytes.set(offset > 0 ? frame.subarray(offset) : frame, at + offset + field);
      out.advance(frame.byteLength + field);
      return;
    }
    const n = varintLength(value);
    const at = out.reserve(frame.byteLength + n);
    const bytes = out.bytes;
    if (offset > 0) bytes.set(frame.subarray(0, offset), at);
    let v = value;
    for (let i = 0; i < n; i++) {
      const group = v % 128;
      v = Math.floor(v / 128);
      if (field === "leb128") bytes[at + offset + i] = group | (i < n - 1 ? 0x80 : 0);
      else bytes[at + offset + n - 1 - i] = group | (i > 0 ? 0x80 : 0);
    }
    bytes.set(offset > 0 ? frame.subarray(offset) : frame, at + offset + n);
    out.advance(frame.byteLength + n);
  }

  /**
   * Reads a varint length field; `undefined` while incomplete. Throws as soon as the value
   * read so far already exceeds the limit (both kinds only grow with more bytes).
   */
  #readVarint(bytes: Uint8Array, at: number, end: number): number | undefined {
    const leb = this.#field === "leb128";
    let value = 0;
    let scale = 1;
    for (let i = at; i < end; i++) {
      const byte = bytes[i];
      if (leb) {
        value += (byte & 0x7f) * scale;
        scale *= 128;
      } else {
        value = value * 128 + (byte & 0x7f);
      }
      if (value + this.#adjustment > this.#max) this.#tooLong(value, bytes, at);
      if (byte < 0x80) {
        this.#varintBytes = i - at + 1;
        return value;
      }
      if (i - at + 1 >= MAX_VARINT_LENGTH) {
        throw new CorruptFrameError(
          `Cannot decode frame: the ${this.#field} length field exceeds ${MAX_VARINT_LENGTH} bytes`,
        );
      }
    }
    return undefined;
  }

  /** Off `encode()`'s hot path: a frame too long to send. */
  #tooLongToEncode(n: number): never {
    throw new FrameTooLongError("Cannot encode frame", n, this.#max);
  }

  #tooLong(value: number, bytes: Uint8Array, at: number): never {
    let shown: number | bigint = value + this.#adjustment;
    if (this.#field === 8 && !Number.isSafeInteger(value)) {
      // Name the exact 64-bit value, not its float approximation.
      let big = 0n;
      for (let i = 0; i < 8; i++) {
        big = (big << 8n) | BigInt(bytes[at + (this.#little ? 7 - i : i)]);
      }
      shown = big + BigInt(this.#adjustment);
    }
    throw new FrameTooLongError("Cannot decode frame", shown, this.#max);
  }
}

function readBig(bytes: Uint8Array, at: number, width: number): number {
  switch (width) {
    case 1:
      return bytes[at];
    case 2:
      return (bytes[at] << 8) | bytes[at + 1];
    case 3:
      return (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
    case 4:
      return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>>
        0;
    default:
      return readBig(bytes, at, 4) * 2 ** 32 + readBig(bytes, at + 4, 4);
  }
}

function readLittle(bytes: Uint8Array, at: number, width: number): number {
  let value = 0;
  for (let i = width - 1; i >= 0; i--) value = value * 256 + bytes[at + i];
  return value;
}

function writeUint(
  bytes: Uint8Array,
  at: number,
  value: number,
  width: number,
  little: boolean,
): void {
  let v = value;
  for (let i = 0; i < width; i++) {
    bytes[little ? at + i : at + width - 1 - i] = v % 256;
    v = Math.floor(v / 256);
  }
}
