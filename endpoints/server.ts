import { type ByteChannel, isTcpConn } from "../transport/byte_channel.ts";
import { linkCancellation } from "../transport/cancellation.ts";
import { describeError, TransportError } from "../transport/errors.ts";
import type {
  ExtraInfo,
  StreamProtocolLike,
  StreamTransportOptions,
  TlsServerOptions,
} from "../transport/mod.ts";
import { StreamTransport } from "../transport/stream_transport.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT } from "../transport/tls_options.ts";
import { startTlsServer } from "../transport/tls_upgrade.ts";
import { type Address, formatAddress, parseAddress, type ParsedAddress } from "./address.ts";
import { asWrapper, type Wrapper, type WrapperChain } from "./wrappers.ts";

/** Options of a {@linkcode Server}, for every connection it accepts. */
export interface ServerOptions extends StreamTransportOptions {
  /**
   * Milliseconds `run()` (and `await using`) gives live connections to close gracefully
   * before aborting them.
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
   * Disables Nagle's algorithm on accepted TCP connections (Deno's TLS listener connections
   * cannot set it).
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * Called with errors that end one incoming connection before its protocol exists (a failed
   * TLS handshake or wrapper, a throwing protocol factory or `handleConnection`), that a
   * listener survives (a failed `accept()`, retried after a second), or that a
   * `connectionMade`/`connectionLost` hook threw.
   *
   * @default {ignore them; hook errors are reported as uncaught}
   */
  onError?: (error: Error) => void;
  /**
   * Applied to every accepted connection (after the TLS handshake, if any) before its
   * protocol is made: socket options, TLS, ... (see {@linkcode Wrapper}).
   */
  wrapper?: Wrapper | WrapperChain;
}

/** Options of {@linkcode Server.listen}, for one or more listening sockets. */
export interface ListenOptions {
  /**
   * Serve TLS with this certificate and key. TCP listeners use `Deno.listenTls`; Unix ones run
   * the handshake through `node:tls`. Handshakes are bounded by `tls.handshakeTimeout`.
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

interface Listening {
  listener: Deno.Listener;
  tls: TlsServerOptions | undefined;
  /** Whether the TLS handshake runs through node:tls (Unix sockets) or `Deno.listenTls`. */
  nodeTls: boolean;
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
 * - `close()` stops listening and leaves live connections alone; `closeClients()` closes them
 *   gracefully, `abortClients()` at once; `waitClosed()` resolves once the listeners and all
 *   connections are gone. `run()` serves until SIGINT or SIGTERM, then drains within
 *   `timeout`. `await using` closes, drains and waits.
 * - Past `maxConnections`, new connections are closed at once and counted.
 * - `idleTimeout` (a transport option) closes peers that stall.
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
  readonly #listening: Listening[] = [];
  readonly #addresses: Deno.Addr[] = [];
  readonly #connections = new Map<StreamTransport, P>();
  /** Connections accepted but not yet handed to a protocol (TLS handshake, wrapper). */
  readonly #preparing = new Set<AbortController>();
  readonly #wrapper: Wrapper | undefined;
  /** Wakes accept loops backing off after an error, when the server closes. */
  readonly #wakeOnClose = new Set<() => void>();
  #rejected = 0;
  #closing = false;
  #allGone: PromiseWithResolvers<void> | undefined;

  /**
   * Creates a server that is not listening yet.
   *
   * @param protocolFactory Makes one protocol per connection.
   * @param options Limits, timeouts, socket and transport options for every connection.
   */
  constructor(protocolFactory: () => P, options: ServerOptions = {}) {
    this.#factory = protocolFactory;
    this.#options = options;
    this.#wrapper = asWrapper(options.wrapper);
  }

