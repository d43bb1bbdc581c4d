import { checkDelay } from "../transport/_delay.ts";
import { type ByteChannel, isTcpConn } from "../transport/byte_channel.ts";
import { linkCancellation } from "../transport/_cancellation.ts";
import { CallbackError, deliverError, describePeer } from "../transport/callback_error.ts";
import { describeError, TransportError } from "../transport/errors.ts";
import type {
  ExtraInfo,
  ShutdownHook,
  StreamProtocolLike,
  StreamTransportOptions,
  TlsServerOptions,
} from "../transport/mod.ts";
import { checkStreamTransportOptions, StreamTransport } from "../transport/stream_transport.ts";
import { CLOSED_HOOK, OPENING_HOOK } from "../transport/_lifecycle.ts";
import { SOCKET_ADDRESS, type SocketAddressExtra } from "../transport/_linger.ts";
import type { TelemetryMeter } from "../transport/telemetry.ts";
import { ConnectionMetrics, meterOf } from "../transport/_telemetry.ts";
import {
  addCounters,
  type CloseReason,
  type ServerStats,
  type TransportCounters,
  zeroCounters,
} from "../transport/stats.ts";
import { type Deadlines, withServerDeadlines } from "../transport/deadline_clock.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT } from "../transport/tls_options.ts";
import {
  checkTlsServerOptions,
  startTlsServer,
  type TlsUpgrade,
} from "../transport/_tls_upgrade.ts";
import { TlsHandshakeTimeoutError } from "../transport/tls_errors.ts";
import { type Address, formatAddress, parseAddress, type ParsedAddress } from "./address.ts";
import { acceptFailed, type AcceptOptions } from "./accept.ts";
import { listenTargets, openOnOnePort } from "./_listen_targets.ts";
import { asWrapper, type Wrapper, type WrapperChain } from "./wrappers.ts";
import {
  DEFAULT_SERVER_MAX_WRITE_BUFFER,
  ServerWriteBudget,
  withWriteBudget,
} from "./_write_budget.ts";

/** Options of a {@linkcode Server}, for every connection it accepts. */
export interface ServerOptions extends StreamTransportOptions {
  /**
   * Milliseconds `run()` (and `await using`) gives live connections to close gracefully
   * before aborting them (`Infinity`: no limit).
   *
   * @default {30000}
   */
  timeout?: number;
  /**
   * The most live connections. Connections beyond it are closed as soon as they are
   * accepted, and counted in {@linkcode Server.rejectedConnections}.
   *
   * @default {no limit}
   */
  maxConnections?: number;
  /**
   * Written to a connection refused because `maxConnections` was reached, before it is closed,
   * so the peer learns why (Redis's `-ERR max number of clients reached`, tinyproto's `fe`); a
   * string is sent as UTF-8. At most 4096 bytes: it must fit a new socket's send buffer. Plain listeners only: a TLS listener's or a wrapper's refused
   * connections are closed silently (the message would need a handshake first). Best effort,
   * never waited for by the accept loop: a peer that already sent data may get a reset instead.
   *
   * @default {none: refused connections are closed silently}
   */
  refusalMessage?: Uint8Array | string;
  /**
   * The most bytes the write buffers of all live connections may hold together past their
   * high watermarks. Past it, of the connections past their watermarks, those with the
   * largest buffers are aborted first, with a {@linkcode WriteBufferOverflowError} naming the
   * budget, until the total is back within it (a connection within its watermark is never
   * cut): peers that send without reading what we answer cannot exhaust the machine together,
   * each staying under its own `maxWriteBuffer` (32 MiB by default on a server). 100 such
   * peers stay under 512 MiB of RSS in all with the defaults (`bench/soak/flood.ts`).
   *
   * @default {67108864}
   */
  maxTotalWriteBuffer?: number;
  /**
   * Disables Nagle's algorithm on accepted TCP connections, TLS ones included (the handshake
   * runs over the accepted TCP connection).
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * Called with every error the server survives: one that ends an incoming connection before
   * its protocol exists (a failed TLS handshake or wrapper, a throwing protocol factory or
   * `handleConnection`); a failed `accept()` (an {@linkcode AcceptError}: a connection reset
   * before it was accepted is skipped at once, running out of file descriptors pauses that
   * listener for a second); an error a connection's `connectionLost()`, a server hook
   * (`connectionMade`/`connectionLost`) or a protocol's `shutdown()` threw (a
   * {@linkcode CallbackError} naming the connection). None of them ends the server or the
   * process.
   *
   * @default {log them with console.error, as asyncio's default exception handler does}
   */
  onError?: (error: Error) => void;
  /**
   * Applied to every accepted connection (after the TLS handshake, if any) before its
   * protocol is made: socket options, TLS, ... (see {@linkcode Wrapper}).
   */
  wrapper?: Wrapper | WrapperChain;
  /**
   * OpenTelemetry metrics of the server's connections, through `npm:@opentelemetry/api`
   * (`true`: the global meter): `plexus.server.connection.active` (UpDownCounter) and
   * `plexus.server.connection.io` (ObservableCounter of bytes, `network.io.direction`
   * `receive` / `transmit`), read from the transports' counters only when collected. Spans
   * are the protocols' (a `PacketConnection`'s `telemetry` option).
   *
   * @default {false}
   */
  telemetry?: boolean | ServerTelemetryOptions;
}

