/**
 * Packet RPC: tagged, bidirectional requests and responses over any byte stream, speaking the
 * cs.packetstream wire format exactly, so a Deno service can talk to a Python
 * `cs.packetstream.PacketConnection` peer.
 *
 * - {@linkcode PacketConnection}: `submit` / `call` / `request` on one side, a
 *   `requestHandler` on the other, both ways at once; ordered shutdown with ERQ and EOF.
 *   It runs as a protocol on a stream transport (TCP, TLS, Unix, the in-memory pair) or over
 *   any `{ readable, writable }` pair ({@linkcode PacketConnection.fromStreams}).
 * - {@linkcode Packet} and {@linkcode PacketFramer}: the packet codec, with every length and
 *   varint checked before allocation (`maxPacketSize`, 16 MiB by default).
 * - {@linkcode PacketRequest} and {@linkcode PacketRequestRegistry}: typed requests (the
 *   original's `BaseRequest` and `HasPacketConnection`).
 * - Errors: {@linkcode PacketError} (malformed input), {@linkcode PacketTooLongError},
 *   {@linkcode RemoteError} (a failure response), {@linkcode ConnectionClosedError}.
 *
 * ## Wire format
 *
 * ```
 *  packet = BSUInt(body length) + body
 *  body   = BSUInt(tag) BSUInt((flags << 2) | (isRequest << 1) | (channel != 0))
 *           [BSUInt(channel)] [BSUInt(rq_type + 1)] payload
 *  BSUInt = big-endian base 128, bit 0x80 on every byte but the last (300 = 82 2c)
 *  response flags on the wire = (flags << 1) | ok
 *  EOF = 03 00 02 00 (tag 0, wire rq_type 0)    ERQ = 03 01 02 00 (tag 1, wire rq_type 0)
 * ```
 *
 * ## Names for users of cs.packetstream
 *
 * | cs.packetstream                              | Plexus                                      |
 * | -------------------------------------------- | ------------------------------------------- |
 * | `PacketConnection((recv, send), ...)`        | `PacketConnection.fromStreams({ readable, writable }, ...)` |
 * | `request_handler(rq_type, flags, payload)`   | `requestHandler(rqType, flags, payload, context)` |
 * | `submit(rq_type, flags, payload)` → `Result` | `submit(rqType, { flags, payload })` → `Promise<{ ok, flags, payload }>` |
 * | `conn(rq_type, payload)`                     | `call(rqType, payload)` (throws `RemoteError` when not ok) |
 * | `decode_response=`                           | `call(..., { decode })`                     |
 * | `end_requests()` / `send_erq()`              | `endRequests()`                             |
 * | `with conn:` / shutdown                      | `await using conn` / `close()`              |
 * | `packet_grace` (seconds, default 0.01)       | `packetGrace` (milliseconds, default 0)     |
 * | `BaseRequest`, `HasPacketConnection`         | `PacketRequest`, `PacketRequestRegistry`, `conn.request(rq)` |
 *
 * ## Differences from the original, all compatible on the wire
 *
 * - When the peer's EOF arrives or the stream ends, every pending request rejects with a
 *   {@linkcode ConnectionClosedError} (the original leaves them hanging), and the connection
 *   then closes itself in order.
 * - `close()` waits for the peer's EOF at most `closeTimeout` ms (a lingering close of the
 *   transport afterwards has its own `lingerTimeout`).
 * - Limits: `maxPacketSize`, `maxInFlight`, `maxConcurrentHandlers`, `maxQueuedRequests`
 *   and `maxWriteBuffer`. Reading never stops for busy handlers or a full write buffer (a
 *   handler may wait for the peer's answer, and two peers that both stopped reading would wait
 *   for each other); instead the peer's requests beyond the handler queue are refused with
 *   `too many requests`, and a peer that keeps sending without reading is cut off.
 * - Text is encoded as the original encodes a `str` (`errors="xmlcharrefreplace"`: a lone
 *   surrogate becomes `&#55357;`).
 *
 * ## Extensions (opt-in)
 *
 * With `extensions: true`, a connection offers the Plexus extensions when it starts, with one
 * ordinary request of the reserved user rq_type {@linkcode EXTENSION_RQ_TYPE} (`0x504c5853`),
 * flags 0, payload `plexus-ext/1?`. A Plexus peer with `extensions: true` answers ok with
 * `plexus-ext/1!`; anything else (a cs.packetstream peer's `no request handler`, its handler's
 * exception, any other answer) means "no", and nothing else is ever sent. So a plain
 * cs.packetstream peer sees at most that one request, which it answers like any unknown
 * request, and never a packet it cannot parse: every extension packet is a well-formed
 * request of that rq_type, and channels other than 0 are only used once the peer agreed. The
 * answer tells us what the peer understands, so each side decides for itself. One caveat: a
 * cs.packetstream peer that has a request handler runs it once with that rq_type (as it would
 * for any unknown request type), so opt in only where that is harmless. A Plexus connection
 * never passes the reserved rq_type to its own handler, and `submit()` refuses it.
 *
 * Once accepted: requests on channels other than 0 (each channel has its own tags from 0);
 * cancellation (an aborted `signal` or a `timeout` sends rq_type {@linkcode EXTENSION_RQ_TYPE}
 * flags 1 with BSUInt(channel) BSUInt(tag), and the peer's handler sees its `signal` abort);
 * and `keepAlive` (flags 2, a ping after a silent period; the connection aborts when the peer
 * stays silent for another). Without the extensions a `signal` or `timeout` still cancels the
 * request locally, and the late response is ignored. A peer that does not answer the offer
 * within `offerTimeout` counts as refusing it. Extension requests (cancels, pings) go on
 * after our ERQ, until our EOF: they are no requests of the application's, and a Plexus
 * peer answers them whatever ERQ said.
 *
 * @example A server and a client over the in-memory transport pair
 * ```ts
 * import { PacketConnection, RemoteError } from "@plexus/net/packet";
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals, assertRejects } from "@std/assert";
 *
 * const server = new PacketConnection({
 *   requestHandler(rqType, _flags, payload) {
 *     if (rqType === 0) return new TextDecoder().decode(payload).toUpperCase();
 *     throw new RemoteError(1, `unknown rq_type ${rqType}`);
 *   },
 * });
 * const client = new PacketConnection();
 * createMemoryTransportPair(server, client);
 *
 * const answer = await client.call(0, "hello", { decode: (p) => new TextDecoder().decode(p) });
 * assertEquals(answer, "HELLO");
 * await assertRejects(() => client.call(5), RemoteError, "unknown rq_type 5");
 * await client.close();
 * assertEquals(await server.closed, undefined);
 * ```
 *
 * @example Extensions: a request on channel 3, cancelled at the peer
 * ```ts
 * import { PacketConnection } from "@plexus/net/packet";
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals, assertRejects } from "@std/assert";
 *
 * const cancelled = Promise.withResolvers<void>();
 * const server = new PacketConnection({
 *   extensions: true,
 *   requestHandler: (_rqType, _flags, _payload, { channel, signal }) => {
 *     if (channel === 3) return "on channel 3";
 *     return new Promise((_resolve, reject) =>
 *       signal.addEventListener("abort", () => {
 *         cancelled.resolve();
 *         reject(signal.reason);
 *       })
 *     );
 *   },
 * });
 * const client = new PacketConnection({ extensions: true });
 * createMemoryTransportPair(server, client);
 * assertEquals(await client.extensions, true);
 * const text = await client.call(0, "", { channel: 3, decode: (p) => new TextDecoder().decode(p) });
 * assertEquals(text, "on channel 3");
 *
 * const stop = new AbortController();
 * const slow = client.call(0, "", { signal: stop.signal });
 * await client.call(0, "", { channel: 3 }); // the slow request has reached the server
 * stop.abort();
 * await assertRejects(() => slow);
 * await cancelled.promise;
 * await client.close();
 * ```
 *
 * @module
 */

export { ConnectionClosedError, PacketError, PacketTooLongError, RemoteError } from "./errors.ts";
export { PacketConnection } from "./connection.ts";
export { EXTENSION_RQ_TYPE } from "./extension.ts";
export { DEFAULT_MAX_PACKET_SIZE, PacketFramer, type PacketFramerOptions } from "./framer.ts";
export { Packet, type PacketInit } from "./packet.ts";
export { PacketRequest, type PacketRequestType } from "./request.ts";
export { PacketRequestRegistry } from "./registry.ts";
export type { PacketTelemetryOptions } from "./telemetry.ts";
export type { PacketTraceEvent } from "./trace.ts";
export type { LatencySummary, PacketStats } from "./stats.ts";
export type {
  PacketCallOptions,
  PacketConnectionOptions,
  PacketHandlerResult,
  PacketRequestContext,
  PacketRequestHandler,
  PacketResponse,
  PacketStreamsOptions,
  PacketSubmitOptions,
} from "./types.ts";
