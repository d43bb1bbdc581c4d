import type { Context } from "@opentelemetry/api";
import { FrameReader } from "../framing/_frame_reader.ts";
import type { Decoder } from "../framing/framer.ts";
import type { ReceiveBuffer } from "../framing/receive_buffer.ts";
import type { BufferedProtocol, ShutdownHook } from "../transport/protocols.ts";
import { StreamTransport } from "../transport/stream_transport.ts";
import { type ByteStreams, StreamsChannel } from "../transport/streams_channel.ts";
import type { Transport } from "../transport/types.ts";
import { decodePacketInto, PacketFields } from "./_codec.ts";
import { Handlers, refuse } from "./_handlers.ts";
import { abortIfStillFlushing, closeFlushed } from "../transport/_close_grace.ts";
import { WRITE_ENDING } from "../transport/_write_ending.ts";
import { checkRequestTimeout } from "./_request_deadlines.ts";
import { KeepAlive } from "./_keep_alive.ts";
import { checkTimeout, RequestAbort } from "./_request_abort.ts";
import { checkDelay } from "../transport/_delay.ts";
import { describeRequest, PAYLOAD, Requests, RESPONSE, type Settle } from "./_requests.ts";
import { toBytes } from "./_result.ts";
import { PacketTelemetry, type RequestSpan, unwrapTraced } from "./_telemetry.ts";
import { PacketWriter } from "./_writer.ts";
import { ConnectionClosedError, PacketError } from "./errors.ts";
import { encodeCancel, EXTENSION_RQ_TYPE, ExtensionOp, Extensions, OFFER } from "./extension.ts";
import { DEFAULT_MAX_PACKET_SIZE } from "./framer.ts";
import { Packet } from "./packet.ts";
import type { PacketRequest } from "./request.ts";
import type { PacketTraceEvent } from "./trace.ts";
import { PacketCounters } from "./_stats.ts";
import type { PacketStats } from "./stats.ts";
import { packetChannel } from "../transport/_trace.ts";
import type { TransportStats } from "../transport/stats.ts";
import type {
  PacketCallOptions,
  PacketConnectionOptions,
  PacketRequestContext,
  PacketResponse,
  PacketStreamsOptions,
  PacketSubmitOptions,
} from "./types.ts";

/** The largest user rq_type `submit()` takes: its wire value (one more) is a safe integer. */
export const MAX_RQ_TYPE = Number.MAX_SAFE_INTEGER - 1;
const NO_OPTIONS: PacketSubmitOptions<unknown> = {};
/**
 * The largest request flags `submit()` takes (2^51 - 1): the wire field
 * `(flags << 2) | (isRequest << 1) | (channel != 0)` must stay a safe integer.
 */
export const MAX_REQUEST_FLAGS = Math.floor((Number.MAX_SAFE_INTEGER - 3) / 4);
/** What the default `maxWriteBuffer` allows beyond the high watermark and two packets. */
const WRITE_BUFFER_SLACK = 1024 * 1024;
/**
 * The smallest `maxPacketSize`: what the connection's own packets need (fields of up to 40
 * bytes, the extension offer and cancel, a refusal, which goes out empty when its text does
 * not fit). Smaller, one of them could fail to encode from a timer and end the process.
 */
const MIN_PACKET_SIZE = 64;

/**
 * A bidirectional request/response connection that speaks the cs.packetstream wire format
 * (the original's `PacketConnection`): either side submits tagged requests and serves the
 * other's, over one byte stream.
 *
 * **Two ways to run it.** A `PacketConnection` is a `BufferedProtocol`: hand it to a stream
 * transport (`createConnection(() => new PacketConnection(), address)`, `createServer(...)`,
 * `createMemoryTransportPair(a, b)`), which then owns and closes the socket. Or call
 * {@linkcode PacketConnection.fromStreams} with any `{ readable, writable }` pair (a
 * `Deno.Conn`, a child process's stdio); it drives them through a stream transport but leaves
 * them open when it closes (unless `closeStreams`), as the original leaves its files.
 *
 * **Requests.** {@linkcode PacketConnection.submit} resolves to `{ ok, flags, payload }`;
 * {@linkcode PacketConnection.call} to the payload, throwing {@linkcode RemoteError} on a
 * failure response; {@linkcode PacketConnection.request} sends a typed
 * {@linkcode PacketRequest}. Tags count up per channel: on channel 0 from 2 and never reused; on
 * another channel from 0, starting again once none of its requests is outstanding.
 * A `signal` or `timeout` cancels a request locally; a late response is ignored (the request
 * keeps its `maxInFlight` slot until then: the peer is still working on it).
 *
 * **Serving.** The `requestHandler` option serves the peer's requests, up to
 * `maxConcurrentHandlers` at once and `maxQueuedRequests` waiting; responses go out as
 * handlers finish. Refusals use the original's payloads: `no request handler`, `requests no
 * longer allowed` (after the peer's ERQ or once closing), `channel N: tag already in use: T`,
 * `unknown channel %d` (sic), and `exception during handler` when a handler throws (its
 * message never reaches the peer); and ours: `too many requests` when the queue is full,
 * `request cancelled` for a queued request the peer cancelled.
 *
 * **Writes and backpressure.** Each packet is encoded straight into the transport's write
 * buffer and committed at once, so the transport's flow control sees it; the transport sends
 * the packets of one turn in one write (with `packetGrace`, packets are held that many ms, or
 * until 64 KiB wait, so later turns join). `submit` waits for room while `maxInFlight`
 * requests are outstanding. While the transport's write buffer is over its high watermark
 * (it called `pauseWriting`), `submit` waits too, no handler starts, and the responses of
 * handlers that finish meanwhile wait in memory, holding their slots, until it drains.
 *
 * Reading never stops for busy handlers or a full write buffer: a handler may be waiting for
 * the peer's answer to its own request, which only reading brings, and two peers that both
 * stopped reading while writing would wait for each other forever. The peer's requests
 * beyond `maxConcurrentHandlers` running and `maxQueuedRequests` queued are refused with
 * `too many requests` instead. What is left to grow is the small refusals and answers sent to
 * a peer that keeps sending without reading; `maxWriteBuffer` becomes the transport's cap, and
 * a write past it takes such a peer to be dead or hostile: the transport aborts with a
 * `WriteBufferOverflowError` (its close reason is `overflow`), and `closed` resolves with it.
 *
 * **Shutdown.**
 *
 * | call or event            | what happens                                                      |
 * | ------------------------ | ----------------------------------------------------------------- |
 * | `endRequests()`          | sends ERQ: we make no more requests                               |
 * | `close()`                | ERQ, wait for our handlers, EOF, wait for the peer's EOF (`closeTimeout`), close |
 * | `abort()`                | close now; pending requests reject, handlers' signals abort       |
 * | `shutdown(signal)` aborts | the peer's requests being served get a failure naming the reason; then as `abort()`, but the transport is closed (flushed) |
 * | the peer's ERQ           | its later requests are refused                                    |
 * | the peer's EOF           | our pending requests reject with {@linkcode ConnectionClosedError}; then `close()` |
 * | end of stream, no EOF    | everything rejects; `closed` resolves with a {@linkcode ConnectionClosedError} |
 * | a malformed packet       | abort; `closed` resolves with the {@linkcode PacketError}         |
 *
 * Nothing ever hangs: every pending request settles when the connection ends.
 *
 * **States.** One lifecycle state, and how far each direction's conversation went (`sent`:
 * ours, `received`: the peer's; each `requests` → `erq` → `eof`, never back):
 *
 * | state        | event                                                  | next         |
 * | ------------ | ------------------------------------------------------ | ------------ |
 * | `connecting` | `connectionMade` (ERQ goes out if `endRequests()` came first) | `open` |
 * | `connecting` | `close()`, `abort()`                                   | `finished`   |
 * | `open`       | `close()`, the peer's EOF (`received` = `eof`: reading stops) | `closing` |
 * | `closing`    | handlers idle: EOF sent (`sent` = `eof`); the peer's EOF or end of stream: transport closed | `closing` |
 * | `open`, `closing` | `abort()`, keep-alive, end of stream without EOF, `closeTimeout`, the `shutdown` signal | `aborting` |
 * | any          | `connectionLost` (everything settles; a write past `maxWriteBuffer` leads here) | `finished`   |
 *
 * @example Requests both ways over TCP
 * ```ts
 * import { PacketConnection } from "@plexus/net/packet";
 * import { createConnection, createServer } from "@plexus/net/endpoints";
 * import { assertEquals } from "@std/assert";
 *
 * const text = new TextDecoder();
 * await using server = await createServer(
 *   () =>
 *     new PacketConnection({
 *       requestHandler: async (_rqType, _flags, payload, { connection }) => {
 *         const name = await connection.call(0, undefined, { decode: (p) => text.decode(p) });
 *         return `${text.decode(payload)}, ${name}`;
 *       },
 *     }),
 *   "127.0.0.1:0",
 * );
 * const { protocol: client } = await createConnection(
 *   () => new PacketConnection({ requestHandler: () => "Ada" }),
 *   server.addresses[0],
 * );
 * assertEquals(text.decode(await client.call(0, "hello")), "hello, Ada");
 * await client.close();
 * ```
 *
 * @example Over a pair of Web Streams, left open afterwards
 * ```ts
 * import { PacketConnection } from "@plexus/net/packet";
 * import { createMemoryTransportPair, StreamProtocol } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const a = new StreamProtocol();
 * const b = new StreamProtocol();
 * createMemoryTransportPair(a, b);
 * const server = PacketConnection.fromStreams(b, { requestHandler: (_t, _f, p) => p.reverse() });
 * const client = PacketConnection.fromStreams(a);
 * assertEquals(await client.call(0, new Uint8Array([1, 2, 3])), new Uint8Array([3, 2, 1]));
 * await client.close();
 * await server.closed;
 * assertEquals(a.readable.locked, false); // released, not closed
 * a.transport!.close();
 * ```
 */
