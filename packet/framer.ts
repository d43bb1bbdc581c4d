import type { Framer } from "../framing/framer.ts";
import type { ReceiveBuffer } from "../framing/receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";
import { decodePacketInto, encodePacket, PacketFields } from "./_codec.ts";
// deno-lint-ignore no-unused-vars -- named in the docs
import type { PacketError, PacketTooLongError } from "./errors.ts";
import { Packet } from "./packet.ts";

/**
 * The default `maxPacketSize`: 16 MiB of packet body.
 *
 * @example The limit in bytes
 * ```ts
 * import { DEFAULT_MAX_PACKET_SIZE } from "@plexus/net/packet";
 *
 * console.assert(DEFAULT_MAX_PACKET_SIZE === 16 * 1024 * 1024);
 * ```
 */
export const DEFAULT_MAX_PACKET_SIZE: number = 16 * 1024 * 1024;

/**
 * Options of a {@linkcode PacketFramer}.
 *
 * @example A framer for small packets only
 * ```ts
 * import { PacketFramer, type PacketFramerOptions } from "@plexus/net/packet";
 *
 * const options: PacketFramerOptions = { maxPacketSize: 64 * 1024 };
 * const framer = new PacketFramer(options);
 * console.assert(framer.maxPacketSize === 65536);
 * ```
 */
export interface PacketFramerOptions {
  /**
   * The most bytes a packet body may have, in both directions: everything after the length
   * varint — the tag, flags, channel and rq_type fields (2 to 40 bytes) and the payload — so
   * a payload of exactly `maxPacketSize` bytes does not fit. A peer announcing more is refused
   * before anything is allocated.
   *
   * @default {16777216}
   */
  maxPacketSize?: number;
}

/**
 * Encodes and decodes cs.packetstream packets (a {@linkcode Framer} of {@linkcode Packet}s):
 * the length is a big-endian base-128 varint (BSUInt) and the body is described on
 * {@linkcode Packet}.
 *
 * ```
 *  BEFORE DECODE (8 bytes)                       AFTER DECODE
 *  +--------+-----+-------+----+----+--------+   Packet { tag: 3, channel: 5, isRequest: true,
 *  | length | tag | flags | ch | rq | "abc"  |--->         rqType: 1, flags: 0,
 *  |   07   | 03  |  03   | 05 | 01 | 616263 |             payload: "abc" }
 *  +--------+-----+-------+----+----+--------+
 * ```
 *
 * Decoding, one packet per call (the framing contract):
 *
 * | buffered bytes                                   | `decode()`                        |
 * | ------------------------------------------------ | --------------------------------- |
 * | an incomplete length varint                      | `undefined` (need more bytes)     |
 * | a whole length over `maxPacketSize`              | throws {@linkcode PacketTooLongError} |
 * | a length varint over 8 bytes                     | throws {@linkcode PacketError}    |
 * | a whole length, not yet the whole body           | `undefined`; the buffer reserves room |
 * | a whole packet                                   | the packet; its payload is a view |
 * | a body whose fields run past its end, or a tag or channel over 8 bytes or 2^53 | throws {@linkcode PacketError} |
 * | a flags or rq_type wider than 2^53 (legal: the original's are unbounded) | the packet, that field not a safe integer (the nearest number); `PacketConnection` refuses just that request |
 *
 * At end of stream, leftover bytes are a truncated packet (the caller's
 * `TruncatedFrameError`). The payload of a decoded packet is a view into the receive buffer
 * that is never written again, so it stays valid without a copy.
 *
 * Encoding checks every field (non-negative safe integers) and the body length against
 * `maxPacketSize`, and throws `RangeError` or {@linkcode PacketTooLongError} before writing
 * anything.
 *
 * @example Encode and decode the cs.packetstream EOF packet
 * ```ts
 * import { Packet, PacketFramer } from "@plexus/net/packet";
 * import { decodeFrames, encodeFrame } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeFrame(new PacketFramer(), Packet.EOF);
 * assertEquals(bytes, new Uint8Array([0x03, 0x00, 0x02, 0x00]));
 * const [packet] = decodeFrames(new PacketFramer(), bytes);
 * assertEquals(packet.isEof(), true);
 * ```
 *
 * @example A peer cannot make us allocate what it announces
 * ```ts
 * import { PacketFramer, PacketTooLongError } from "@plexus/net/packet";
 * import { ReceiveBuffer } from "@plexus/net/framing";
 * import { assertThrows } from "@std/assert";
 *
 * const buffer = new ReceiveBuffer();
 * buffer.append(new Uint8Array([0x89, 0xc4, 0xda, 0x00])); // length 20000000, no body yet
 * assertThrows(
 *   () => new PacketFramer().decode(buffer),
 *   PacketTooLongError,
 *   "Cannot decode packet: length 20000000 exceeds maxPacketSize 16777216",
 * );
 * ```
 */
export class PacketFramer implements Framer<Packet> {
  readonly #max: number;

  /**
   * Creates a packet framer.
   *
   * @param options The packet size limit.
   * @throws {RangeError} When `maxPacketSize` is not a non-negative safe integer.
   */
  constructor(options?: PacketFramerOptions) {
    options ??= {};
    const max = options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new RangeError(
        `Cannot create packet framer: maxPacketSize must be a non-negative safe integer, got ${max}`,
      );
    }
    this.#max = max;
  }

  /** The largest packet body this framer accepts, in bytes. */
  get maxPacketSize(): number {
    return this.#max;
  }

  /**
   * Decodes the next packet from the start of `buffer`.
   *
   * @param buffer The receive buffer.
   * @returns The packet, or `undefined` when more bytes are needed.
   * @throws {PacketTooLongError} When the announced body length exceeds `maxPacketSize`.
   * @throws {PacketError} When the bytes are no valid packet.
   */
  decode(buffer: ReceiveBuffer): Packet | undefined {
    const fields = new PacketFields();
    return decodePacketInto(buffer, this.#max, fields) ? new Packet(fields) : undefined;
  }

  /**
   * Writes `packet` with its length into `out`.
   *
   * @param packet The packet.
   * @param out Where the bytes go.
   * @throws {RangeError} When a field is not a non-negative safe integer, or the flags field
   * (`flags * 4 + 3`) is not safe.
   * @throws {PacketTooLongError} When the body exceeds `maxPacketSize`.
   */
  encode(packet: Packet, out: SendBuffer): void {
    const { tag, channel, isRequest, rqType, flags, payload } = packet;
    check("tag", tag);
    check("channel", channel);
    check("flags", flags);
    if (isRequest) check("rqType", rqType);
    const bits = flags * 4 + (isRequest ? 2 : 0) + (channel !== 0 ? 1 : 0);
    if (!Number.isSafeInteger(bits)) {
      throw new RangeError(
        `Cannot encode packet: flags ${flags} do not fit a safe integer when shifted`,
      );
    }
    if (!(payload instanceof Uint8Array)) {
      throw new TypeError(
        `Cannot encode packet: payload must be a Uint8Array, got ${typeof payload}`,
      );
    }
    encodePacket(out, this.#max, tag, bits, channel, isRequest ? rqType : -1, payload);
  }
}

function check(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot encode packet: ${name} must be a non-negative safe integer, got ${value}`,
    );
  }
}
