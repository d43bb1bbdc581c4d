/**
 * The packet error tree:
 *
 * ```
 * FramingError (framing layer)
 * └── PacketError               bytes that are no valid cs.packetstream packet
 *     └── PacketTooLongError    a packet (or its announced length) is over maxPacketSize
 * RemoteError                   the peer answered a request with "not ok"
 * ConnectionClosedError         the connection ended before a request was answered
 * ```
 *
 * Misuse (a negative rq_type, a bad option) throws `TypeError` or `RangeError` instead.
 *
 * @module
 */

import { FramingError } from "../framing/errors.ts";

/**
 * Received bytes are not a valid cs.packetstream packet: a varint runs past the packet body or
 * over 8 bytes, or a request uses the reserved rq_type 0 without being the EOF or ERQ packet.
 * A connection that receives one is aborted, and the error is its `closed` value.
 *
 * @example Catch any malformed packet
 * ```ts
 * import { PacketError } from "@plexus/net/packet";
 * import { FramingError } from "@plexus/net/framing";
 *
 * const error = new PacketError("Cannot decode packet: the body ends inside the tag");
 * console.assert(error instanceof FramingError);
 * ```
 */
export class PacketError extends FramingError {
  /**
   * Creates a packet error.
   *
   * @param message What is wrong, naming the offending value.
   * @param options `cause`: the underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PacketError";
  }
}

/**
 * A packet body is longer than `maxPacketSize`, or a peer announced such a length. The body is
 * everything after the length varint: the tag, flags, channel and rq_type fields and the
 * payload, so the default 16 MiB limit refuses a payload of exactly 16 MiB. The decoder throws
 * it as soon as the length varint says so, before anything is allocated.
 *
 * @example The message names the length and the limit
 * ```ts
 * import { PacketTooLongError } from "@plexus/net/packet";
 *
 * const error = new PacketTooLongError("Cannot decode packet", 20000000, 16777216);
 * console.assert(
 *   error.message === "Cannot decode packet: length 20000000 exceeds maxPacketSize 16777216 " +
 *       "(the packet body: tag, flags, channel and rq_type fields plus the payload)",
 * );
 * console.assert(error.length === 20000000 && error.maxLength === 16777216);
 * ```
 */
export class PacketTooLongError extends PacketError {
  /** The body length found or announced. */
  readonly length: number;
  /** The limit it exceeds. */
  readonly maxLength: number;

  /**
   * Creates the error; the message is `${context}: length ${length} exceeds maxPacketSize
   * ${maxLength} (the packet body: ...)`, saying what the limit counts.
   *
   * @param context What failed: `"Cannot decode packet"` or `"Cannot encode packet"`.
   * @param length The body length.
   * @param maxLength The limit.
   */
  constructor(context: string, length: number, maxLength: number) {
    super(
      `${context}: length ${length} exceeds maxPacketSize ${maxLength} ` +
        "(the packet body: tag, flags, channel and rq_type fields plus the payload)",
    );
    this.name = "PacketTooLongError";
    this.length = length;
    this.maxLength = maxLength;
  }
}

/**
 * The peer answered a request with a failure ("not ok") response. `flags` and `payload` are
 * the response's; the message quotes the payload as text (the original's failure payloads are
 * short ASCII reasons such as `no request handler`).
 *
 * A request handler may also throw a `RemoteError` on purpose: the failure response then
 * carries its `flags` and `payload` instead of the generic `exception during handler`.
 *
 * @example Refuse a request with a reason, and read it on the other side
 * ```ts
 * import { PacketConnection, RemoteError } from "@plexus/net/packet";
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals, assertRejects } from "@std/assert";
 *
 * const server = new PacketConnection({
 *   requestHandler: () => {
 *     throw new RemoteError(7, "quota exceeded");
 *   },
 * });
 * const client = new PacketConnection();
 * createMemoryTransportPair(server, client);
 * const error = await assertRejects(() => client.call(1), RemoteError);
 * assertEquals(error.flags, 7);
 * assertEquals(error.text, "quota exceeded");
 * await client.close();
 * ```
 */
export class RemoteError extends Error {
  /** The flags of the failure response. */
  readonly flags: number;
  /** The payload of the failure response. */
  readonly payload: Uint8Array;
  /** The failed request's `label`, when it had one. */
  readonly label: string | undefined;

  /**
   * Creates the error.
   *
   * @param flags The response flags (a non-negative integer).
   * @param payload The response payload, as bytes or text (sent as UTF-8).
   * @param options `cause`: the underlying error; `label`: the request's label, named in the
   * message (`Request "fetch user" failed: ...`); `request`: how the message names the request
   * instead (a `PacketConnection` names it in full: `Request "fetch user" (rq_type 3, channel
   * 0, tag 7)`, or `Request rq_type 3 (channel 0, tag 7)` without a label).
   */
  constructor(
    flags?: number,
    payload?: Uint8Array | string,
    options?: ErrorOptions & { label?: string; request?: string },
  ) {
    flags ??= 0;
    payload ??= EMPTY;
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    const label = options?.label;
    const request = options?.request ??
      (label === undefined ? "Request" : `Request ${JSON.stringify(label)}`);
    super(
      `${request} failed: the peer answered not ok (flags ${flags}, payload ${quote(bytes)})`,
      options,
    );
    this.name = "RemoteError";
    this.flags = flags;
    this.payload = bytes;
    this.label = label;
  }

  /** The payload decoded as UTF-8 (bad bytes replaced). */
  get text(): string {
    return new TextDecoder().decode(this.payload);
  }
}

/**
 * The connection closed (the peer sent EOF, the stream ended, `close()` or `abort()` was
 * called, or it failed) before a request was answered, or a request was made on a connection
 * that no longer takes them. The error that ended the connection, if any, is the `cause`.
 *
 * @example Requests pending when the connection is aborted
 * ```ts
 * import { ConnectionClosedError, PacketConnection } from "@plexus/net/packet";
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertRejects } from "@std/assert";
 *
 * const server = new PacketConnection({ requestHandler: () => new Promise(() => {}) });
 * const client = new PacketConnection();
 * createMemoryTransportPair(server, client);
 * const pending = client.call(1);
 * client.abort();
 * await assertRejects(() => pending, ConnectionClosedError);
 * await server.closed;
 * ```
 */
export class ConnectionClosedError extends Error {
  /**
   * Creates the error.
   *
   * @param message What ended, for example `Request failed: the peer sent EOF`.
   * @param options `cause`: the error that ended the connection.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosedError";
  }
}

const EMPTY = new Uint8Array(0);

/** Quotes a payload for an error message: text when printable, hex otherwise, 64 bytes at most. */
function quote(payload: Uint8Array): string {
  const shown = payload.subarray(0, 64);
  const more = payload.byteLength > 64 ? `... (${payload.byteLength} bytes)` : "";
  const printable = shown.every((b) => b >= 0x20 && b < 0x7f);
  if (printable) return `${JSON.stringify(new TextDecoder().decode(shown))}${more}`;
  return `0x${Array.from(shown, (b) => b.toString(16).padStart(2, "0")).join("")}${more}`;
}