export class PacketConnection implements BufferedProtocol, ShutdownHook, AsyncDisposable {
  readonly #reader: FrameReader<PacketFields>;
  readonly #writer: PacketWriter;
  readonly #requests: Requests;
  readonly #handlers: Handlers | undefined;
  readonly #closeTimeout: number;
  /** The `requestTimeout` option; without it, the transport's `deadlines.requestTimeout`. */
  readonly #requestTimeout: number | undefined;
  readonly #offerTimeout: number;
  readonly #maxPacketSize: number;
  readonly #maxWriteBuffer: number | undefined;
  readonly #extensions: Extensions;
  readonly #keepAlive: KeepAlive | undefined;
  readonly #trace: ((event: PacketTraceEvent) => void) | undefined;
  /** Spans and metrics (the `telemetry` option); `undefined`: off. */
  readonly #telemetry: PacketTelemetry | undefined;
  /**
   * The `name` option: it names the connection's transport too (see
   * {@linkcode PacketConnection.name}); `undefined` without it.
   */
  readonly connectionName: string | undefined;
  /** The counters behind {@linkcode PacketConnection.stats}. */
  readonly #counters: PacketCounters = new PacketCounters();
  #transport: Transport | undefined;
  /** Whether the transport's write buffer is over its high watermark (it called pauseWriting). */
  #writePaused = false;
  #offerTimer: ReturnType<typeof setTimeout> | undefined;

  // Lifecycle (see the table in the class doc).
  #state: State = "connecting";
  /** How far our side went: ERQ sent (or due: see `#erqDue`), EOF sent. */
  #sent: Stage = "requests";
  /**
   * ERQ is decided but not written yet: it waits for the connection, and for the requests
   * submitted before it that still wait for room (`#early`), which go out first.
   */
  #erqDue = false;
  /** Requests submitted (before ERQ) that wait for room, the connection or the extensions. */
  #early = 0;
  /** How far the peer went: its ERQ, its EOF. */
  #received: Stage = "requests";
  readonly #peerDone = Promise.withResolvers<void>();
  #closePromise: Promise<void> | undefined;
  #lostError: Error | undefined;
  readonly #closed = Promise.withResolvers<Error | undefined>();