/**
 * Where a {@linkcode Server}'s OpenTelemetry metrics go (its `telemetry` option).
 *
 * @example Metrics to a meter of one's own
 * ```ts
 * import { Server, type ServerTelemetryOptions } from "@plexus/net/endpoints";
 * import { metrics } from "@opentelemetry/api";
 *
 * const telemetry: ServerTelemetryOptions = { meter: metrics.getMeter("my-service") };
 * await using server = new Server(() => ({ dataReceived() {} }), { telemetry });
 * ```
 */
export interface ServerTelemetryOptions {
  /**
   * The meter the metrics are recorded with.
   *
   * @default {the global meter provider's when the server is made, scope `@plexus/net`}
   */
  meter?: TelemetryMeter;
}

/** Options of {@linkcode Server.listen}, for one or more listening sockets. */
export interface ListenOptions {
  /**
   * Serve TLS with this certificate and key (and one per server name with `tls.sni`). The
   * listener accepts plain TCP or Unix connections and runs each handshake through `node:tls`,
   * bounded by `tls.handshakeTimeout`: a client that stays silent has its socket closed and
   * released when the timeout passes, and `onError` gets a {@linkcode TlsHandshakeTimeoutError}
   * naming it. (`Deno.listenTls` cannot do that: closing a `TlsConn` in its handshake keeps
   * the socket open.) Connections report `serverName` (SNI), `tlsVersion` and `alpnProtocol`
   * through `getExtraInfo()`, and `close()` ends them with a TLS `close_notify`.
   */
  tls?: TlsServerOptions;
  /** The listen queue length (`tcpBacklog`). */
  backlog?: number;
  /** Sets `SO_REUSEPORT`, so several processes or workers can share the port (Linux). */
  reusePort?: boolean;
}

/** Options of {@linkcode createServer}: the server's and the listeners' options. */
export interface CreateServerOptions extends ServerOptions, ListenOptions {}

/** Options of {@linkcode Server.run}. */
export interface RunOptions {
  /** Stops serving when aborted, as SIGINT and SIGTERM do. */
  signal?: AbortSignal;
}

/** Options of {@linkcode Server.shutdown}. */
export interface ShutdownOptions {
  /**
   * Milliseconds the protocols get to finish what they accepted before the connections left
   * are aborted (`Infinity`: no limit); a protocol that then closes its connection with its
   * last words gets {@linkcode SHUTDOWN_CLOSE_GRACE} more to flush them.
   *
   * @default {the server's `timeout` option (30000)}
   */
  timeout?: number;
}

/** How long a graceful shutdown gives the connections by default (the `timeout` option's). */
export const DEFAULT_SHUTDOWN_TIMEOUT = 30_000;

/**
 * How long, after a graceful shutdown's `timeout`, a connection whose protocol closed it with
 * its last words (answers naming the timeout, see `ShutdownHook`) gets to flush them before it
 * is aborted: 1 s. A peer that does not read holds the shutdown no longer than that.
 */
export const SHUTDOWN_CLOSE_GRACE = 1000;

/**
 * The `lingerTimeout` of a `Server`'s connections unless given: a graceful close waits up to
 * 2 s for the peer's EOF, reading and dropping what it still sends, so that its last answers
 * are not lost to a reset (see `StreamTransportOptions.lingerTimeout`).
 */
const SERVER_LINGER_TIMEOUT = 2000;

/**
 * A `Server` method that counts an accepted connection as refused by its protocol (a tinyproto
 * connection limit, a Tendril acceptor's `RejectConnection`): rejected, not accepted, and
 * neither active while its close runs (it may linger) nor closed once it ends. Internal: the
 * tinyproto server and the TCP Tendril manager call it.
 */
export const REFUSED_BY_PROTOCOL: unique symbol = Symbol("plexus.refusedByProtocol");

/** The largest `refusalMessage`: small enough for any new socket's send buffer. */
const MAX_REFUSAL = 4096;

interface Listening {
  listener: Deno.Listener;
  /** Every TLS handshake runs through node:tls over the accepted plain connection. */
  tls: TlsServerOptions | undefined;
  loop: Promise<void>;
}

/**
 * A stream server (gruvi's `Server`, asyncio's `Server`): it listens on one or more
 * addresses and connects a new protocol to every accepted connection.
 *
 * - `listen()` may be called several times (TCP, Unix, TLS); `addresses` lists them all.
 * - `connections` maps each live transport to its protocol. Subclasses may override
 *   {@linkcode Server.connectionMade} and {@linkcode Server.connectionLost} (each called
 *   exactly once per connection) and {@linkcode Server.handleConnection}.
 * - `close()` stops listening and leaves live connections alone (asyncio's meaning);
 *   `closeClients()` closes them gracefully, `abortClients()` at once; `waitClosed()` resolves
 *   once the listeners and all connections are gone.
 * - `shutdown({ timeout })` drains gracefully: stop accepting, let every protocol finish what
 *   it accepted (its `shutdown()` hook), close, then abort what is left after `timeout`
 *   (a protocol's last words, answers naming the timeout, are flushed first, within
 *   {@linkcode SHUTDOWN_CLOSE_GRACE}).
 *   `run()` serves until SIGINT or SIGTERM and then shuts down; so does `await using`.
 * - The accept loop skips a client that reset before it was accepted at once, and pauses
 *   only when out of file descriptors (or on an error it does not know); errors the server
 *   survives go to `onError`.
 * - Past `maxConnections`, new connections are closed at once (after `refusalMessage`, if
 *   set) and counted.
 * - `idleTimeout` (a transport option) closes peers that stall. `deadlines` (a transport
 *   option too) bound a frame's and a request's total time under framed protocols, so a peer
 *   that trickles bytes (slowloris) is cut as well; Server connections get 30 s for the first
 *   frame, 30 s per frame and 300 s per request unless told otherwise (`Infinity`: none).
 *
 * Any accepted connection can later be upgraded with
 * `transport.startTls({ serverSide: true, cert, key })` (STARTTLS).
 *
 * @typeParam P The protocol type.
 *
 * @example A server with hooks and a connection limit
 * ```ts
 * import { createConnection, Server } from "@plexus/net/endpoints";
 * import { ProtocolAdapter } from "@plexus/net/protocol";
 * import type { StreamTransport } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * class Echo extends ProtocolAdapter {
 *   override dataReceived(data: Uint8Array): void {
 *     this.transport!.write(data);
 *   }
 * }
 * class EchoServer extends Server<Echo> {
 *   served = 0;
 *   override connectionMade(_transport: StreamTransport, _protocol: Echo): void {
 *     this.served++;
 *   }
 * }
 * await using server = new EchoServer(() => new Echo(), { maxConnections: 100 });
 * const [address] = await server.listen("127.0.0.1:0");
 * const { transport } = await createConnection(() => new ProtocolAdapter(), address);
 * transport.close();
 * await transport.closed;
 * assertEquals(server.served, 1);
 * ```
 */