  /** The addresses listened on, with the ports the OS chose. */
  get addresses(): Deno.Addr[] {
    return [...this.#addresses];
  }

  /** The live connections: each transport and its protocol. */
  get connections(): ReadonlyMap<StreamTransport, P> {
    return this.#connections;
  }

  /** How many connections were closed at once because `maxConnections` was reached. */
  get rejectedConnections(): number {
    return this.#rejected;
  }

  /** Whether the server is accepting connections. */
  isServing(): boolean {
    return !this.#closing && this.#listening.length > 0;
  }

  /**
   * Starts listening on one or more addresses: `"host:port"`, `"[::1]:port"`,
   * `{ hostname, port }` or a Unix socket `{ path }` (port 0 picks a free port).
   *
   * @param address One address or several.
   * @param options TLS, backlog and `reusePort` for these listeners.
   * @returns The addresses now listened on, with the ports the OS chose.
   * @throws {TypeError} For a malformed address.
   * @throws {TransportError} When an address cannot be listened on (the message names it);
   * the listeners this call opened are closed again.
   */
  listen(
    address: Address | Deno.Addr | (Address | Deno.Addr)[],
    options: ListenOptions = {},
  ): Promise<Deno.Addr[]> {
    if (this.#closing) {
      return Promise.reject(new TransportError("Cannot listen: the server is closed"));
    }
    const targets = (Array.isArray(address) ? address : [address]).map((a) =>
      parseAddress(a as Address)
    );
    const opened: Deno.Listener[] = [];
    try {
      for (const target of targets) opened.push(openListener(target, options));
    } catch (error) {
      for (const listener of opened) listener.close();
      return Promise.reject(error);
    }
    for (const listener of opened) {
      const entry: Listening = {
        listener,
        tls: options.tls,
        nodeTls: options.tls !== undefined && listener.addr.transport === "unix",
        loop: Promise.resolve(),
      };
      entry.loop = this.#acceptLoop(entry);
      this.#listening.push(entry);
      this.#addresses.push(listener.addr);
    }
    return Promise.resolve(opened.map((l) => l.addr));
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
   * `super.handleConnection()` to keep the tracking and hooks.
   *
   * @param channel The accepted connection.
   * @param extra Facts for `getExtraInfo()` (TLS, ALPN).
   */
  handleConnection(channel: ByteChannel, extra: ExtraInfo): void {
    let protocol: P;
    try {
      protocol = this.#factory();
    } catch (error) {
      channel.close();
      this.#report(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    const transport = new StreamTransport(channel, protocol, { ...this.#options, extra });
    this.#connections.set(transport, protocol);
    this.#callHook(() => this.connectionMade(transport, protocol));
    transport.closed.then((error) => {
      this.#connections.delete(transport);
      this.#callHook(() => this.connectionLost(transport, protocol, error));
      this.#checkAllGone();
    });
  }

  /**
   * Stops listening (and removes Unix socket files). Live connections go on. Resolves once
   * every accept loop has stopped; pending TLS handshakes are abandoned.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      for (const { listener } of this.#listening) {
        try {
          listener.close();
        } catch {
          // Already closed.
        }
      }
      for (const handshake of this.#preparing) handshake.abort();
      for (const wake of [...this.#wakeOnClose]) wake();
    }
    await Promise.all(this.#listening.map((l) => l.loop));
    for (const { listener } of this.#listening.splice(0)) {
      if (listener.addr.transport === "unix" && listener.addr.path) {
        await removeSocketFile(listener.addr.path);
      }
    }
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
   * Serves until SIGINT or SIGTERM (or `signal`), then stops listening, closes the clients
   * gracefully, waits up to `timeout` ms for them, aborts the rest and resolves. The signal
   * handlers are installed before `run()` returns its promise.
   *
   * @param options A signal that stops serving too.
   */
  async run(options: RunOptions = {}): Promise<void> {
    const stop = Promise.withResolvers<void>();
    const onSignal = (): void => stop.resolve();
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    for (const name of signals) Deno.addSignalListener(name, onSignal);
    options.signal?.addEventListener("abort", onSignal, { once: true });
    if (options.signal?.aborted) stop.resolve();
    try {
      await stop.promise;
    } finally {
      for (const name of signals) Deno.removeSignalListener(name, onSignal);
      options.signal?.removeEventListener("abort", onSignal);
    }
    await this.#drain();
  }

  /** Closes the server, closes the clients gracefully within `timeout`, and waits. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#drain();
  }

  async #drain(): Promise<void> {
    await this.close();
    this.closeClients();
    const timeout = this.#options.timeout ?? 30_000;
    const drained = this.waitClosed();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, timeout));
    await Promise.race([drained, late]);
    clearTimeout(timer);
    this.abortClients();
    await drained;
  }

  async #acceptLoop(entry: Listening): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await entry.listener.accept();
      } catch (error) {
        if (this.#closing) return;
        this.#report(
          new TransportError(`Accept failed: ${describeError(error)}`, { cause: error }),
        );
        if (error instanceof Deno.errors.BadResource) return;
        // Out of file descriptors, say: back off instead of spinning (asyncio waits 1 s).
        await this.#backOff();
        continue;
      }
      if (this.#closing) {
        conn.close();
        return;
      }
      const max = this.#options.maxConnections;
      if (max !== undefined && this.#connections.size + this.#preparing.size >= max) {
        this.#rejected++;
        conn.close();
        continue;
      }
      if (isTcpConn(conn)) conn.setNoDelay(this.#options.noDelay ?? true);
      if (entry.tls || this.#wrapper) this.#prepare(conn, entry);
      else this.#hand(conn, { ...this.#options.extra });
    }
  }

  /** Calls handleConnection(); an override that throws loses its connection, not the server. */
  #hand(channel: ByteChannel, extra: ExtraInfo): void {
    try {
      this.handleConnection(channel, extra);
    } catch (error) {
      closeQuietly(channel);
      this.#report(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Waits a second, or less if the server closes meanwhile. */
  #backOff(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakeOnClose.delete(done);
        resolve();
      };
      const timer = setTimeout(done, 1000);
      this.#wakeOnClose.add(done);
    });
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
    const extra: ExtraInfo = {
      sockname: conn.localAddr,
      peername: conn.remoteAddr,
      ...this.#options.extra,
    };
    let channel: ByteChannel = conn;
    let step = "TLS handshake";
    try {
      if (entry.tls) {
        const secured = entry.nodeTls
          ? await startTlsServer(conn, { ...entry.tls, signal: cancel.signal })
          : await listenTlsHandshake(conn as Deno.TlsConn, entry.tls, cancel.signal);
        channel = secured.channel;
        Object.assign(extra, { tls: true, alpnProtocol: secured.alpnProtocol });
      }
      if (this.#wrapper) {
        step = "Wrapper";
        channel = await cancel.race(
          Promise.resolve(this.#wrapper(channel, { side: "server", signal: cancel.signal, extra })),
        );
      }
    } catch (error) {
      closeQuietly(channel);
      if (!this.#closing) {
        const peer = formatAddress(conn.remoteAddr);
        this.#report(
          new TransportError(`${step} with ${peer} failed: ${describeError(error)}`, {
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
    if (this.#closing) {
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

  /** Runs a subclass hook; what it throws goes to `onError` (or is reported as uncaught). */
  #callHook(hook: () => void): void {
    try {
      hook();
    } catch (error) {
      if (this.#options.onError) {
        this.#report(error instanceof Error ? error : new Error(String(error)));
      } else reportError(error);
    }
  }

  #report(error: Error): void {
    try {
      this.#options.onError?.(error);
    } catch (callbackError) {
      reportError(callbackError);
    }
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
  options: CreateServerOptions = {},
): Promise<Server<P>> {
  const server = new Server(protocolFactory, options);
  await server.listen(address, options);
  return server;
}

function openListener(target: ParsedAddress, options: ListenOptions): Deno.Listener {
  try {
    if (target.transport === "unix") return Deno.listen({ transport: "unix", path: target.path });
    const common = {
      hostname: target.hostname,
      port: target.port,
      reusePort: options.reusePort,
      tcpBacklog: options.backlog,
    };
    if (!options.tls) return Deno.listen(common);
    const { cert, key, alpnProtocols } = options.tls;
    return Deno.listenTls({ ...common, cert, key, alpnProtocols }) as Deno.Listener;
  } catch (error) {
    throw new TransportError(
      `Cannot listen on ${formatAddress(target)}: ${describeError(error)}`,
      { cause: error },
    );
  }
}

async function listenTlsHandshake(
  conn: Deno.TlsConn,
  tls: TlsServerOptions,
  signal: AbortSignal,
): Promise<{ channel: ByteChannel; alpnProtocol: string | null }> {
  const timeout = tls.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  const cancel = linkCancellation(signal, timeout, `TLS handshake timed out after ${timeout} ms`);
  const handshake = conn.handshake();
  try {
    const info = await cancel.race(handshake);
    return { channel: conn, alpnProtocol: info.alpnProtocol };
  } catch (error) {
    conn.close();
    await handshake.catch(() => {});
    throw error;
  } finally {
    cancel.dispose();
  }
}

function closeQuietly(channel: ByteChannel): void {
  try {
    channel.close();
  } catch {
    // Already closed (a failed handshake closes its channel).
  }
}

async function removeSocketFile(path: string): Promise<void> {
  try {
    const info = await Deno.lstat(path);
    if (info.isSocket) await Deno.remove(path);
  } catch {
    // Gone already.
  }
}
