/**
 * The fields of a {@linkcode Packet}, as they go on the wire.
 *
 * @example The ok response of the vector `04 04 05 07 78`
 * ```ts
 * import { Packet, type PacketInit } from "@plexus/net/packet";
 *
 * const init: PacketInit = {
 *   tag: 4,
 *   channel: 7,
 *   isRequest: false,
 *   flags: 1, // (user flags 0 << 1) | ok
 *   payload: new TextEncoder().encode("x"),
 * };
 * console.assert(new Packet(init).ok);
 * ```
 */
export interface PacketInit {
  /** The tag: it pairs a response with its request on the same channel. */
  tag: number;
  /**
   * The channel: a separate tag space. cs.packetstream peers only use channel 0.
   *
   * @default {0}
   */
  channel?: number;
  /** Whether the packet is a request (otherwise a response). */
  isRequest: boolean;
  /**
   * The wire rq_type of a request: the user's rq_type plus 1 (0 is reserved for the EOF and
   * ERQ packets). Not sent for responses.
   *
   * @default {0}
   */
  rqType?: number;
  /**
   * The wire flags: a request's flags as given; for a response `(flags << 1) | ok`.
   *
   * @default {0}
   */
  flags?: number;
  /**
   * The payload.
   *
   * @default {an empty array}
   */
  payload?: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * One cs.packetstream packet, with its fields as they are on the wire (like the original's
 * `Packet`): `rqType` is the wire rq_type (the user's plus 1) and a response's `flags` hold the
 * ok bit in bit 0. {@linkcode Packet.request} and {@linkcode Packet.response} build packets
 * from user values; {@linkcode PacketFramer} encodes and decodes them.
 *
 * ```
 *  packet = BSUInt(body length) + body
 *  body   = BSUInt(tag)
 *           BSUInt((flags << 2) | (isRequest << 1) | (channel != 0))
 *           [BSUInt(channel)]   only when channel != 0
 *           [BSUInt(rqType)]    only for requests
 *           payload             the rest of the body
 * ```
 *
 * @example Build a request and a response from user values
 * ```ts
 * import { Packet } from "@plexus/net/packet";
 * import { assertEquals } from "@std/assert";
 *
 * const request = Packet.request(2, 1, { flags: 0x55, payload: new Uint8Array([2, 3]) });
 * assertEquals(request.rqType, 2); // on the wire: user rq_type + 1
 * const response = Packet.response(2, true, { flags: 0x11 });
 * assertEquals(response.flags, 0x23); // (0x11 << 1) | ok
 * assertEquals([response.ok, response.userFlags], [true, 0x11]);
 * ```
 */
export class Packet {
  /** The end-of-stream packet: no packet follows it (tag 0, channel 0, wire rq_type 0). */
  static readonly EOF: Packet = new Packet({ tag: 0, isRequest: true });
  /** The end-of-requests packet: no request follows it (tag 1, channel 0, wire rq_type 0). */
  static readonly ERQ: Packet = new Packet({ tag: 1, isRequest: true });

  /** The tag. */
  readonly tag: number;
  /** The channel (0 unless extensions are in use). */
  readonly channel: number;
  /** Whether this is a request. */
  readonly isRequest: boolean;
  /** The wire rq_type of a request (user rq_type + 1); 0 for responses. */
  readonly rqType: number;
  /** The wire flags: a request's flags; a response's `(flags << 1) | ok`. */
  readonly flags: number;
  /** The payload. A decoded packet's payload is a view that stays valid. */
  readonly payload: Uint8Array;

  /**
   * Creates a packet from its wire fields. Values are checked when the packet is encoded.
   *
   * @param init The fields.
   */
  constructor(init: PacketInit) {
    this.tag = init.tag;
    this.channel = init.channel ?? 0;
    this.isRequest = init.isRequest;
    this.rqType = init.isRequest ? init.rqType ?? 0 : 0;
    this.flags = init.flags ?? 0;
    this.payload = init.payload ?? EMPTY;
  }

  /**
   * Builds a request packet from user values.
   *
   * @param tag The tag.
   * @param rqType The user rq_type (sent as `rqType + 1`).
   * @param options The flags, payload and channel.
   * @returns The packet.
   *
   * @example The vector "request ch5 tag3 wire_rq_type1 payload abc"
   * ```ts
   * import { Packet } from "@plexus/net/packet";
   * import { assertEquals } from "@std/assert";
   *
   * const packet = Packet.request(3, 0, { channel: 5, payload: new TextEncoder().encode("abc") });
   * assertEquals([packet.channel, packet.rqType], [5, 1]);
   * ```
   */
  static request(
    tag: number,
    rqType: number,
    options?: { flags?: number; payload?: Uint8Array; channel?: number },
  ): Packet {
    options ??= {};
    return new Packet({ ...options, tag, isRequest: true, rqType: rqType + 1 });
  }

  /**
   * Builds a response packet from user values.
   *
   * @param tag The tag of the request answered.
   * @param ok Whether the request succeeded.
   * @param options The flags (sent as `(flags * 2) + ok`), payload and channel.
   * @returns The packet.
   *
   * @example A failure response
   * ```ts
   * import { Packet } from "@plexus/net/packet";
   * import { assertEquals } from "@std/assert";
   *
   * const packet = Packet.response(3, false, {
   *   payload: new TextEncoder().encode("no request handler"),
   * });
   * assertEquals([packet.ok, packet.flags], [false, 0]);
   * ```
   */
  static response(
    tag: number,
    ok: boolean,
    options?: { flags?: number; payload?: Uint8Array; channel?: number },
  ): Packet {
    options ??= {};
    const flags = (options.flags ?? 0) * 2 + (ok ? 1 : 0);
    return new Packet({
      tag,
      channel: options.channel,
      isRequest: false,
      flags,
      payload: options.payload,
    });
  }

  /** For a response: whether it reports success (bit 0 of the wire flags). */
  get ok(): boolean {
    return !this.isRequest && this.flags % 2 === 1;
  }

  /** The flags as the user sees them: a request's as sent, a response's without the ok bit. */
  get userFlags(): number {
    return this.isRequest ? this.flags : Math.floor(this.flags / 2);
  }

  /** For a request: the user rq_type (the wire rq_type minus 1; -1 for EOF and ERQ). */
  get userRqType(): number {
    return this.rqType - 1;
  }

  /** Whether this is exactly the EOF packet. */
  isEof(): boolean {
    return this.#isMagic(0);
  }

  /** Whether this is exactly the ERQ (end of requests) packet. */
  isErq(): boolean {
    return this.#isMagic(1);
  }

  #isMagic(tag: number): boolean {
    return this.isRequest && this.tag === tag && this.channel === 0 && this.rqType === 0 &&
      this.flags === 0 && this.payload.byteLength === 0;
  }

  /** A short description for logs, like the original's `Packet.__str__`. */
  toString(): string {
    const shown = Array.from(this.payload.subarray(0, 16), (b) => b.toString(16).padStart(2, "0"));
    const more = this.payload.byteLength > 16 ? `...(${this.payload.byteLength} bytes)` : "";
    const rq = this.isRequest ? `,rqType=${this.rqType}` : "";
    return `Packet(isRequest=${this.isRequest},channel=${this.channel},tag=${this.tag}${rq},` +
      `flags=0x${this.flags.toString(16)},payload=${shown.join("")}${more})`;
  }
}