export class Server<P extends StreamProtocolLike = StreamProtocolLike> implements AsyncDisposable {
  readonly #factory: () => P;
  readonly #options: ServerOptions;
  /** `options.deadlines` with the server defaults (30 s, 30 s, 300 s) where left out. */
  readonly #deadlines: Readonly<Required<Deadlines>>;
  readonly #listening: Listening[] = [];
  readonly #addresses: Deno.Addr[] = [];
  readonly #connections = new Map<StreamTransport, P>();
  /** The protocol whose transport is being made, for `#connectionOpening`. */
  #opening: P | undefined;
  /** Connections accepted but not yet handed to a protocol (TLS handshake, wrapper). */
  readonly #preparing = new Set<AbortController>();
  readonly #wrapper: Wrapper | undefined;
  readonly #writeBudget: ServerWriteBudget;
  /**
   * The transport options every connection shares, made once: each connection's options
   * object only adds its `extra` on top (with this as its prototype), rather than copying
   * all of the server's options per connection.
   */
  readonly #transportOptions: StreamTransportOptions;
  /** Aborted by `close()`: stops the accept loops (and their back-off). */
  readonly #stopAccepting = new AbortController();
  /** Aborted when a graceful shutdown begins. */
  readonly #shuttingDown = new AbortController();
  #shutdown: Promise<void> | undefined;
  #rejected = 0;
  /** `options.refusalMessage` as bytes. */
  readonly #refusal: Uint8Array | undefined;
  /** Refusal messages being written; `close()` waits for them. */
  readonly #refusing = new Set<Promise<void>>();
  /** Connection metrics (the `telemetry` option). */
  readonly #metrics: ConnectionMetrics | undefined;
  #accepted = 0;
  #closedCount = 0;
  /** Live connections their protocol refused ({@linkcode REFUSED_BY_PROTOCOL}). */
  readonly #refusedLive = new Set<StreamTransport>();
  #closedByIdle = 0;
  #closedByDeadline = 0;
  /** The counters of the connections that ended, summed. */
  readonly #ended: TransportCounters = zeroCounters();
  #allGone: PromiseWithResolvers<void> | undefined;

