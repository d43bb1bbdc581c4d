/**
 * The public shapes of a packet connection: options, requests, responses and handlers.
 *
 * @module
 */

import type { PacketConnection } from "./connection.ts";

/**
 * What a request handler may return (as the original's `request_handler`), or a promise of it:
 *
 * | result                         | response                  |
 * | ------------------------------ | ------------------------- |
 * | nothing (`undefined`, `null`)  | ok, flags 0, empty payload |
 * | a number `n`                   | ok, flags `n`, empty payload |
 * | bytes `b`                      | ok, flags 0, payload `b`  |
 * | a string `s`                   | ok, flags 0, payload UTF-8 of `s` |
 * | `[flags, bytes or string]`     | ok, as given              |
 * | throws a `RemoteError`         | not ok, its flags and payload |
 * | throws anything else           | not ok, flags 0, payload `exception during handler` |
 *
 * @example Each form
 * ```ts
 * import type { PacketHandlerResult } from "@plexus/net/packet";
 *
 * const results: PacketHandlerResult[] = [
 *   undefined, // ok, flags 0, empty payload
 *   3, // ok, flags 3
 *   new Uint8Array([1, 2]), // ok, that payload
 *   "héllo", // ok, UTF-8 payload
 *   [3, new Uint8Array([1, 2])], // ok, flags 3 and that payload
 * ];
 * ```
 */
export type PacketHandlerResult =
  | void
  | null
  | undefined
  | number
  | Uint8Array
  | string
  | readonly [number, Uint8Array | string];

/**
 * What a request handler gets besides the request itself.
 *
 * @example Stop work when the request is cancelled
 * ```ts
 * import type { PacketRequestContext } from "@plexus/net/packet";
 *
 * async function slow(context: PacketRequestContext): Promise<string> {
 *   await new Promise((resolve) => setTimeout(resolve, 1));
 *   context.signal.throwIfAborted();
 *   return `done on channel ${context.channel}, tag ${context.tag}`;
 * }
 * ```
 */
export interface PacketRequestContext {
  /** The connection the request came in on (to make requests back). */
  readonly connection: PacketConnection;
  /** The request's channel. */
  readonly channel: number;
  /** The request's tag. */
  readonly tag: number;
  /**
   * Aborts when the response is no longer wanted: the peer cancelled the request (extension),
   * or the connection was aborted or lost.
   */
  readonly signal: AbortSignal;
}

/**
 * Serves the peer's requests (the original's `request_handler(rq_type, flags, payload)`).
 * It may be async; see {@linkcode PacketHandlerResult} for what it may return.
 *
 * @param rqType The user rq_type (the wire value minus 1).
 * @param flags The request flags.
 * @param payload The request payload (a view that stays valid).
 * @param context The channel, tag, connection and a cancellation signal.
 * @returns The response (see {@linkcode PacketHandlerResult}).
 *
 * @example Echo the payload; refuse unknown types
 * ```ts
 * import { type PacketRequestHandler, RemoteError } from "@plexus/net/packet";
 *
 * const handler: PacketRequestHandler = (rqType, _flags, payload) => {
 *   if (rqType === 0) return payload;
 *   throw new RemoteError(0, `unknown rq_type ${rqType}`);
 * };
 * ```
 */
export type PacketRequestHandler = (
  rqType: number,
  flags: number,
  payload: Uint8Array,
  context: PacketRequestContext,
) => PacketHandlerResult | Promise<PacketHandlerResult>;

/**
 * A response to a submitted request: the original's `(ok, flags, payload)`.
 *
 * @example Tell success from failure
 * ```ts
 * import type { PacketResponse } from "@plexus/net/packet";
 *
 * function describe(response: PacketResponse): string {
 *   const text = new TextDecoder().decode(response.payload);
 *   return response.ok ? `ok (flags ${response.flags}): ${text}` : `failed: ${text}`;
 * }
 * ```
 */
export interface PacketResponse {
  /** Whether the peer reported success. */
  ok: boolean;
  /** The response flags (without the ok bit). */
  flags: number;
  /** The response payload (a view that stays valid). */
  payload: Uint8Array;
}

/**
 * Options of {@linkcode PacketConnection.submit}.
 *
 * @example A request with flags, a payload and a deadline
 * ```ts
 * import type { PacketSubmitOptions } from "@plexus/net/packet";
 *
 * const options: PacketSubmitOptions = { flags: 1, payload: "key", timeout: 5000 };
 * ```
 */