  /**
   * Creates a packet connection; give it to a stream transport to start it (or use
   * {@linkcode PacketConnection.fromStreams}). Requests submitted before then wait.
   *
   * @param options The request handler, limits, timeouts and extensions.
   * @throws {RangeError} When a limit is not a positive safe integer, or a duration not a
   * number of milliseconds from 0 to 2147483647 (the most a timer can wait), naming the
   * option and the value.
   */
  constructor(options?: PacketConnectionOptions) {
    options ??= {};
    const max = options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE;
    if (!Number.isSafeInteger(max) || max < MIN_PACKET_SIZE) {
      throw new RangeError(
        `Cannot create packet connection: maxPacketSize must be a safe integer of at least ${MIN_PACKET_SIZE} (the connection's own packets must fit), got ${max}`,
      );
    }
    this.#maxPacketSize = max;
    this.#maxWriteBuffer = options.maxWriteBuffer === undefined
      ? undefined
      : limit("maxWriteBuffer", options.maxWriteBuffer);
    this.#writer = new PacketWriter(max, duration("packetGrace", options.packetGrace ?? 0));
    this.#requests = new Requests(
      this.#writer,
      {
        canSend: () => this.#transport !== undefined && !this.#writePaused,
        cancelled: (channel, tag) => {
          if (this.#extensions.on && this.#state !== "finished" && this.#sent !== "eof") {
            this.#sendExtension(ExtensionOp.cancel, encodeCancel(channel, tag));
          }
        },
      },
      limit("maxInFlight", options.maxInFlight ?? 1024),
      this.#counters,
    );
    const maxConcurrent = limit("maxConcurrentHandlers", options.maxConcurrentHandlers ?? 128);
    const maxQueued = limit("maxQueuedRequests", options.maxQueuedRequests ?? 1024);
    if (options.requestHandler) {
      this.#handlers = new Handlers(
        this,
        this.#writer,
        options.requestHandler,
        { maxConcurrent, maxQueued },
        options.onHandlerError ?? defaultHandlerError,
        { canWrite: () => !this.#writePaused, counters: this.#counters },
      );
    }
    this.#closeTimeout = duration("closeTimeout", options.closeTimeout ?? 10_000);
    this.#requestTimeout = options.requestTimeout === undefined
      ? undefined
      : checkRequestTimeout(options.requestTimeout);
    this.#offerTimeout = duration("offerTimeout", options.offerTimeout ?? 10_000);
    const keepAlive = duration("keepAlive", options.keepAlive ?? 0);
    if (keepAlive > 0) {
      this.#keepAlive = new KeepAlive(keepAlive, {
        ping: () => {
          try {
            this.#sendExtension(ExtensionOp.ping, new Uint8Array(0));
            this.#writer.flush(); // held by packetGrace, the ping would not be out yet
          } catch {
            // Unwritable (a writeEof() under the connection): the peer stays silent, and the
            // next tick declares it gone.
          }
        },
        dead: (closing) =>
          this.#abortWith(
            new ConnectionClosedError(
              closing
                ? `Connection lost: the peer took none of our last bytes in ${
                  2 * keepAlive
                } ms while closing (keep-alive)`
                : `Connection lost: no packet from the peer in ${2 * keepAlive} ms (keep-alive)`,
            ),
          ),
        reading: () => this.#received !== "eof" && this.#transport?.isReading() !== false,
        closing: () => this.#transport?.isClosing() === true,
        sent: () => (this.#transport as { stats?(): TransportStats }).stats?.().bytesSent ?? 0,
        unsent: () => this.#transport!.getWriteBufferSize(),
      });
    }
    this.#extensions = new Extensions(options.extensions ?? false);
    this.connectionName = options.name;
    if (options.telemetry) {
      this.#telemetry = new PacketTelemetry(options.telemetry, () => this.name);
      this.#extensions.takesTraceContext = this.#telemetry.propagate;
      if (this.#handlers) this.#handlers.telemetry = this.#telemetry;
    }
    this.#trace = options.trace;
    this.#writer.trace = (packet) => this.#emitTrace("send", packet);
    this.#writer.traceAlways = this.#trace !== undefined;
    this.#reader = new FrameReader<PacketFields>(
      new PacketDecoder(max),
      (packet) => this.#onPacket(packet),
      () => this.#mayRead(),
    );
  }

  /**
   * Runs a packet connection over a readable and a writable byte stream: a `Deno.Conn` (TCP,
   * TLS, Unix), a child process's `{ readable: child.stdout, writable: child.stdin }`, this
   * process's stdio, or any other pair. The streams are locked while the connection runs;
   * when it ends their locks are released and they stay open, unless `closeStreams` is set.
   *
   * The connection never waits for the streams once it ends: a write the writable has not
   * finished (a peer that does not read) is left behind when the connection is aborted or
   * `close()` times out, so its bytes may reach a borrowed stream in part, later or never.
   * Bytes already read from the readable but not yet a whole packet are dropped at the end.
   *
   * @param streams The byte streams to and from the peer.
   * @param options The connection's options, and whether to close the streams at the end.
   * @returns The running connection.
   * @throws {TypeError} When a stream is already locked.
   *
   * @example Talk to a peer over a Unix socket `Deno.Conn`
   * ```ts
   * import { PacketConnection } from "@plexus/net/packet";
   * import { assertEquals } from "@std/assert";
   *
   * const dir = await Deno.makeTempDir();
   * const path = `${dir}/packets.sock`;
   * const listener = Deno.listen({ transport: "unix", path });
   * const accepted = listener.accept();
   * const conn = await Deno.connect({ transport: "unix", path });
   * const peer = await accepted;
   * const server = PacketConnection.fromStreams(peer, { requestHandler: () => 42 });
   * const client = PacketConnection.fromStreams(conn);
   * assertEquals((await client.submit(0)).flags, 42);
   * await client.close();
   * await server.closed;
   * conn.close(); // ours to close
   * peer.close();
   * listener.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static fromStreams(streams: ByteStreams, options?: PacketStreamsOptions): PacketConnection {
    options ??= {};
    const connection = new PacketConnection(options);
    const channel = new StreamsChannel(streams, { closeStreams: options.closeStreams ?? false });
    new StreamTransport(channel, connection);
    return connection;
  }

  /** The transport, once connected. */
  get transport(): Transport | undefined {
    return this.#transport;
  }

  /**
   * The connection's name (the original's `name`), in trace events and handler-error logs: the
   * `name` option, which also names the transport; without it, the transport's name once
   * connected (the peer's `host:port`), and `"PacketConnection"` before.
   */
  get name(): string {
    return this.connectionName ?? this.#transport?.getExtraInfo("name") ?? "PacketConnection";
  }

  /**
   * A snapshot of the connection's counters: our requests (sent, in flight, answered, not ok,
   * cancelled, timed out, lost) with their latency, the peer's requests (received, served,
   * failed, refused), and the transport's statistics. Counting costs plain number fields and
   * one fixed-size histogram: nothing is allocated per request.
   *
   * @returns A new {@linkcode PacketStats} object.
   *
   * @example Latency of our requests
   * ```ts
   * import { PacketConnection } from "@plexus/net/packet";
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * const server = new PacketConnection({ requestHandler: () => "pong" });
   * const client = new PacketConnection();
   * createMemoryTransportPair(server, client);
   * for (let i = 0; i < 10; i++) await client.call(0, "ping");
   * const { requestsSent, latency } = client.stats();
   * assertEquals([requestsSent, latency.count], [10, 10]);
   * console.assert(latency.p50 <= latency.p99 && latency.p99 <= latency.max);
   * assertEquals(server.stats().requestsServed, 10);
   * await client.close();
   * ```
   */
  stats(): PacketStats {
    const c = this.#counters;
    const transport = this.#transport as { stats?(): TransportStats } | undefined;
    return {
      requestsSent: c.requestsSent,
      inFlight: this.#requests.inFlight,
      responses: c.responses,
      notOk: c.notOk,
      cancelled: c.cancelled,
      timedOut: c.timedOut,
      lost: c.lost,
      requestsReceived: c.requestsReceived,
      requestsServed: c.requestsServed,
      failed: c.failed,
      refused: c.refused,
      latency: c.latency.summary(),
      transport: transport?.stats?.(),
    };
  }

  /**
   * Resolves once the connection has ended, with the error that ended it (a
   * {@linkcode PacketError}, a {@linkcode ConnectionClosedError}, a transport error) or
   * `undefined` after an orderly close or `abort()`. It never rejects.
   */
  get closed(): Promise<Error | undefined> {
    return this.#closed.promise;
  }

  /**
   * Resolves to whether the peer accepted our offer of the Plexus extensions (always `false`
   * without the `extensions` option, when the connection ends first, or when the peer did not
   * answer within `offerTimeout`). With `telemetry` on, it resolves once the peer also said
   * whether it takes trace context (one more round trip), so requests made after it carry it.
   */
  get extensions(): Promise<boolean> {
    return this.#extensions.decided;
  }

  /**
   * The number of our requests holding a `maxInFlight` slot: awaiting a response, including
   * cancelled ones whose late response has not come yet.
   */
  get inFlight(): number {
    return this.#requests.inFlight;
  }

  /**
   * Sends a request and resolves to the response, ok or not (the original's `submit`).
   *
   * @param rqType The request type: a non-negative integer (sent as `rqType + 1`), not
   * {@linkcode EXTENSION_RQ_TYPE}.
   * @param options The payload, flags, channel, cancellation signal and timeout.
   * @returns The response's `ok`, `flags` and `payload`.
   * @throws {RangeError} For a bad rq_type, flags, channel or timeout, or a channel other than
   * 0 when the peer did not accept the extensions (or did not answer the offer within
   * `offerTimeout`).
   * @throws {PacketTooLongError} When the request exceeds `maxPacketSize`.
   * @throws {ConnectionClosedError} When the connection ends first (also while a request on a
   * channel other than 0 waits for the peer's answer to the offer), or no longer takes
   * requests (`endRequests()`, `close()`, the peer's EOF).
   * @throws {DOMException} A `TimeoutError` after `timeout`; the signal's reason when
   * aborted.
   *
   * @example A failure response is a value here
   * ```ts
   * import { PacketConnection } from "@plexus/net/packet";
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * const client = new PacketConnection();
   * createMemoryTransportPair(new PacketConnection(), client); // the peer has no handler
   * const response = await client.submit(3, { payload: "hi" });
   * assertEquals(response.ok, false);
   * assertEquals(new TextDecoder().decode(response.payload), "no request handler");
   * await client.close();
   * ```
   */
  submit<T = Uint8Array>(
    rqType: number,
    options?: PacketSubmitOptions<T>,
  ): Promise<PacketResponse<T>> {
    options ??= NO_OPTIONS as PacketSubmitOptions<T>;
    return this.#submit(
      rqType,
      options.flags,
      options.payload,
      options,
      RESPONSE,
      options.decode,
    ) as Promise<PacketResponse<T>>;
  }

  /**
   * Checks a request and sends it, or waits for room first. Every request made goes through
   * here: no option object or promise of its own is made on the way.
   */
  #submit(
    rqType: number,
    flags: number | undefined,
    data: Uint8Array | string | undefined,
    options: PacketSubmitOptions<unknown>,
    settle: Settle,
    decode: ((payload: Uint8Array, flags: number) => unknown) | undefined,
  ): Promise<unknown> {
    let channel: number;
    let payload: Uint8Array;
    try {
      if (
        typeof rqType !== "number" || !Number.isSafeInteger(rqType) || rqType < 0 ||
        rqType > MAX_RQ_TYPE
      ) {
        throw new RangeError(
          `Cannot submit request: rq_type must be a non-negative safe integer, got ${rqType}`,
        );
      }
      if (rqType === EXTENSION_RQ_TYPE) {
        throw new RangeError(
          `Cannot submit request: rq_type ${rqType} is reserved for the Plexus extensions`,
        );
      }
      flags ??= 0;
      if (
        typeof flags !== "number" || !Number.isSafeInteger(flags) || flags < 0 ||
        flags > MAX_REQUEST_FLAGS
      ) {
        throw new RangeError(
          `Cannot submit request: flags must be an integer from 0 to ${MAX_REQUEST_FLAGS}, got ${flags}`,
        );
      }
      channel = options.channel ?? 0;
      if (typeof channel !== "number" || !Number.isSafeInteger(channel) || channel < 0) {
        throw new RangeError(
          `Cannot submit request: channel must be a non-negative safe integer, got ${channel}`,
        );
      }
      checkTimeout(options.timeout);
      payload = data instanceof Uint8Array ? data : toBytes(data);
      const refusal = this.#refusal();
      if (refusal) throw refusal;
    } catch (error) {
      return Promise.reject(error);
    }
    const { signal, timeout, label } = options;
    const span = this.#telemetry?.client(rqType, channel, payload.byteLength, label);
    if (
      signal === undefined && timeout === undefined && channel === 0 && this.#requests.tryTake()
    ) {
      try {
        return this.#requests.send(
          rqType,
          flags,
          channel,
          payload,
          true,
          undefined,
          label,
          settle,
          decode,
          span,
        );
      } catch (error) {
        this.#requests.release();
        span?.failed(error);
        return Promise.reject(error);
      }
    }
    const abort = new RequestAbort(
      signal,
      timeout,
      describeRequest(rqType, label),
      this.#counters,
    );
    return this.#submitSlow(rqType, flags, channel, payload, abort, label, settle, decode, span);
  }

  /**
   * Sends a request and resolves to its payload, decoded when `decode` is given (the
   * original's `__call__`, but a failure response throws).
   *
   * @typeParam T What `decode` returns; the payload bytes without it.
   * @param rqType The request type.
   * @param payload The request payload; a string is sent as UTF-8.
   * @param options `decode`, flags, channel, signal and timeout.
   * @returns The response payload, or what `decode` made of it.
   * @throws {RemoteError} When the peer answered not ok (its flags and payload attached).
   * @throws {ConnectionClosedError} As {@linkcode PacketConnection.submit}, and the same others.
   *
   * @example Decode JSON answers
   * ```ts
   * import { PacketConnection } from "@plexus/net/packet";
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * const server = new PacketConnection({
   *   requestHandler: (_rqType, _flags, payload) =>
   *     JSON.stringify({ length: payload.byteLength }),
   * });
   * const client = new PacketConnection();
   * createMemoryTransportPair(server, client);
   * const answer = await client.call(0, "four", {
   *   decode: (payload) => JSON.parse(new TextDecoder().decode(payload)),
   * });
   * assertEquals(answer, { length: 4 });
   * await client.close();
   * ```
   */
  call<T = Uint8Array>(
    rqType: number,
    payload?: Uint8Array | string,
    options?: PacketCallOptions<T>,
  ): Promise<T> {
    options ??= NO_OPTIONS as PacketCallOptions<T>;
    return this.#submit(
      rqType,
      options.flags,
      payload,
      options,
      PAYLOAD,
      options.decode,
    ) as Promise<T>;
  }

  /**
   * Sends a typed request (the original's `HasPacketConnection.conn_do_remote`): its class's
   * `rqType`, its `flags` and `encode()`d payload; resolves to its `decodeResponse()` of the
   * answer.
   *
   * @typeParam R What the request's response decodes to.
   * @param request The request.
   * @param options Channel, signal and timeout.
   * @returns The decoded response.
   * @throws {RemoteError} When the peer answered not ok.
   * @throws {ConnectionClosedError} As {@linkcode PacketConnection.submit}, and the same others.
   *
   * @example See {@linkcode PacketRequestRegistry} for both sides
   * ```ts
   * import { PacketConnection, PacketRequest } from "@plexus/net/packet";
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * class Ping extends PacketRequest<string> {
   *   static readonly rqType = 9;
   *   encode(): string {
   *     return "ping";
   *   }
   *   override decodeResponse(payload: Uint8Array): string {
   *     return new TextDecoder().decode(payload);
   *   }
   *   fulfil(): string {
   *     return "pong";
   *   }
   * }
   * const server = new PacketConnection({ requestHandler: () => "pong" });
   * const client = new PacketConnection();
   * createMemoryTransportPair(server, client);
   * assertEquals(await client.request(new Ping()), "pong");
   * await client.close();
   * ```
   */
  request<R>(
    request: PacketRequest<R, never>,
    options?: Omit<PacketSubmitOptions, "payload" | "flags" | "decode">,
  ): Promise<R> {
    options ??= NO_OPTIONS;
    let rqType: number;
    let payload: Uint8Array | string;
    try {
      rqType = request.rqType;
      payload = request.encode();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#submit(
      rqType,
      request.flags,
      payload,
      options,
      PAYLOAD,
      (bytes, flags) => request.decodeResponse(bytes, flags),
    ) as Promise<R>;
  }

  /**
   * Tells the peer we make no more requests: sends the ERQ packet (once). Later `submit()`s
   * reject; our pending requests still get their responses, and the peer's requests are still
   * served. Requests submitted before it that still wait (for `maxInFlight` room, or for the
   * connection) go out first, then ERQ, as in the original.
   *
   * With the extensions on, the extension requests go on after ERQ until our EOF: cancels of
   * our pending requests and keep-alive pings. A Plexus peer answers them whatever ERQ said
   * (they are no requests of the application's), and a cs.packetstream peer never gets them.
   *
   * @example End requests, keep serving
   * ```ts
   * import { ConnectionClosedError, PacketConnection } from "@plexus/net/packet";
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertRejects } from "@std/assert";
   *
   * const server = new PacketConnection({ requestHandler: () => "ok" });
   * const client = new PacketConnection();
   * createMemoryTransportPair(server, client);
   * client.endRequests();
   * await assertRejects(() => client.call(0), ConnectionClosedError);
   * await client.close();
   * ```
   */
  endRequests(): void {
    this.#sendErq();
  }

  /**
   * Closes in order: sends ERQ, waits for our running handlers (their responses go out; one
   * whose request `requestTimeout` already answered is not waited for),
   * sends EOF, waits for the peer's EOF, then closes the transport. Requests still waiting
   * for room reject; requests already sent may still be answered until the peer's EOF. After
   * `closeTimeout` ms it aborts instead; until our EOF, keep-alive (when on) still aborts
   * when the peer goes silent. Calling it again returns the same promise.
   *
   * A request handler that closes its own connection (a "quit" request) must not await the
   * close: it waits for that very handler, until `closeTimeout` aborts the connection and the
   * answer is lost. Call `void context.connection.close()` and return the answer.
   *
   * @returns Resolves once closed (see {@linkcode PacketConnection.closed}); never rejects.
   *
   * @example Both sides close in order
   * ```ts
   * import { PacketConnection } from "@plexus/net/packet";
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * const server = new PacketConnection({ requestHandler: () => "bye" });
   * const client = new PacketConnection();
   * createMemoryTransportPair(server, client);
   * await client.call(0);
   * await client.close(); // the server closes too when it sees our EOF
   * assertEquals(await server.closed, undefined);
   * ```
   */
  close(): Promise<void> {
    this.#closePromise ??= this.#runClose();
    return this.#closePromise;
  }

  /**
   * Closes now, without ERQ or EOF: pending requests reject with
   * {@linkcode ConnectionClosedError}, running handlers see their signals abort and their
   * responses are dropped, and the transport is aborted.
   *
   * @example Abort with a request pending
   * ```ts
   * import { ConnectionClosedError, PacketConnection } from "@plexus/net/packet";
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertRejects } from "@std/assert";
   *
   * const server = new PacketConnection({
   *   requestHandler: (rqType, _f, _p, { signal }) => {
   *     if (rqType === 1) return; // answered at once
   *     return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
   *   },
   * });
   * const client = new PacketConnection();
   * createMemoryTransportPair(server, client);
   * const pending = client.call(0); // never answered
   * await client.submit(1); // the first request has reached the server by now
   * client.abort();
   * await assertRejects(() => pending, ConnectionClosedError);
   * await server.closed;
   * ```
   */
  abort(): void {
    this.#abortWith(undefined);
  }

  /** Closes in order, as {@linkcode PacketConnection.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Part of the graceful-shutdown contract ({@linkcode ShutdownHook}), called by a `Server`
   * that shuts down: closes in order as {@linkcode PacketConnection.close} does — ERQ, so the
   * peer makes no more requests; requests that still arrive are refused with "requests no
   * longer allowed"; the requests being served (running or queued) are answered; then EOF.
   * When `signal` aborts (the server's drain timeout), the connection gives up with its
   * reason: every request of the peer's still being served (running or queued) is answered
   * with a failure response whose payload is the reason's message (the peer's `call` rejects
   * with a {@linkcode RemoteError} naming it, "The server's shutdown timed out after N ms"),
   * handlers' signals, our pending calls and `closed` get the reason, and the transport is
   * closed with it, flushing those answers (the owner aborts it if that takes too long: a
   * `Server` after `SHUTDOWN_CLOSE_GRACE`, 1 s). As with `close()`, the connection is aborted
   * after `closeTimeout` (10 s by default) even if the drain allows longer: raise it for
   * handlers that may take longer to finish.
   *
   * @param signal Aborts when the owner's drain timeout runs out.
   * @returns Resolves once closed.
   */
  shutdown(signal: AbortSignal): Promise<void> {
    // The owner's reason (the server's drain timeout) goes to the peer's requests still being
    // served, the handlers' signals, the calls still waiting and `closed`, rather than a plain
    // abort's "the connection was closed".
    const abort = (): void =>
      this.#giveUp(signal.reason instanceof Error ? signal.reason : undefined);
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
    return this.close().finally(() => signal.removeEventListener("abort", abort));
  }

  // ---- BufferedProtocol ----------------------------------------------------------------------

  /**
   * Part of the transport contract: the transport's write side ends now (its owner closed it,
   * `writeEof()`): packets `packetGrace` holds were written before, so they go out first.
   */
  [WRITE_ENDING](): void {
    this.#writer.flush();
  }

  /**
   * Part of the transport contract: the connection starts.
   *
   * @param transport The transport driving the connection.
   */
  connectionMade(transport: Transport): void {
    if (this.#state === "finished") {
      // Closed or aborted before a transport came.
      transport.abort();
      return;
    }
    this.#state = "open";
    this.#transport = transport;
    this.#telemetry?.opened(transport);
    this.#writer.attach(transport);
    this.#capWriteBuffer(transport);
    const clock = transport.deadlineClock;
    this.#reader.clock = clock;
    this.#reader.transport = transport;
    clock?.start();
    this.#handlers?.useRequestTimeout(this.#requestTimeout ?? clock?.deadlines.requestTimeout);
    if (this.#extensions.wanted) this.#offerExtensions();
    this.#writeErq(false); // endRequests() came first
    this.#requests.wake();
  }

  /**
   * Part of the transport contract: the receive buffer's free tail.
   *
   * @param sizeHint The read size the transport would like.
   */
  getBuffer(sizeHint: number): Uint8Array {
    return this.#reader.buffer.getWriteBuffer(sizeHint);
  }

  /**
   * Part of the transport contract: bytes arrived; packets are decoded and handled.
   *
   * @param nbytes The count read into the last buffer.
   */
  bufferUpdated(nbytes: number): void {
    // Bytes count as a sign of life, whole packets or not (a large one may take a while).
    this.#keepAlive?.heard();
    this.#requests.newRead();
    if (!this.#reader.received(nbytes, this.#transport)) return;
    this.#reader.read();
  }

  /**
   * Part of the transport contract: end of stream. The last packets are handled; bytes left
   * over are a truncated packet (a `TruncatedFrameError` ends the connection).
   *
   * @returns Whether to keep the transport open for writing.
   */
  eofReceived(): boolean {
    // After the peer's EOF packet nothing more is read; close() ends the transport.
    this.#requests.newRead();
    if (!this.#reader.finish()) return true;
    return this.#onStreamEnd();
  }

  /** Part of the transport contract: the transport's write buffer is full. */
  pauseWriting(): void {
    this.#writePaused = true;
  }

  /** Part of the transport contract: the transport's write buffer drained. */
  resumeWriting(): void {
    this.#writePaused = false;
    this.#handlers?.resumeWriting();
    this.#requests.wake();
  }

  /**
   * Part of the transport contract: the connection ended.
   *
   * @param error Why, if it failed.
   */
  connectionLost(error: Error | undefined): void {
    this.#telemetry?.closed();
    this.#end(error ?? this.#lostError);
  }

  // ---- Sending -------------------------------------------------------------------------------

  /** Why a new request cannot be made now, or `undefined`. */
  #refusal(what = "Cannot submit request", early = false): ConnectionClosedError | undefined {
    if (
      (this.#state === "open" || this.#state === "connecting") &&
      (this.#sent === "requests" || (early && this.#erqDue))
    ) {
      // The transport's owner may close it under us (a server's closeClients()): it would
      // drop the request unsent, and the call would wait for the end of the connection.
      if (this.#transport?.isClosing() !== true) return undefined;
      return new ConnectionClosedError(`${what}: the transport is closing`);
    }
    let why: string;
    if (this.#state === "finished") why = "the connection is closed";
    else if (this.#received === "eof") why = "the peer sent EOF";
    else if (this.#state !== "open" && this.#state !== "connecting") {
      why = "the connection is closing";
    } else why = "endRequests() was called";
    return new ConnectionClosedError(`${what}: ${why}`);
  }

  async #submitSlow(
    rqType: number,
    flags: number,
    channel: number,
    payload: Uint8Array,
    abort: RequestAbort,
    label: string | undefined,
    settle: Settle,
    decode: ((payload: Uint8Array, flags: number) => unknown) | undefined,
    span: RequestSpan | undefined,
  ): Promise<unknown> {
    let slot = false;
    let admitted = false;
    // Submitted before ERQ: it goes out before it, however long it waits.
    let early = true;
    this.#early++;
    try {
      if (channel !== 0) {
        const extensions = await raceAbort(this.#extensions.decided, abort);
        if (!extensions) {
          // Undecided when the connection ended: that is no misuse.
          const refusal = this.#refusal(
            `Cannot submit request on channel ${channel} (waiting for the peer's answer to the ` +
              "offer of the extensions)",
            true,
          );
          if (refusal) throw refusal;
          const late = this.#extensions.timedOut
            ? ` (no answer to the offer within offerTimeout ${this.#offerTimeout} ms)`
            : "";
          throw new RangeError(
            `Cannot submit request on channel ${channel}: channels other than 0 need the Plexus ` +
              `extensions, which the peer did not accept${late}`,
          );
        }
      }
      if (abort.fired) throw abort.reason;
      if (!this.#requests.tryTake()) {
        await this.#requests.waitForSlot(abort);
        admitted = true;
      }
      slot = true;
      if (abort.fired) throw abort.reason;
      const refusal = this.#refusal(undefined, true);
      if (refusal) throw refusal;
      const response = this.#requests.send(
        rqType,
        flags,
        channel,
        payload,
        true,
        abort,
        label,
        settle,
        decode,
        span,
      );
      slot = false;
      if (admitted) {
        admitted = false;
        this.#requests.admitted();
      }
      early = false;
      this.#earlyDone();
      return await response;
    } catch (error) {
      if (slot) this.#requests.release();
      if (admitted) this.#requests.admitted();
      if (early) this.#earlyDone();
      abort.dispose();
      span?.failed(error);
      throw error;
    }
  }

  /**
   * Hands `maxWriteBuffer` to the transport's cap, the one place a write buffer is bounded: a
   * write past it aborts the transport with a `WriteBufferOverflowError` (close reason
   * `overflow`), which ends this connection. The cap counts the bytes held for writing, the
   * chunk being written included until all of it is, so the default leaves room for one
   * packet in flight besides what waits: the high watermark (we stop adding there, except for
   * the responses of handlers already running and small answers), one more packet, the one in
   * flight and 1 MiB. Either way the transport's own cap stays when it is lower.
   */
  #capWriteBuffer(transport: Transport): void {
    if (!transport.setMaxWriteBuffer || !transport.getMaxWriteBuffer) return;
    const mine = this.#maxWriteBuffer ??
      transport.getWriteBufferLimits().high + 2 * this.#maxPacketSize + WRITE_BUFFER_SLACK;
    transport.setMaxWriteBuffer(Math.min(transport.getMaxWriteBuffer(), mine));
  }

  /** Sends an extension request (no `maxInFlight` slot); its answer only matters to the offer. */
  #sendExtension(op: number, payload: Uint8Array): Promise<PacketResponse> {
    let response: Promise<PacketResponse>;
    try {
      response = this.#requests.send(
        EXTENSION_RQ_TYPE,
        op,
        0,
        payload,
        false,
        undefined,
        undefined,
        RESPONSE,
        undefined,
      ) as Promise<PacketResponse>;
    } catch (error) {
      // Unwritable (a writeEof() under the connection): called from timers and abort
      // listeners, a throw would end the process.
      response = Promise.reject(error);
    }
    response.catch(() => {});
    return response;
  }

  /**
   * Ends our requests: ERQ goes out now, or once connected and the requests submitted before
   * it have gone out (`force`: now, by `close()`, which rejects those).
   */
  #sendErq(force = false): void {
    if (this.#sent === "requests") {
      this.#sent = "erq";
      this.#erqDue = true;
    }
    this.#writeErq(force);
  }

  /** Writes a due ERQ once connected and no early request waits (unless `force`). */
  #writeErq(force: boolean): void {
    if (!this.#erqDue || (this.#early > 0 && !force)) return;
    if (this.#state !== "open" && this.#state !== "closing") return;
    this.#erqDue = false;
    this.#writer.packet(Packet.ERQ);
  }

  /** An early request went out or gave up: the last one lets a due ERQ go. */
  #earlyDone(): void {
    this.#early--;
    this.#writeErq(false);
  }

  // ---- Receiving -----------------------------------------------------------------------------

  /** Calls the `trace` hook; what it throws is logged, never the connection's problem. */
  #emitTrace(direction: "send" | "receive", packet: Packet): void {
    const event: PacketTraceEvent = {
      name: this.name,
      transport: this.#transport!,
      direction,
      packet,
      text: packet.toString(),
    };
    if (packetChannel.hasSubscribers) packetChannel.publish(event);
    if (this.#trace === undefined) return;
    try {
      this.#trace(event);
    } catch (error) {
      console.error(`${this.name}: the trace hook failed:`, error);
    }
  }

  /** Refuses one of the peer's requests (counted) with one of the original's payloads. */
  #refuse(channel: number, tag: number, reason: string): void {
    this.#counters.refused++;
    refuse(this.#writer, channel, tag, reason);
  }

  /** Whether packets are read: not after the peer's EOF, nor once aborting or finished. */
  #mayRead(): boolean {
    return this.#received !== "eof" && (this.#state === "open" || this.#state === "closing");
  }

  /** One packet from the peer, in the reused record (valid during this call). */
  #onPacket(packet: PacketFields): void {
    if (this.#trace !== undefined || packetChannel.hasSubscribers) {
      this.#emitTrace("receive", new Packet(packet));
    }
    if (packet.isRequest && packet.rqType !== 0 && this.#sent === "eof") {
      // No packet may follow our EOF: a request (or a ping) that crossed it gets no answer;
      // the peer fails it when our EOF arrives.
      this.#counters.requestsReceived++;
      return;
    }
    if (
      packet.isRequest &&
      !(Number.isSafeInteger(packet.rqType) && Number.isSafeInteger(packet.flags))
    ) {
      // Legal for a Python peer (its integers are unbounded), but not representable here:
      // refuse just this request; the peer did nothing wrong by its own rules.
      const field = Number.isSafeInteger(packet.rqType) ? "flags" : "rq_type";
      this.#counters.requestsReceived++;
      this.#refuse(packet.channel, packet.tag, `${field} out of range`);
      return;
    }
    if (!packet.isRequest) {
      this.#requests.answer(packet);
    } else if (packet.rqType !== 0) {
      this.#onRequest(packet);
    } else if (isMagic(packet, 0)) {
      this.#onPeerEof();
    } else if (isMagic(packet, 1)) {
      if (this.#received === "requests") this.#received = "erq";
    } else {
      // The original stops reading here; we end the connection with the reason.
      throw new PacketError(
        `Cannot handle packet: request tag ${packet.tag} on channel ${packet.channel} uses the ` +
          "reserved rq_type 0 but is not the EOF or ERQ packet",
      );
    }
  }

  /** A request from the peer: extension, refusal (the original's order of checks), or served. */
  #onRequest(packet: PacketFields): void {
    const { channel, tag } = packet;
    let extension = packet.rqType - 1 === EXTENSION_RQ_TYPE;
    let parent: Context | undefined;
    if (extension && packet.flags === ExtensionOp.traced && this.#extensions.peerTraces) {
      // A request with its trace context (telemetry on both sides): from here on, the request.
      parent = unwrapTraced(packet);
      if (!parent) {
        this.#counters.requestsReceived++;
        this.#refuse(channel, tag, "malformed traced request");
        return;
      }
      extension = false;
    }
    if (extension && this.#extensions.wanted) {
      this.#onExtension(packet);
      return;
    }
    this.#counters.requestsReceived++;
    if (!this.#handlers || extension) this.#refuse(channel, tag, "no request handler");
    else if (this.#received !== "requests" || this.#state !== "open") {
      this.#refuse(channel, tag, "requests no longer allowed");
    } else if (channel !== 0 && !this.#extensions.peerOffered) {
      this.#refuse(channel, tag, "unknown channel %d"); // sic: the original's text
    } else this.#handlers.accept(packet, parent);
  }

  // ---- Extensions ----------------------------------------------------------------------------

  #offerExtensions(): void {
    const answer = this.#sendExtension(ExtensionOp.offer, OFFER);
    this.#offerTimer = setTimeout(() => {
      this.#offerTimer = undefined;
      this.#extensions.timeOut();
    }, this.#offerTimeout);
    answer.then((response) => {
      // With telemetry, `extensions` waits until the peer said whether it takes trace context.
      const asks = this.#telemetry?.propagate === true;
      const on = this.#extensions.accepted(response, asks);
      if (!on || !asks) this.#clearOfferTimer();
      const mayRequest = this.#sent !== "eof" &&
        (this.#state === "open" || this.#state === "closing");
      if (on && mayRequest) this.#keepAlive?.start();
      if (on && asks) {
        if (mayRequest) {
          this.#offerTraceContext();
        } else {
          this.#clearOfferTimer();
          this.#extensions.settle();
        }
      }
    }, () => {
      this.#clearOfferTimer();
      this.#extensions.fail();
    });
  }

  /** Asks the peer whether it takes trace context with our requests (see `telemetry.ts`). */
  #offerTraceContext(): void {
    this.#sendExtension(ExtensionOp.traceContext, new Uint8Array(0)).then((response) => {
      this.#clearOfferTimer();
      if (response.ok) this.#telemetry!.propagating = true;
      this.#extensions.settle();
    }, () => {
      this.#clearOfferTimer();
      this.#extensions.fail();
    });
  }

  #clearOfferTimer(): void {
    if (this.#offerTimer !== undefined) clearTimeout(this.#offerTimer);
    this.#offerTimer = undefined;
  }

  #onExtension(packet: PacketFields): void {
    const { channel, tag } = packet;
    const [ok, reply] = this.#extensions.answer(packet, (channel, tag) => {
      const reason = new DOMException("The peer cancelled the request", "AbortError");
      this.#handlers?.cancel(channel, tag, reason);
    });
    this.#writer.response(tag, ok, 0, channel, toBytes(reply));
    // The peer's keep-alive times its ping: the answer must not wait out our packetGrace.
    if (packet.flags === ExtensionOp.ping) this.#writer.flush();
  }

  // ---- Ending --------------------------------------------------------------------------------

  #onPeerEof(): void {
    this.#received = "eof";
    this.#transport!.pauseReading(); // as the original, read nothing after EOF
    this.#requests.rejectPending("the peer sent EOF before answering");
    this.#requests.rejectWaiting(
      new ConnectionClosedError("Cannot submit request: the peer sent EOF"),
    );
    this.#extensions.fail();
    this.#peerDone.resolve();
    this.close();
  }

  /** End of stream: orderly after the peer's EOF packet or our own, otherwise a loss. */
  #onStreamEnd(): boolean {
    if (this.#received === "eof" || this.#sent === "eof") {
      this.#peerDone.resolve();
      return true;
    }
    this.#abortWith(
      new ConnectionClosedError("Connection lost: the stream ended without an EOF packet"),
    );
    return false;
  }

  async #runClose(): Promise<void> {
    if (this.#state === "open") this.#state = "closing";
    // Keep-alive goes on while our handlers finish (a dead peer is caught then too, not only
    // by closeTimeout); it stops with our EOF, after which no ping may go out.
    this.#requests.rejectWaiting(
      new ConnectionClosedError("Cannot submit request: the connection is closing"),
    );
    const transport = this.#transport;
    if (this.#state === "aborting") {
      // Already failing: the loss's error settles `closed` once the transport is gone.
      await this.closed;
      return;
    }
    if (!transport || this.#state !== "closing") {
      this.#end(undefined);
      await this.closed;
      return;
    }
    const timer = setTimeout(() => {
      // Given up meanwhile (the shutdown signal): its flush of the last words is bounded by
      // this same closeTimeout, counted from close()'s start. A transport whose close has
      // flushed only lingers for the peer's EOF: lingerTimeout bounds that.
      if (this.#state === "aborting") abortIfStillFlushing(transport, this.#lostError);
      else if (!closeFlushed(transport)) {
        this.#abortWith(
          new ConnectionClosedError(
            `Connection closed: close() timed out after ${this.#closeTimeout} ms`,
          ),
        );
      }
    }, this.#closeTimeout);
    try {
      this.#sendErq(true); // the requests still waiting were rejected above
      await this.#handlers?.idle();
      if (this.#state === "closing") {
        this.#writer.packet(Packet.EOF);
        this.#sent = "eof";
        this.#keepAlive?.stop();
        this.#writer.flush();
        // The peer's answers and EOF must be read: reading resumes if the application paused it.
        if (this.#received !== "eof") transport.resumeReading();
        await Promise.race([this.#peerDone.promise, this.closed]);
        if (this.#state === "closing") {
          // Half-close first, so borrowed streams closed with `closeStreams` end in order.
          transport.writeEof();
          transport.close();
        }
      }
      await this.closed;
    } catch {
      // Unwritable (a writeEof() under the connection): no ERQ or EOF packet can go out, but
      // the connection still ends, and `closed` settles.
      if (!transport.isClosing()) transport.close();
      await this.closed;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Settles what waits and aborts the transport; `connectionLost` ends the connection. */
  #abortWith(error: Error | undefined): void {
    if (!this.#beginAbort(error)) return;
    this.#settleAll(error);
    this.#transport!.abort(error);
  }

  /**
   * The owner's drain timeout ran out (the `shutdown` signal): as `#abortWith`, but the
   * peer's requests still being served are answered first (a failure naming `error`; finished
   * responses still held go out as they are), and the transport is closed, flushing those
   * answers, not aborted; after `closeTimeout` (or sooner, by the owner) it is aborted.
   */
  #giveUp(error: Error | undefined): void {
    if (!this.#beginAbort(error)) return;
    try {
      this.#handlers?.answerAll(error ? error.message : "the connection was closed");
      this.#writer.flush(); // held by packetGrace, the answers would be dropped with the rest
    } catch {
      // The transport takes no more writes (a writeEof() under the connection).
    }
    this.#settleAll(error);
    const transport = this.#transport!;
    transport.close(error);
    // The flush of these last words is bounded as close()'s wait is, by closeTimeout, whoever
    // owns the connection (a peer that does not read must not hold it open).
    const timer = setTimeout(() => abortIfStillFlushing(transport, error), this.#closeTimeout);
    void this.#closed.promise.then(() => clearTimeout(timer));
  }

  /**
   * Enters `aborting`, or ends at once when no transport came yet.
   *
   * @returns Whether the transport is to be ended now (not when already ending, or ended).
   */
  #beginAbort(error: Error | undefined): boolean {
    if (this.#state === "finished" || this.#state === "aborting") return false;
    this.#lostError = error;
    this.#keepAlive?.stop();
    if (!this.#transport) {
      this.#end(error);
      return false;
    }
    this.#state = "aborting";
    return true;
  }

  /** The connection is over: settle everything, once. */
  #end(error: Error | undefined): void {
    if (this.#state === "finished") return;
    // Finished first: what a handler's abort listener does in settleAll is refused, not sent
    // into the dead connection and left pending after everything was settled.
    this.#state = "finished";
    this.#settleAll(error);
    this.#writer.close();
    this.#keepAlive?.stop();
    this.#clearOfferTimer();
    this.#extensions.fail();
    this.#peerDone.resolve();
    this.#closed.resolve(error);
  }

  /** Rejects our pending and waiting requests and cancels the peer's running ones. */
  #settleAll(error: Error | undefined): void {
    const why = error ? error.message : "the connection was closed";
    this.#requests.rejectPending(why, error);
    this.#requests.rejectWaiting(
      new ConnectionClosedError(`Cannot submit request: ${why}`, { cause: error }),
    );
    this.#handlers?.end(error ?? new DOMException("The connection was closed", "AbortError"));
  }
}

/** The lifecycle of a {@linkcode PacketConnection} (see the table in its doc). */
type State = "connecting" | "open" | "closing" | "aborting" | "finished";

/** How far one direction's conversation went: requests, then ERQ, then EOF. */
type Stage = "requests" | "erq" | "eof";

/** Whether a packet is exactly the EOF (tag 0) or ERQ (tag 1) packet. */
function isMagic(packet: PacketFields, tag: number): boolean {
  return packet.isRequest && packet.tag === tag && packet.channel === 0 && packet.rqType === 0 &&
    packet.flags === 0 && packet.payload.byteLength === 0;
}

/** Decodes every packet of a connection into one reused record. */
class PacketDecoder implements Decoder<PacketFields> {
  readonly #max: number;
  readonly #fields = new PacketFields();

  constructor(max: number) {
    this.#max = max;
  }

  decode(buffer: ReceiveBuffer): PacketFields | undefined {
    return decodePacketInto(buffer, this.#max, this.#fields) ? this.#fields : undefined;
  }
}

/** Settles as `promise` does, or rejects when `abort` fires first. */
function raceAbort<T>(promise: Promise<T>, abort: RequestAbort): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    abort.onFire(reject);
    promise.then(resolve, reject);
  });
}

function defaultHandlerError(error: unknown, context: PacketRequestContext): void {
  console.error(
    `${context.connection.name}: the request handler failed (channel ${context.channel}, ` +
      `tag ${context.tag}):`,
    error,
  );
}

function limit(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot create packet connection: ${name} must be a positive integer, got ${value}`,
    );
  }
  return value;
}

function duration(name: string, value: number): number {
  return checkDelay(`Cannot create packet connection: ${name}`, value, 0, false);
}