  /** Whether `close()` was called: no more accepting. */
  get #stopped(): boolean {
    return this.#stopAccepting.signal.aborted;
  }

  /**
   * Creates a server that is not listening yet.
   *
   * @param protocolFactory Makes one protocol per connection.
   * @param options Limits, timeouts, socket and transport options for every connection.
   * @throws {RangeError} When a deadline, `timeout`, `idleTimeout`, `maxConnections`,
   * `refusalMessage`, `maxTotalWriteBuffer` or a transport option (`writeBufferLimits`,
   * `maxWriteBuffer`, `readSize`, `lingerTimeout`) is out of range.
   */
  constructor(protocolFactory: () => P, options?: ServerOptions) {
    options ??= {};
    this.#factory = protocolFactory;
    this.#options = options;
    this.#deadlines = withServerDeadlines(options.deadlines);
    this.#wrapper = asWrapper(options.wrapper);
    const refusal = options.refusalMessage;
    this.#refusal = typeof refusal === "string" ? new TextEncoder().encode(refusal) : refusal;
    if (this.#refusal !== undefined && this.#refusal.byteLength > MAX_REFUSAL) {
      // It must fit a new socket's empty send buffer, so that writing it never waits on a peer.
      throw new RangeError(
        `Cannot create server: refusalMessage must be at most ${MAX_REFUSAL} bytes, got ${this.#refusal.byteLength}`,
      );
    }
    // Checked now: a bad budget must fail here, not drop every connection it would serve.
    this.#writeBudget = new ServerWriteBudget(options.maxTotalWriteBuffer);
    if (options.timeout !== undefined) {
      checkDelay("Cannot create server: timeout", options.timeout, 0, true);
    }
    if (options.idleTimeout !== undefined) {
      checkDelay("Cannot create server: idleTimeout", options.idleTimeout, 1, false);
    }
    const max = options.maxConnections;
    if (max !== undefined && max !== Infinity && !(Number.isSafeInteger(max) && max >= 1)) {
      // 0 meaning "no limit" elsewhere would refuse every connection here, without a word.
      throw new RangeError(
        `Cannot create server: maxConnections must be an integer >= 1 (or Infinity: no limit), got ${max}`,
      );
    }
    this.#transportOptions = withWriteBudget({
      ...options,
      maxWriteBuffer: options.maxWriteBuffer ?? DEFAULT_SERVER_MAX_WRITE_BUFFER,
      lingerTimeout: options.lingerTimeout ?? SERVER_LINGER_TIMEOUT,
      deadlines: this.#deadlines,
      onError: (error: Error) => this.#report(error),
      [CLOSED_HOOK]: this.#connectionClosed,
      [OPENING_HOOK]: this.#connectionOpening,
    }, this.#writeBudget);
    checkStreamTransportOptions(this.#transportOptions);
    const telemetry = options.telemetry;
    if (telemetry) {
      const meter = meterOf(telemetry === true ? undefined : telemetry.meter);
      this.#metrics = ConnectionMetrics.of(meter, "plexus.server");
    }
  }

  /** The addresses listened on, with the ports the OS chose. */
  get addresses(): Deno.Addr[] {
    return [...this.#addresses];
  }

  /** The live connections: each transport and its protocol. */
  get connections(): ReadonlyMap<StreamTransport, P> {
    return this.#connections;
  }

  /**
   * How many connections were refused: closed at once because `maxConnections` was reached,
   * or refused by their protocol (see `stats().rejected`).
   */
  get rejectedConnections(): number {
    return this.#rejected;
  }

  /**
   * The server's statistics: connections accepted, active, rejected, closed (by idle timeout,
   * by a deadline), and the counters of its connections summed — the live ones, and all of
   * them ever. It walks the live connections: call it to sample, not per packet.
   *
   * @example Sample a server's traffic
   * ```ts
   * import { Server } from "@plexus/net/endpoints";
   *
   * await using server = new Server(() => ({ dataReceived() {} }));
   * await server.listen("127.0.0.1:0");
   * const stats = server.stats();
   * console.assert(stats.active === 0 && stats.total.bytesReceived === 0);
   * ```
   */
  stats(): ServerStats {
    const live = zeroCounters();
    for (const transport of this.#connections.keys()) addCounters(live, transport.stats());
    return {
      accepted: this.#accepted,
      active: this.#connections.size - this.#refusedLive.size,
      rejected: this.#rejected,
      closed: this.#closedCount,
      closedByIdleTimeout: this.#closedByIdle,
      closedByDeadline: this.#closedByDeadline,
      live,
      total: addCounters({ ...this.#ended }, live),
    };
  }

  /**
   * Aborts when a graceful shutdown begins ({@linkcode Server.shutdown}, `run()` on a signal,
   * `await using`): for protocols and handlers that would rather watch a signal than implement
   * the `shutdown()` hook.
   */
  get shutdownSignal(): AbortSignal {
    return this.#shuttingDown.signal;
  }

  /** Whether the server is accepting connections. */
  isServing(): boolean {
    return !this.#stopped && this.#listening.length > 0;
  }

  /**
   * Starts listening on one or more addresses: `"host:port"`, `"[::1]:port"`,
   * `{ hostname, port }` or a Unix socket `{ path }` (port 0 picks a free port). A host name
   * listens on every address it resolves to, all on one port, as asyncio and gruvi do
   * (`"localhost:0"`: 127.0.0.1 and ::1 where both are localhost).
   *
   * @param address One address or several.
   * @param options TLS, backlog and `reusePort` for these listeners.
   * @returns The addresses now listened on, with the ports the OS chose.
   * @throws {TypeError} For a malformed address, or an empty list.
   * @throws {TransportError} When an address cannot be listened on (the message names it);
   * the listeners this call opened are closed again.
   */
  async listen(
    address: Address | Deno.Addr | (Address | Deno.Addr)[],
    options?: ListenOptions,
  ): Promise<Deno.Addr[]> {
    const listenOptions = options ?? {};
    const closed = (): TransportError => new TransportError("Cannot listen: the server is closed");
    if (this.#stopped) throw closed();
    // Checked now: a bad one would fail every connection's handshake instead.
    const handshakeTimeout = listenOptions.tls?.handshakeTimeout;
    if (handshakeTimeout !== undefined) {
      checkDelay("Cannot listen: tls.handshakeTimeout", handshakeTimeout, 0, true);
    }
    const addresses = Array.isArray(address) ? address : [address];
    if (addresses.length === 0) throw new TypeError("Cannot listen: no address given");
    const parsed = addresses.map((a) => parseAddress(a as Address));
    const groups = await Promise.all(parsed.map((target) => listenTargets(target)));
    if (this.#stopped) throw closed();
    const opened: Deno.Listener[] = [];
    try {
      for (const group of groups) {
        opened.push(...openOnOnePort(group, (target) => openListener(target, listenOptions)));
      }
    } catch (error) {
      for (const listener of opened) listener.close();
      throw error;
    }
    for (const listener of opened) {
      const entry: Listening = {
        listener,
        tls: listenOptions.tls,
        loop: Promise.resolve(),
      };
      entry.loop = this.#acceptLoop(entry);
      this.#listening.push(entry);
      this.#addresses.push(listener.addr);
    }
    return opened.map((l) => l.addr);
  }

  /**
   * Called after each new connection's protocol got `connectionMade()`. Does nothing; override
   * it to track or configure connections.
   */
  connectionMade(_transport: StreamTransport, _protocol: P): void {}

  /** Called once per connection after its protocol got `connectionLost()`. Does nothing. */
  connectionLost(_transport: StreamTransport, _protocol: P, _error: Error | undefined): void {}

  /**
   * Makes the transport and protocol for an accepted (and, with TLS, handshaken) connection,
   * and tracks them. Override to wrap the channel or pick a protocol per connection; call
   * `super.handleConnection()` to keep the tracking and hooks. An override may be async: what
   * it throws or rejects with closes the channel and goes to `onError` (as do the throws and
   * rejections of `connectionMade` and `connectionLost` overrides).
   *
   * @param channel The accepted connection.
   * @param extra Facts for `getExtraInfo()` (TLS, ALPN).
   */
  handleConnection(channel: ByteChannel, extra: ExtraInfo): void {
    // An async override may hand a connection over after shutdown(): it is not served.
    if (this.#shuttingDown.signal.aborted) {
      closeQuietly(channel);
      return;
    }
    let protocol: P;
    try {
      protocol = this.#factory();
    } catch (error) {
      channel.close();
      this.#report(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    const options: StreamTransportOptions = Object.create(this.#transportOptions);
    options.extra = extra;
    // The transport calls the protocol's connectionMade from its constructor: it is tracked
    // just before (#connectionOpening), so a closeClients() from there includes it.
    this.#opening = protocol;
    let transport: StreamTransport;
    try {
      transport = new StreamTransport(channel, protocol, options);
    } finally {
      this.#opening = undefined;
    }
    this.#callHook(
      "Server.connectionMade",
      transport,
      () => this.connectionMade(transport, protocol),
    );
  }

  /** A connection's protocol is about to hear `connectionMade()` (its transport's `OPENING_HOOK`). */
  readonly #connectionOpening = (transport: StreamTransport): void => {
    this.#connections.set(transport, this.#opening!);
    this.#metrics?.opened(transport);
    this.#accepted++;
  };

  /** A connection's `connectionLost()` has returned (its transport's `CLOSED_HOOK`). */
  readonly #connectionClosed = (transport: StreamTransport, error: Error | undefined): void => {
    const protocol = this.#connections.get(transport);
    if (protocol === undefined) return; // handed to StreamTransport, but not tracked
    this.#connections.delete(transport);
    this.#metrics?.closed(transport);
    this.#countEnded(transport);
    this.#callHook(
      "Server.connectionLost",
      transport,
      () => this.connectionLost(transport, protocol, error),
    );
    this.#checkAllGone();
  };

  /**
   * Stops listening (Deno removes the Unix socket files). Live connections go on. Resolves once
   * every accept loop has stopped; pending TLS handshakes are abandoned.
   */
  async close(): Promise<void> {
    if (!this.#stopped) {
      this.#stopAccepting.abort(new TransportError("The server is closed"));
      for (const { listener } of this.#listening) {
        try {
          listener.close();
        } catch {
          // Already closed.
        }
      }
      for (const handshake of this.#preparing) handshake.abort();
    }
    await Promise.all([...this.#listening.map((l) => l.loop), ...this.#refusing]);
    // Deno unlinks a Unix listener's socket file itself once the listener is gone; looking at
    // the path again here could delete the file of a server that has bound it since.
    this.#listening.length = 0;
  }

  /** Closes every live connection gracefully (each flushes its write buffer first). */
  closeClients(): void {
    for (const transport of this.#connections.keys()) transport.close();
  }

  /** Aborts every live connection, dropping buffered writes. */
  abortClients(): void {
    for (const transport of this.#connections.keys()) transport.abort();
  }

  /** Resolves once the server is closed and every connection has called `connectionLost()`. */
  async waitClosed(): Promise<void> {
    await Promise.all(this.#listening.map((l) => l.loop));
    while (this.#connections.size > 0 || this.#preparing.size > 0) {
      this.#allGone ??= Promise.withResolvers<void>();
      await this.#allGone.promise;
    }
  }

  /**
   * Serves until SIGINT or SIGTERM (or `signal`, or a `shutdown()` called elsewhere), then shuts
   * down gracefully as {@linkcode Server.shutdown} does, within the server's `timeout`, and
   * resolves once it is done. The signal handlers are
   * installed before `run()` returns its promise.
   *
   * @param options A signal that stops serving too.
   */
  async run(options?: RunOptions): Promise<void> {
    options ??= {};
    const stop = Promise.withResolvers<void>();
    const onSignal = (): void => stop.resolve();
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    for (const name of signals) Deno.addSignalListener(name, onSignal);
    options.signal?.addEventListener("abort", onSignal, { once: true });
    // A shutdown() called elsewhere (an admin command, await using) ends run() too.
    const shuttingDown = this.#shuttingDown.signal;
    shuttingDown.addEventListener("abort", onSignal, { once: true });
    if (options.signal?.aborted || shuttingDown.aborted) stop.resolve();
    try {
      await stop.promise;
    } finally {
      for (const name of signals) Deno.removeSignalListener(name, onSignal);
      options.signal?.removeEventListener("abort", onSignal);
      shuttingDown.removeEventListener("abort", onSignal);
    }
    await this.shutdown();
  }

  /**
   * Shuts down gracefully (nginx's SIGQUIT, Netty's `shutdownGracefully`), in four steps:
   *
   * 1. Stops accepting: the listeners close, connections still in their TLS handshake or
   *    wrapper are dropped, and {@linkcode Server.shutdownSignal} aborts.
   * 2. Tells every live connection's protocol: a protocol with a `shutdown(signal)` hook
   *    (see {@linkcode ShutdownHook}) finishes what it accepted while its connection stays
   *    open — `PacketConnection` sends ERQ, refuses new requests with "requests no longer
   *    allowed", answers the ones it is serving and ends with EOF; a `FramedProtocol`'s
   *    handler may keep replying until its own `shutdown` settles. A protocol without the
   *    hook is closed at once (reading stops, buffered writes are flushed).
   * 3. Closes each connection (flush, then close) as soon as its hook settles.
   * 4. After `timeout` ms, the hooks' signal aborts with a `TransportError` ("The server's
   *    shutdown timed out after N ms"). A protocol may answer what it still owes from its abort
   *    listener and close its transport there (`PacketConnection` fails each request it is
   *    serving with that reason): that close flushes its last words, for at most
   *    {@linkcode SHUTDOWN_CLOSE_GRACE} ms. Every other connection left is aborted at once.
   *    Resolves once every connection has called `connectionLost()`.
   *
   * Calling it again returns the same promise; `run()` and `await using` call it.
   *
   * @param options How long the protocols get (default: the server's `timeout`).
   * @returns Resolves once the server is closed and every connection is gone.
   * @throws {RangeError} For a bad `timeout`, before anything changes: a shutdown already
   * running goes on as it began.
   *
   * @example Answer the request in progress, then stop
   * ```ts
   * import { createConnection, Server } from "@plexus/net/endpoints";
   * import { FramedProtocol, LineFramer } from "@plexus/net/framing";
   * import { assertEquals } from "@std/assert";
   *
   * const received = Promise.withResolvers<void>();
   * const server = new Server(() => {
   *   const pending = new Set<Promise<void>>();
   *   return new FramedProtocol(new LineFramer(), {
   *     frameReceived(line, framed) {
   *       received.resolve();
   *       const reply = new Promise((r) => setTimeout(r, 20)).then(() => framed.sendFrame(line));
   *       pending.add(reply);
   *       reply.finally(() => pending.delete(reply));
   *     },
   *     shutdown: () => Promise.all(pending).then(() => {}),
   *   });
   * });
   * const [address] = await server.listen("127.0.0.1:0");
   * const replies: string[] = [];
   * const { protocol } = await createConnection(
   *   () => new FramedProtocol(new LineFramer(), {
   *     frameReceived: (line) => void replies.push(new TextDecoder().decode(line)),
   *   }),
   *   address,
   * );
   * protocol.sendFrame(new TextEncoder().encode("ping"));
   * await received.promise; // the request is being served when the shutdown begins
   * await server.shutdown({ timeout: 1000 });
   * await protocol.closed;
   * assertEquals(replies, ["ping"]);
   * ```
   */
  shutdown(options?: ShutdownOptions): Promise<void> {
    options ??= {};
    if (options.timeout !== undefined) {
      checkDelay("Cannot shut down: timeout", options.timeout, 0, true);
    }
    if (this.#shutdown === undefined) {
      // Stored before the run starts: it aborts shutdownSignal at once, and a listener that
      // calls shutdown() again must get this promise, not start a second shutdown.
      const done = Promise.withResolvers<void>();
      this.#shutdown = done.promise;
      this.#runShutdown(options.timeout ?? this.#options.timeout ?? DEFAULT_SHUTDOWN_TIMEOUT).then(
        done.resolve,
        done.reject,
      );
    }
    return this.#shutdown;
  }

  /** Shuts down gracefully ({@linkcode Server.shutdown}) within `timeout`, and waits. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  async #runShutdown(timeout: number): Promise<void> {
    const late = new AbortController();
    let grace: ReturnType<typeof setTimeout> | undefined;
    // Infinity: no timer (setTimeout would run it after 1 ms, aborting every connection).
    const timer = timeout !== Infinity
      ? setTimeout(() => {
        const reason = new TransportError(`The server's shutdown timed out after ${timeout} ms`);
        if (this.#endLate(late, reason)) {
          grace = setTimeout(() => this.abortClients(), SHUTDOWN_CLOSE_GRACE);
        }
      }, timeout)
      : undefined;
    try {
      this.#shuttingDown.abort(new TransportError("The server is shutting down"));
      await this.close();
      for (const [transport, protocol] of this.#connections) {
        this.#drainConnection(transport, protocol, late.signal);
      }
      await this.waitClosed();
    } finally {
      clearTimeout(timer);
      clearTimeout(grace);
    }
  }

  /**
   * The drain timeout ran out: the hooks' signal aborts with `reason`, and every connection
   * still open or closing is aborted, except those whose protocol closed the transport from
   * its abort listener (after its last words: the answers it owed, naming the reason). Their
   * close goes on, flushing those words, until the caller's {@linkcode SHUTDOWN_CLOSE_GRACE}
   * runs out.
   *
   * @returns Whether any such close goes on.
   */
  #endLate(late: AbortController, reason: Error): boolean {
    // A close under way already (its hook settled, a peer that does not read) had its time.
    const open = new Set<StreamTransport>();
    for (const transport of this.#connections.keys()) {
      if (!transport.isClosing()) open.add(transport);
    }
    late.abort(reason); // the protocols' abort listeners run now
    let closing = false;
    for (const transport of this.#connections.keys()) {
      if (open.has(transport) && transport.isClosing()) closing = true;
      else transport.abort();
    }
    return closing;
  }

  /** Lets one connection's protocol finish (its `shutdown` hook), then closes it. */
  async #drainConnection(
    transport: StreamTransport,
    protocol: P,
    late: AbortSignal,
  ): Promise<void> {
    const hook = (protocol as Partial<ShutdownHook>).shutdown;
    if (typeof hook === "function") {
      try {
        await hook.call(protocol, late);
      } catch (error) {
        const peer = describePeer(transport.getExtraInfo("peername"));
        this.#report(new CallbackError("shutdown", peer, error));
      }
    }
    transport.close();
  }

  async #acceptLoop(entry: Listening): Promise<void> {
    const options: AcceptOptions = {
      signal: this.#stopAccepting.signal,
      onError: (error) => this.#report(error),
    };
    // listener.accept() awaited here, not through acceptConnections(): one async step less per
    // connection. close() aborts the signal and closes the listener, which ends a pending
    // accept() with BadResource.
    while (!this.#stopped) {
      let conn: Deno.Conn;
      try {
        conn = await entry.listener.accept();
      } catch (error) {
        const goOn = acceptFailed(error, options);
        if (goOn === true || (goOn !== false && await goOn)) continue;
        return;
      }
      // close() may have run while accept() was pending: past it, a connection would start a
      // handshake close() can no longer abandon.
      if (this.#stopped) {
        closeQuietly(conn);
        return;
      }
      const max = this.#options.maxConnections;
      if (max !== undefined && this.#connections.size + this.#preparing.size >= max) {
        this.#rejected++;
        this.#refuse(conn, entry);
        continue;
      }
      if (isTcpConn(conn)) {
        try {
          conn.setNoDelay(this.#options.noDelay ?? true);
        } catch {
          // The peer reset it already (macOS says EINVAL): its first read will tell. Thrown
          // here, it would end this accept loop with an unhandled rejection.
        }
      }
      if (entry.tls || this.#wrapper) this.#prepare(conn, entry);
      else {
        const extra: ExtraInfo & SocketAddressExtra = {
          [SOCKET_ADDRESS]: conn.localAddr,
          ...this.#options.extra,
        };
        this.#hand(conn, extra);
      }
    }
  }

  /**
   * Closes a connection refused for `maxConnections`, after the refusal message (plain
   * listeners only). A message that small fits the new socket's empty send buffer, so the
   * write does not wait on the peer.
   */
  #refuse(conn: Deno.Conn, entry: Listening): void {
    const message = this.#refusal;
    if (message === undefined || entry.tls || this.#wrapper) {
      closeQuietly(conn);
      return;
    }
    const refusing: Promise<void> = conn.write(message)
      .then(() => conn.closeWrite())
      .catch(() => {}) // the peer is gone already: nothing to tell
      .finally(() => {
        closeQuietly(conn);
        this.#refusing.delete(refusing);
      });
    this.#refusing.add(refusing);
  }

  /**
   * Calls handleConnection(); an override that throws (or an async one that rejects) loses its
   * connection, not the server.
   */
  #hand(channel: ByteChannel, extra: ExtraInfo): void {
    const failed = (error: unknown): void => {
      closeQuietly(channel);
      this.#report(error instanceof Error ? error : new Error(String(error)));
    };
    try {
      catchAsync(this.handleConnection(channel, extra), failed);
    } catch (error) {
      failed(error);
    }
  }

  /** Runs the TLS handshake and the wrapper, then hands the connection to a protocol. */
  async #prepare(conn: Deno.Conn, entry: Listening): Promise<void> {
    const controller = new AbortController();
    this.#preparing.add(controller);
    // The handshake and the wrapper share one deadline; on close or timeout the connection
    // is closed, whatever the wrapper does with its signal.
    const timeout = entry.tls?.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    const cancel = linkCancellation(
      controller.signal,
      timeout,
      `Preparing the connection timed out after ${timeout} ms`,
    );
    cancel.signal.addEventListener("abort", () => closeQuietly(conn), { once: true });
    // The socket's addresses, kept when TLS or a wrapper puts another channel over it.
    const extra: ExtraInfo & SocketAddressExtra = {
      [SOCKET_ADDRESS]: conn.localAddr,
      sockname: conn.localAddr,
      peername: conn.remoteAddr,
      ...this.#options.extra,
    };
    let channel: ByteChannel = conn;
    let step = "TLS handshake";
    try {
      if (entry.tls) {
        let secured: TlsUpgrade;
        try {
          secured = await startTlsServer(conn, { ...entry.tls, signal: cancel.signal });
        } catch (error) {
          // The deadline (shared with the wrapper) ran out during the handshake: that is the
          // handshake timeout, whichever timer fired first; the socket is closed already.
          const timedOut = error instanceof TlsHandshakeTimeoutError ||
            (cancel.signal.aborted && !controller.signal.aborted);
          if (!timedOut) throw error;
          throw new TlsHandshakeTimeoutError(timeout, { peer: formatAddress(conn.remoteAddr) });
        }
        channel = secured.channel;
        const { alpnProtocol, serverName, tlsVersion } = secured;
        Object.assign(extra, { tls: true, alpnProtocol, serverName, tlsVersion });
      }
      if (this.#wrapper) {
        step = "Wrapper";
        const wrapped: ByteChannel | undefined = await cancel.race(
          Promise.resolve(this.#wrapper(channel, { side: "server", signal: cancel.signal, extra })),
        );
        if (typeof wrapped?.read !== "function") {
          throw new TypeError(`the wrapper returned ${String(wrapped)}, not a channel`);
        }
        channel = wrapped;
      }
    } catch (error) {
      closeQuietly(channel);
      if (!this.#stopped) {
        const peer = formatAddress(conn.remoteAddr);
        // The handshake's own error says "TLS handshake failed: ..." already: its cause is
        // the detail. A timeout (the listener's, or a tls() wrapper's) names the peer too.
        const detail = step === "TLS handshake" && error instanceof TransportError &&
            error.cause !== undefined
          ? error.cause
          : error;
        this.#report(
          error instanceof TlsHandshakeTimeoutError
            ? error.peer === undefined
              ? new TlsHandshakeTimeoutError(error.timeout, { peer, cause: error.cause })
              : error
            : new TransportError(`${step} with ${peer} failed: ${describeError(detail)}`, {
              cause: error,
            }),
        );
      }
      return;
    } finally {
      cancel.dispose();
      this.#preparing.delete(controller);
      this.#checkAllGone();
    }
    if (this.#stopped) {
      closeQuietly(channel);
      return;
    }
    this.#hand(channel, extra);
  }

  #checkAllGone(): void {
    if (this.#connections.size > 0 || this.#preparing.size > 0) return;
    this.#allGone?.resolve();
    this.#allGone = undefined;
  }

  /**
   * Counts an accepted connection as refused by its protocol: see
   * {@linkcode REFUSED_BY_PROTOCOL}. One that ended already leaves the close counts again.
   */
  [REFUSED_BY_PROTOCOL](transport: StreamTransport): void {
    if (this.#refusedLive.has(transport)) return;
    this.#accepted--;
    this.#rejected++;
    if (this.#connections.has(transport)) this.#refusedLive.add(transport);
    else this.#countClosed(transport.stats().closeReason, -1);
  }

  /** Adds an ended connection to the totals and (unless its protocol refused it) the close counts. */
  #countEnded(transport: StreamTransport): void {
    const stats = transport.stats();
    addCounters(this.#ended, stats);
    if (this.#refusedLive.delete(transport)) return;
    this.#countClosed(stats.closeReason, 1);
  }

  #countClosed(reason: CloseReason | undefined, by: 1 | -1): void {
    this.#closedCount += by;
    if (reason === "idle-timeout") this.#closedByIdle += by;
    else if (reason === "deadline") this.#closedByDeadline += by;
  }

  /** Runs a subclass hook; what it throws goes to `onError`, naming the hook and connection. */
  #callHook(name: string, transport: StreamTransport, hook: () => unknown): void {
    const failed = (error: unknown): void => {
      const peer = describePeer(transport.getExtraInfo("peername"));
      this.#report(new CallbackError(name, peer, error));
    };
    try {
      catchAsync(hook(), failed);
    } catch (error) {
      failed(error);
    }
  }

  /** Hands an error the server survives to `onError` (by default: logs it); never throws. */
  #report(error: Error): void {
    deliverError(this.#options.onError, error);
  }
}

/**
 * Listens on one or more addresses and connects a new protocol to every accepted connection
 * (asyncio's `loop.create_server`): a {@linkcode Server} that is already listening.
 *
 * @param protocolFactory Makes one protocol per connection.
 * @param address One address or several.
 * @param options Server options plus TLS, backlog and `reusePort` for the listeners.
 * @returns The running server.
 * @throws {TypeError} For a malformed address.
 * @throws {TransportError} When an address cannot be listened on (the message names it).
 *
 * @example Serve an echo protocol over TCP and a Unix socket
 * ```ts
 * import { createServer } from "@plexus/net/endpoints";
 * import { ProtocolAdapter } from "@plexus/net/protocol";
 * import { assertEquals } from "@std/assert";
 *
 * class Echo extends ProtocolAdapter {
 *   override dataReceived(data: Uint8Array): void {
 *     this.transport!.write(data);
 *   }
 * }
 * const dir = await Deno.makeTempDir();
 * const server = await createServer(() => new Echo(), [
 *   "127.0.0.1:0",
 *   { path: `${dir}/echo.sock` },
 * ]);
 * assertEquals(server.addresses.length, 2);
 * await server.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function createServer<P extends StreamProtocolLike>(
  protocolFactory: () => P,
  address: Address | Deno.Addr | (Address | Deno.Addr)[],
  options?: CreateServerOptions,
): Promise<Server<P>> {
  options ??= {};
  const server = new Server(protocolFactory, options);
  await server.listen(address, options);
  return server;
}

function openListener(target: ParsedAddress, options: ListenOptions): Deno.Listener {
  try {
    if (options.tls && target.transport === "unix") checkTlsServerOptions(options.tls);
    if (target.transport === "unix") return Deno.listen({ transport: "unix", path: target.path });
    const common = {
      hostname: target.hostname,
      port: target.port,
      reusePort: options.reusePort,
      tcpBacklog: options.backlog,
    };
    // TLS runs over the plain connection (see `ListenOptions.tls`): check the certificates
    // now, so a bad one fails the listen rather than every handshake.
    if (options.tls) checkTlsServerOptions(options.tls);
    return Deno.listen(common);
  } catch (error) {
    throw new TransportError(
      `Cannot listen on ${formatAddress(target)}: ${describeError(error)}`,
      { cause: error },
    );
  }
}

function closeQuietly(channel: ByteChannel): void {
  try {
    channel.close();
  } catch {
    // Already closed (a failed handshake closes its channel).
  }
}

/**
 * Sends the rejection of what a `void` hook returned to `failed`, when an async override
 * returned a promise: dropped, it would be an unhandled rejection, which ends the process.
 */
function catchAsync(result: unknown, failed: (error: unknown) => void): void {
  if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function") {
    Promise.resolve(result).catch(failed);
  }
}
