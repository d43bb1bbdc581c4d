/**
 * The cs.packetstream wire format without objects: a packet is decoded into a reused
 * {@linkcode PacketFields} record and encoded from its fields, so a connection allocates no
 * `Packet` (and no per-field result) per packet. `PacketFramer` is built on these.
 *
 * @module
 */

import type { SendBuffer } from "../transport/send_buffer.ts";
import type { ReceiveBuffer } from "../framing/receive_buffer.ts";
import { MAX_VARINT_LENGTH, varintLength } from "../framing/varint.ts";
import { PacketError, PacketTooLongError } from "./errors.ts";

const EMPTY = new Uint8Array(0);

/**
 * The fields of one packet as on the wire (see `Packet`): the record a connection decodes
 * every packet into. Valid until the next packet is decoded; the payload is a view that stays
 * valid.
 */
export class PacketFields {
  /** The tag. */
  tag = 0;
  /** The channel. */
  channel = 0;
  /** Whether it is a request. */
  isRequest = false;
  /** The wire rq_type (user + 1) of a request; 0 for a response. */
  rqType = 0;
  /** The wire flags: a request's; a response's `(flags << 1) | ok`. */
  flags = 0;
  /** The payload. */
  payload: Uint8Array = EMPTY;
}

/** The value of the field read last (module scratch: decoding never re-enters). */
let fieldValue = 0;
/** The low 7 bits of the wide field read last. */
let fieldLow = 0;

/**
 * Decodes the next packet from the start of `buffer` into `into`, the framing contract's way:
 * `false` when more bytes are needed (reserving room for a known body), `true` when `into`
 * holds a whole packet (whose bytes were consumed).
 *
 * @throws {PacketTooLongError} When the announced body length exceeds `max`.
 * @throws {PacketError} When the bytes are no valid packet.
 */
export function decodePacketInto(buffer: ReceiveBuffer, max: number, into: PacketFields): boolean {
  const bytes = buffer.bytes;
  const start = buffer.start;
  const end = buffer.end;
  // The length varint (at most 8 bytes), checked against the limit once complete.
  let length = 0;
  let at = start;
  for (;;) {
    if (at === end) return false;
    const byte = bytes[at++];
    length = length * 128 + (byte & 0x7f);
    if (byte < 0x80) break;
    if (at - start === MAX_VARINT_LENGTH) {
      throw new PacketError(
        `Cannot decode packet: the length varint exceeds ${MAX_VARINT_LENGTH} bytes`,
      );
    }
  }
  if (length > max) throw new PacketTooLongError("Cannot decode packet", length, max);
  const bodyEnd = at + length;
  if (bodyEnd > end) {
    buffer.reserve(bodyEnd - start);
    return false;
  }
  at = readField(bytes, at, bodyEnd, "tag");
  const tag = fieldValue;
  // flags and rq_type may be wider than a safe integer (a Python peer's are unbounded): they
  // are read whole, so only that request is refused (by PacketConnection), not the stream.
  at = readWideField(bytes, at, bodyEnd, "flags", 2);
  const flags = fieldValue;
  const hasChannel = (fieldLow & 1) === 1;
  const isRequest = (fieldLow & 2) === 2;
  let channel = 0;
  if (hasChannel) {
    at = readField(bytes, at, bodyEnd, "channel");
    channel = fieldValue;
  }
  let rqType = 0;
  if (isRequest) {
    at = readWideField(bytes, at, bodyEnd, "rq_type", 0);
    rqType = fieldValue;
  }
  buffer.skip(at - start);
  into.tag = tag;
  into.channel = channel;
  into.isRequest = isRequest;
  into.rqType = rqType;
  into.flags = flags;
  // An empty payload takes nothing, so the buffer's storage stays reusable in place.
  into.payload = at === bodyEnd ? EMPTY : buffer.take(bodyEnd - at);
  return true;
}

/**
 * Writes one packet with its length into `out`, from its wire fields; checks everything
 * before writing anything.
 *
 * @param bits The flags field: `(flags << 2) | (isRequest << 1) | (channel != 0)`.
 * @param rqType The wire rq_type, or -1 for a response (not sent).
 * @returns The bytes written.
 * @throws {RangeError} When a field is not a non-negative safe integer.
 * @throws {PacketTooLongError} When the body exceeds `max`.
 */
