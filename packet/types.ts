/**
 * The public shapes of a packet connection: options, requests, responses and handlers.
 *
 * @module
 */

import type { PacketConnection } from "./connection.ts";
import type { PacketTelemetryOptions } from "./telemetry.ts";
import type { PacketTraceEvent } from "./trace.ts";

/**
 * What a request handler may return (as the original's `request_handler`), or a promise of it:
 *
 * | result                         | response                  |
 * | ------------------------------ | ------------------------- |
 * | nothing (`undefined`, `null`)  | ok, flags 0, empty payload |
 * | a number `n`                   | ok, flags `n`, empty payload |
 * | bytes `b`                      | ok, flags 0, payload `b`  |
 * | a string `s`                   | ok, flags 0, payload UTF-8 of `s` (*) |
 * | `[flags, bytes or string]`     | ok, as given              |
 * | throws a `RemoteError`         | not ok, its flags and payload |
 * | throws anything else           | not ok, flags 0, payload `exception during handler` |
 *
 * (*) As the original encodes text (`errors="xmlcharrefreplace"`): a lone surrogate, which
 * UTF-8 cannot carry, becomes a character reference such as `&#55357;`.
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
 * @param payload The request payload: a view into the connection's receive buffer that stays
 * valid, but keeps the whole receive block it sits in alive (up to one read plus the largest
 * packet in it). Keep a copy (`payload.slice()`) of a small payload kept for long.
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
 * A response to a submitted request: the original's `(ok, flags, payload)`. `ok` says whether
 * the peer reported success; `flags` are the response flags (without the ok bit). `payload` is
 * the response payload — for an ok response, what `decode` made of it when
 * {@linkcode PacketSubmitOptions.decode} was given (the original's `decode_response`). Payload
 * bytes are a view into the connection's receive buffer that stays valid, but keeps the whole
 * receive block alive; keep a copy (`payload.slice()`) of a small payload kept for long.
 *
 * @typeParam T What an ok response's payload is: the bytes, or what `decode` returns.
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
export type PacketResponse<T = Uint8Array> =
  | { ok: true; flags: number; payload: T }
  | { ok: false; flags: number; payload: Uint8Array };

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
export interface PacketSubmitOptions<T = Uint8Array> {
  /**
   * Names the request in errors and timeouts (`Request "fetch user" (rq_type 3, channel 0,
   * tag 7) failed: ...`), as the original's `label` does.
   *
   * @default {the rq_type}
   */
  label?: string;
  /**
   * Decodes an ok response's payload (the original's `decode_response`); a failure's payload
   * stays bytes. What it throws rejects the request.
   *
   * @default {the payload bytes as they are}
   */
  decode?: (payload: Uint8Array, flags: number) => T;
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
   * Cancels the request: it rejects with the signal's reason, and with the extensions on, the
   * peer's handler sees its `signal` abort. A request already sent keeps its `maxInFlight`
   * slot until the peer's late response comes (and is dropped): the peer is still working on
   * it, and a cs.packetstream peer cannot be told to stop.
   */
  signal?: AbortSignal;
  /**
   * Milliseconds to wait for the response (including any wait for room to send), from 0 to
   * 2147483647 (`Infinity`: none), after which the request is cancelled as by `signal` and
   * rejects with a `TimeoutError` `DOMException`.
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
export interface PacketCallOptions<T = Uint8Array>
  extends Omit<PacketSubmitOptions<T>, "payload"> {}

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
   * The connection's name (the original's `name`): it names the connection in trace events
   * and in the default `onHandlerError` log.
   *
   * @default {"PacketConnection"}
   */
  name?: string;
  /**
   * Called with every packet sent and received (the original's `trace_log`): the direction,
   * the packet and its text as the original prints it. Meant for debugging: it runs on every
   * packet, so keep it cheap. An error it throws is logged and otherwise ignored.
   *
   * @default {no tracing}
   */
  trace?: (event: PacketTraceEvent) => void;
  /**
   * OpenTelemetry spans and metrics for this connection's requests, through
   * `npm:@opentelemetry/api` (`true`: the global tracer and meter; see
   * {@linkcode PacketTelemetryOptions}). With the `extensions` option on both sides and
   * telemetry on both, trace context travels with the requests; never to a plain
   * cs.packetstream peer.
   *
   * @default {false}
   */
  telemetry?: boolean | PacketTelemetryOptions;
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
   * The largest packet body sent or received, in bytes: everything after the length varint —
   * the tag, flags, channel and rq_type fields (2 to 40 bytes) plus the payload, so the
   * largest payload is a few bytes less. A larger packet from the peer aborts the connection
   * with a `PacketTooLongError` before anything is allocated for it; a larger one of ours
   * rejects that request. At least 64, so that the connection's own packets fit.
   *
   * @default {16777216}
   */
  maxPacketSize?: number;
  /**
   * The most of our requests awaiting a response at once (cancelled ones count until the
   * peer's late response comes); `submit()` waits for room beyond it.
   *
   * @default {1024}
   */
  maxInFlight?: number;
  /**
   * The most request handlers running at once. A handler holds its slot until its response
   * is handed to the transport (while the transport's write buffer is over its high
   * watermark, finished handlers' responses wait).
   *
   * @default {128}
   */
  maxConcurrentHandlers?: number;
  /**
   * The most of the peer's requests waiting for a handler slot. Reading never stops for busy
   * handlers (a handler may be waiting for an answer only reading brings): a request that
   * finds the queue full is refused at once with a failure response, payload
   * `too many requests`. Set to at least the peer's `maxInFlight`, it never refuses one; the
   * default matches the default `maxInFlight`, so two Plexus peers with default limits never
   * refuse each other.
   *
   * @default {1024}
   */
  maxQueuedRequests?: number;
  /**
   * The most bytes the transport may hold for writing: those waiting, and the chunk being
   * written until all of it is. Past the high watermark we stop adding to the buffer (requests
   * and handlers wait), except for the responses of handlers already running and the small
   * refusals and answers to what the peer keeps sending; a write past this limit means a peer
   * that sends without reading. When the connection starts it becomes the transport's cap
   * (`setMaxWriteBuffer()`; the transport's own cap stays when it is lower, and a transport
   * without one, such as a UDP tendril's peer, has none), so the transport aborts with a
   * `WriteBufferOverflowError` (close reason `overflow`), which `closed` resolves with. Raise
   * it when many handlers return large responses to a slow reader.
   *
   * @default {the high watermark when the connection starts + 2 × maxPacketSize + 1 MiB (the
   * packet being written, one more, and slack), or the transport's own cap when that is lower}
   */
  maxWriteBuffer?: number;
  /**
   * Milliseconds to hold packets after the first unsent one so later ones join the same write
   * (the original's `packet_grace`, which defaults to 10 ms there; at most 2147483647). 0
   * hands each packet to the transport at once (its flow control counts it then), and the
   * transport still sends everything of one turn in one write. Held packets go to the
   * transport once 64 KiB wait.
   *
   * @default {0}
   */
  packetGrace?: number;
  /**
   * Milliseconds `close()` waits for local handlers, the peer's EOF and the flush of our own
   * end before it aborts (at most 2147483647). A transport that lingers for the peer's end
   * of the stream after that (`lingerTimeout`) does so on its own bound.
   *
   * @default {10000}
   */
  closeTimeout?: number;
  /**
   * Milliseconds a request from the peer may take, from its arrival (queued or not) to its
   * response (Node's `requestTimeout`; at most 2147483647, `Infinity` for none). Past it the
   * handler's `signal` aborts with a `DeadlineError` (`limit` `"requestTimeout"`) and the peer
   * gets a failure response whose payload names the limit (`Request not answered 300000 ms
   * after it arrived (requestTimeout)`); whatever the handler returns later is dropped, and
   * its `maxConcurrentHandlers` slot stays taken until it settles. The connection stays open:
   * one slow request says nothing about the others, and the peer is told which one failed.
   *
   * @default {the transport's `deadlines.requestTimeout`: 300000 on `Server` connections,
   * none otherwise}
   */
  requestTimeout?: number;
  /**
   * Offer the Plexus extensions (channels other than 0, cancellation reaching the peer,
   * keep-alive) with one request of rq_type {@linkcode EXTENSION_RQ_TYPE} when the connection
   * is made; they are used only if the peer accepts. Also needed to accept a peer's offer.
   *
   * A plain cs.packetstream peer treats the offer as any request: its request handler runs
   * once with rq_type `0x504c5853` (1347181651), flags 0 and payload `plexus-ext/1?`, and
   * whatever it answers, short of `ok` with `plexus-ext/1!`, means "no". Give it a handler
   * that can take an unknown rq_type (or none: it then answers `no request handler`).
   *
   * @default {false}
   */
  extensions?: boolean;
  /**
   * Milliseconds to wait for the peer's answer to our offer of the extensions (at most
   * 2147483647). Without one by then, they count as refused (a later answer is ignored):
   * `extensions` resolves to `false`, submits on channels other than 0 reject, and
   * keep-alive never starts.
   *
   * @default {10000}
   */
  offerTimeout?: number;
  /**
   * With the extensions accepted: milliseconds of silence from the peer after which a ping is
   * sent; if the peer stays silent for another such period the connection is aborted with a
   * {@linkcode ConnectionClosedError}. Any bytes from the peer count, whole packets or not.
   * Silence is not held against the peer while our reading is paused (then its bytes wait
   * unread), nor on a tick that came late because our own event loop stalled, nor while the
   * ping still waits behind bytes of ours that the peer is taking in (a large request over a
   * slow link). It goes on while `close()` waits for our handlers, and stops once our EOF
   * is sent (no packet may follow it): from then on only `closeTimeout` bounds the wait for
   * the peer's EOF. 0 turns it off; at most 2147483647.
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
   * Close the streams when the connection closes: cancel the readable and close the writable
   * (abort it when the connection was aborted). By default their locks are released and the
   * streams are left open, as the original leaves the files it was given.
   *
   * When the connection is aborted, or `close()` times out, while a write to the writable has
   * not finished (the peer does not read), the connection ends without waiting for it: those
   * bytes may reach the stream in part, later or never. Bytes already read from the readable
   * but not yet a whole packet are dropped when the connection ends.
   *
   * @default {false}
   */
  closeStreams?: boolean;
}
