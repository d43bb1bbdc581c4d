/**
 * Variable-length unsigned integers: LEB128 (least significant group first, as in protobuf and
 * WebAssembly) and cs.packetstream's BSUInt (most significant group first). Both carry 7 bits
 * per byte and set bit `0x80` on every byte but the last. Values go up to
 * `Number.MAX_SAFE_INTEGER`.
 *
 * ```
 *  value 300 = 0b10_0101100
 *  LEB128:  ac 02   (0101100 first, with 0x80; then 10)
 *  BSUInt:  82 2c   (10 first, with 0x80; then 0101100)
 * ```
 *
 * @module
 */

import { CorruptFrameError } from "./errors.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";

/** The result of decoding a varint: its value and how many bytes it took. */
export interface DecodedVarint {
  /** The decoded value. */
  value: number;
  /** The number of bytes it was encoded in. */
  length: number;
}

/** The most bytes a varint up to `Number.MAX_SAFE_INTEGER` (53 bits) takes. */
export const MAX_VARINT_LENGTH = 8;

function checkValue(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot encode varint: ${value} is not a non-negative safe integer`);
  }
}

/**
 * Returns how many bytes `value` takes as a varint (LEB128 and BSUInt alike).
 *
 * @param value A non-negative safe integer.
 * @returns The byte count, 1 to 8.
 *
 * @example Sizes
 * ```ts
 * import { varintLength } from "@plexus/net/framing";
 *
 * console.assert(varintLength(127) === 1 && varintLength(128) === 2);
 * ```
 */
export function varintLength(value: number): number {
  // Compares for up to 4 bytes (2^28): a packet's growing tags reach 3 bytes after 16 384
  // requests, and a loop of float divisions took ~3 times as long.
  if (value < 0x4000) return value < 0x80 ? 1 : 2;
  if (value < 0x10000000) return value < 0x200000 ? 3 : 4;
  let n = 5;
  for (let v = Math.floor(value / 0x800000000); v > 0; v = Math.floor(v / 128)) n++;
  return n;
}

/**
 * Encodes `value` as a BSUInt (cs.packetstream's big-endian base-128 varint).
 *
 * @param value A non-negative safe integer.
 * @returns The encoded bytes.
 * @throws {RangeError} When `value` is negative, fractional or unsafe.
 *
 * @example The cs.packetstream vectors
 * ```ts
 * import { encodeBSUInt } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(encodeBSUInt(300), new Uint8Array([0x82, 0x2c]));
 * assertEquals(encodeBSUInt(16384), new Uint8Array([0x81, 0x80, 0x00]));
 * ```
 */
export function encodeBSUInt(value: number): Uint8Array {
  checkValue(value);
  const out = new Uint8Array(varintLength(value));
  let v = value;
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = (v % 128) | (i === out.length - 1 ? 0 : 0x80);
    v = Math.floor(v / 128);
  }
  return out;
}

/**
 * Writes `value` as a BSUInt into a send buffer.
 *
 * @param value A non-negative safe integer.
 * @param out Where the bytes go.
 * @throws {RangeError} When `value` is negative, fractional or unsafe.
 *
 * @example Write a BSUInt length before a body
 * ```ts
 * import { writeBSUInt } from "@plexus/net/framing";
 * import { SendBuffer } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const out = new SendBuffer();
 * writeBSUInt(255, out);
 * assertEquals(out.take(), new Uint8Array([0x81, 0x7f]));
 * ```
 */
export function writeBSUInt(value: number, out: SendBuffer): void {
  checkValue(value);
  const n = varintLength(value);
  const at = out.reserve(n);
  const bytes = out.bytes;
  let v = value;
  for (let i = n - 1; i >= 0; i--) {
    bytes[at + i] = (v % 128) | (i === n - 1 ? 0 : 0x80);
    v = Math.floor(v / 128);
  }
  out.advance(n);
}

/**
 * Decodes a BSUInt from `bytes[offset..end)`.
 *
 * @param bytes The bytes.
 * @param offset Where the varint starts.
 * @param end Where the available bytes end.
 * @returns The value and its length, or `undefined` when the varint is incomplete.
 * @throws {CorruptFrameError} When it runs over 8 bytes or `Number.MAX_SAFE_INTEGER`.
 *
 * @example Decode, and detect an incomplete varint
 * ```ts
 * import { decodeBSUInt } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(decodeBSUInt(new Uint8Array([0x90, 0x80, 0x80, 0x80, 0x00])), {
 *   value: 4294967296,
 *   length: 5,
 * });
 * assertEquals(decodeBSUInt(new Uint8Array([0x81])), undefined);
 * ```
 */
export function decodeBSUInt(
  bytes: Uint8Array,
  offset?: number,
  end?: number,
): DecodedVarint | undefined {
  offset ??= 0;
  end ??= bytes.byteLength;
  let value = 0;
  for (let i = offset; i < end; i++) {
    const byte = bytes[i];
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER || i - offset >= MAX_VARINT_LENGTH) tooLong("BSUInt");
    if (byte < 0x80) return { value, length: i - offset + 1 };
  }
  return undefined;
}

/**
 * Encodes `value` as an unsigned LEB128 varint.
 *
 * @param value A non-negative safe integer.
 * @returns The encoded bytes.
 * @throws {RangeError} When `value` is negative, fractional or unsafe.
 *
 * @example LEB128 puts the low group first
 * ```ts
 * import { encodeLeb128 } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(encodeLeb128(300), new Uint8Array([0xac, 0x02]));
 * ```
 */
export function encodeLeb128(value: number): Uint8Array {
  checkValue(value);
  const out = new Uint8Array(varintLength(value));
  let v = value;
  for (let i = 0; i < out.length; i++) {
    out[i] = (v % 128) | (i === out.length - 1 ? 0 : 0x80);
    v = Math.floor(v / 128);
  }
  return out;
}

/**
 * Decodes an unsigned LEB128 varint from `bytes[offset..end)`.
 *
 * @param bytes The bytes.
 * @param offset Where the varint starts.
 * @param end Where the available bytes end.
 * @returns The value and its length, or `undefined` when the varint is incomplete.
 * @throws {CorruptFrameError} When it runs over 8 bytes or `Number.MAX_SAFE_INTEGER`.
 *
 * @example Round trip
 * ```ts
 * import { decodeLeb128, encodeLeb128 } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(decodeLeb128(encodeLeb128(2 ** 40)), { value: 2 ** 40, length: 6 });
 * ```
 */
export function decodeLeb128(
  bytes: Uint8Array,
  offset?: number,
  end?: number,
): DecodedVarint | undefined {
  offset ??= 0;
  end ??= bytes.byteLength;
  let value = 0;
  let scale = 1;
  for (let i = offset; i < end; i++) {
    const byte = bytes[i];
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if (value > Number.MAX_SAFE_INTEGER || i - offset >= MAX_VARINT_LENGTH) tooLong("LEB128");
    if (byte < 0x80) return { value, length: i - offset + 1 };
  }
  return undefined;
}

function tooLong(kind: string): never {
  throw new CorruptFrameError(
    `Cannot decode ${kind} varint: it exceeds ${MAX_VARINT_LENGTH} bytes or Number.MAX_SAFE_INTEGER`,
  );
}