export function encodePacket(
  out: SendBuffer,
  max: number,
  tag: number,
  bits: number,
  channel: number,
  rqType: number,
  payload: Uint8Array,
): number {
  if (!Number.isSafeInteger(bits)) {
    throw new RangeError(
      `Cannot encode packet: flags ${Math.floor(bits / 4)} do not fit a safe integer when shifted`,
    );
  }
  const length = sizeOf(tag) + sizeOf(bits) + (channel !== 0 ? sizeOf(channel) : 0) +
    (rqType >= 0 ? sizeOf(rqType) : 0) + payload.byteLength;
  if (length > max) throw new PacketTooLongError("Cannot encode packet", length, max);
  const head = sizeOf(length);
  const size = head + length - payload.byteLength;
  let at = out.reserve(size);
  const bytes = out.bytes;
  at = putVarint(bytes, at, length);
  at = putVarint(bytes, at, tag);
  at = putVarint(bytes, at, bits);
  if (channel !== 0) at = putVarint(bytes, at, channel);
  if (rqType >= 0) putVarint(bytes, at, rqType);
  out.advance(size);
  if (payload.byteLength > 0) out.write(payload);
  return head + length;
}

/** The bytes of a BSUInt: one for most fields, without a loop. */
function sizeOf(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : varintLength(value);
}

/** Writes a BSUInt (big-endian base-128) at `at`; returns the position after it. */
function putVarint(bytes: Uint8Array, at: number, value: number): number {
  if (value < 0x80) {
    bytes[at] = value;
    return at + 1;
  }
  const last = at + sizeOf(value) - 1;
  if (value < 0x80000000) {
    // Fits 31 bits: shifts, not float divisions (~3 times as fast for a 3-byte tag).
    bytes[last] = value & 0x7f;
    for (let i = last - 1, v = value >>> 7; i >= at; i--, v >>>= 7) bytes[i] = (v & 0x7f) | 0x80;
  } else {
    bytes[last] = value % 128;
    for (let i = last - 1, v = Math.floor(value / 128); i >= at; i--, v = Math.floor(v / 128)) {
      bytes[i] = (v % 128) | 0x80;
    }
  }
  return last + 1;
}

/** Reads one BSUInt field (at most 8 bytes, safe) of a body ending at `end` into `fieldValue`. */
function readField(bytes: Uint8Array, at: number, end: number, name: string): number {
  let value = 0;
  for (let i = at; i < end; i++) {
    const byte = bytes[i];
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER || i - at >= MAX_VARINT_LENGTH) {
      throw new PacketError(
        `Cannot decode packet: the ${name} varint exceeds ${MAX_VARINT_LENGTH} bytes or Number.MAX_SAFE_INTEGER`,
      );
    }
    if (byte < 0x80) {
      fieldValue = value;
      return i + 1;
    }
  }
  throw new PacketError(`Cannot decode packet: the body ends inside the ${name}`);
}

/**
 * Reads a BSUInt field of any width that ends within the body (cs.packetstream's flags and
 * rq_type are unbounded integers), shifted right by `shift` bits, into `fieldValue` (exact
 * while safe, else the nearest number) and its low 7 bits into `fieldLow`. Values past
 * `Number.MAX_SAFE_INTEGER` are computed with BigInt, off the common path.
 */
function readWideField(
  bytes: Uint8Array,
  at: number,
  end: number,
  name: string,
  shift: number,
): number {
  let value = 0;
  for (let i = at; i < end; i++) {
    const byte = bytes[i];
    value = value * 128 + (byte & 0x7f);
    if (byte >= 0x80) continue;
    fieldLow = byte & 0x7f;
    if (value <= Number.MAX_SAFE_INTEGER) {
      // A shift for a field that fits 31 bits: `2 ** shift` and a float division cost more.
      fieldValue = value < 0x80000000 ? value >>> shift : Math.floor(value / 2 ** shift);
      return i + 1;
    }
    // Exact via BigInt, but only over a field that fits a number: one of more than 1100
    // significant bits is Infinity whatever its digits, and BigInt over a peer's megabyte of
    // 0xff bytes would take quadratic time, blocking the event loop.
    let first = at;
    while ((bytes[first] & 0x7f) === 0) first++; // leading zero groups; value > 0, so first <= i
    if ((i - first + 1) * 7 > 1100) {
      fieldValue = Infinity;
      return i + 1;
    }
    let big = 0n;
    for (let j = first; j <= i; j++) big = (big << 7n) | BigInt(bytes[j] & 0x7f);
    fieldValue = Number(big >> BigInt(shift));
    return i + 1;
  }
  throw new PacketError(`Cannot decode packet: the body ends inside the ${name}`);
}