export interface PacketSubmitOptions {
  /**
   * The request payload; a string is sent as UTF-8.
   *
   * @default {an empty payload}
   */
  payload?: Uint8Array | string;
  /**
   * The request flags.
   *
   * @default {0}
   */
  flags?: number;
  /**
   * The channel. Channels other than 0 need the Plexus extensions (see the module docs).
   *
   * @default {0}
   */
  channel?: number;
  /**
   * Cancels the request: it rejects with the signal's reason, a late response is ignored, and
   * with the extensions on, the peer's handler sees its `signal` abort.
   */
  signal?: AbortSignal;
  /**
   * Milliseconds to wait for the response (including any wait for room to send), after which
   * the request is cancelled and rejects with a `TimeoutError` `DOMException`.
   *
   * @default {no timeout}
   */
  timeout?: number;
}

/**
 * Options of {@linkcode PacketConnection.call}.
 *
 * @typeParam T What `decode` returns.
 *
 * @example Decode the answer as text
 * ```ts
 * import type { PacketCallOptions } from "@plexus/net/packet";
 *
 * const asText: PacketCallOptions<string> = {
 *   decode: (payload) => new TextDecoder().decode(payload),
 * };
 * ```
 */
export interface PacketCallOptions<T = Uint8Array> extends Omit<PacketSubmitOptions, "payload"> {
  /**
   * Decodes an ok response's payload (the original's `decode_response`).
   *
   * @default {the payload bytes as they are}
   */
  decode?: (payload: Uint8Array, flags: number) => T;
}

/**
 * Options of a {@linkcode PacketConnection}.
 *
 * @example A server that serves a few requests at a time and offers the extensions
 * ```ts
 * import { PacketConnection, type PacketConnectionOptions } from "@plexus/net/packet";
 *
 * const options: PacketConnectionOptions = {
 *   requestHandler: (_rqType, _flags, payload) => payload,
 *   maxConcurrentHandlers: 8,
 *   maxPacketSize: 1024 * 1024,
 *   extensions: true,
 * };
 * const connection = new PacketConnection(options); // hand it to a transport to start it
 * ```
 */
export interface PacketConnectionOptions {
  /**
   * Serves the peer's requests. Without one, every request is refused with
   * `no request handler`, as the original does.
   */
  requestHandler?: PacketRequestHandler;
  /**
   * Called with an error a request handler threw (the peer only gets
   * `exception during handler`). Not called for a `RemoteError` thrown on purpose, nor for the
   * abort reason of a cancelled request.
   *
   * @default {console.error}
   */
  onHandlerError?: (error: unknown, context: PacketRequestContext) => void;
  /**
   * The largest packet body sent or received, in bytes; a larger one from the peer aborts the
   * connection with a `PacketTooLongError` before anything is allocated for it.
   *
   * @default {16777216}
   */
  maxPacketSize?: number;
  /**
   * The most of our requests awaiting a response at once; `submit()` waits for room beyond it.
   *
   * @default {1024}
   */
  maxInFlight?: number;
  /**
   * The most request handlers running at once. Further requests wait in a queue of the same
   * size; when that is full too, reading stops until a handler finishes (so a handler that
   * waits for the peer should not hold every slot).
   *
   * @default {128}
   */
  maxConcurrentHandlers?: number;
  /**
   * Milliseconds to hold packets after the first unsent one so later ones join the same write
   * (the original's `packet_grace`, which defaults to 10 ms there). 0 writes at the end of the
   * current job: everything queued in one turn still goes out in one write.
   *
   * @default {0}
   */
  packetGrace?: number;
  /**
   * Milliseconds `close()` waits for local handlers and the peer's EOF before it aborts.
   *
   * @default {10000}
   */
  closeTimeout?: number;
  /**
   * Offer the Plexus extensions (channels other than 0, cancellation reaching the peer,
   * keep-alive) with one request of rq_type {@linkcode EXTENSION_RQ_TYPE} when the connection
   * is made; they are used only if the peer accepts. A plain cs.packetstream peer answers it
   * like any unknown request. Also needed to accept a peer's offer.
   *
   * @default {false}
   */
  extensions?: boolean;
  /**
   * With the extensions accepted: milliseconds of silence from the peer after which a ping is
   * sent; if the peer stays silent for another such period the connection is aborted with a
   * {@linkcode ConnectionClosedError}. 0 turns it off.
   *
   * @default {0}
   */
  keepAlive?: number;
}

/**
 * Options of {@linkcode PacketConnection.fromStreams}.
 *
 * @example Own the streams: close them with the connection
 * ```ts
 * import type { PacketStreamsOptions } from "@plexus/net/packet";
 *
 * const options: PacketStreamsOptions = { closeStreams: true };
 * ```
 */
export interface PacketStreamsOptions extends PacketConnectionOptions {
  /**
   * Close the streams when the connection closes: cancel the readable and close the writable.
   * By default their locks are released and the streams are left open, as the original leaves
   * the files it was given.
   *
   * @default {false}
   */
  closeStreams?: boolean;
}
