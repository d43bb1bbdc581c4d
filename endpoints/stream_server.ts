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

/** Options of {@linkcode createServer}. */
export interface CreateServerOptions extends StreamTransportOptions {
  /**
   * Serve TLS with this certificate and key. TCP listeners use `Deno.listenTls`; Unix ones run
   * the handshake through `node:tls`. Every handshake is bounded by `tls.handshakeTimeout`.
   */
  tls?: TlsServerOptions;
  /** The listen queue length (`tcpBacklog`). */
  backlog?: number;
  /** Sets `SO_REUSEPORT`, so several processes can share the port (Linux). */
  reusePort?: boolean;
  /**
   * Disables Nagle's algorithm on accepted TCP connections (not available on Deno's TLS
   * listener connections).
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * Called with errors that end one incoming connection before its protocol exists (a failed
   * TLS handshake) or that a listener survives (a failed `accept()`).
   *
   * @default {ignore them}
   */
  onError?: (error: Error) => void;
}

type AnyListener = Deno.Listener;

/**
 * Serves stream connections on one or more listeners, one new protocol per connection
 * (asyncio's `Server`). Made by {@linkcode createServer}.
 *
 * `close()` stops listening and leaves live connections alone; `closeClients()` closes them
 * gracefully, `abortClients()` at once; `waitClosed()` resolves once the listeners and every
 * connection are gone. `await using` does all three.
 */
export class StreamServer implements AsyncDisposable {
  /** The addresses listened on, with the ports the OS chose. */
  readonly addresses: Deno.Addr[];
  readonly #factory: () => StreamProtocolLike;
  readonly #options: CreateServerOptions;
  readonly #listeners: AnyListener[];
  readonly #connections = new Set<StreamTransport>();
  readonly #handshakes = new Set<AbortController>();
  readonly #loops: Promise<void>[];
  readonly #unixPaths: string[];
  #closing = false;
  #allGone: PromiseWithResolvers<void> | undefined;

  /** Starts accepting on `listeners`; use {@linkcode createServer}. */
  constructor(
    factory: () => StreamProtocolLike,
    listeners: { listener: AnyListener; tlsHandshake: boolean }[],
    options: CreateServerOptions,
  ) {
    this.#factory = factory;
    this.#options = options;
    this.#listeners = listeners.map((l) => l.listener);
    this.addresses = this.#listeners.map((l) => l.addr);
    this.#unixPaths = this.addresses.flatMap((a) =>
      a.transport === "unix" && a.path ? [a.path] : []
    );
    this.#loops = listeners.map((l) => this.#acceptLoop(l.listener, l.tlsHandshake));
  }

  /** The live connections' transports. */
  get connections(): ReadonlySet<StreamTransport> {
    return this.#connections;
  }

  /** Whether the server is still accepting connections. */
  isServing(): boolean {
    return !this.#closing;
  }

  /**
   * Stops listening (and removes Unix socket files). Live connections go on. Resolves once
   * every accept loop has stopped; pending TLS handshakes are abandoned.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      for (const listener of this.#listeners) {
        try {
          listener.close();
        } catch {
          // Already closed.
        }
      }
      for (const handshake of this.#handshakes) handshake.abort();
    }
    await Promise.all(this.#loops);
    for (const path of this.#unixPaths.splice(0)) await removeSocketFile(path);
  }

  /** Closes every live connection gracefully (each flushes its write buffer first). */
  closeClients(): void {
    for (const transport of this.#connections) transport.close();
  }

  /** Aborts every live connection, dropping buffered writes. */
  abortClients(): void {
    for (const transport of this.#connections) transport.abort();
  }

  /** Resolves once the server is closed and every connection has called `connectionLost()`. */
  async waitClosed(): Promise<void> {
    await Promise.all(this.#loops);
    while (this.#connections.size > 0 || this.#handshakes.size > 0) {
      this.#allGone ??= Promise.withResolvers<void>();
      await this.#allGone.promise;
    }
  }

  /** Closes the server, closes the clients gracefully, and waits for all of it. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
    this.closeClients();
    await this.waitClosed();
  }

  async #acceptLoop(listener: AnyListener, tlsHandshake: boolean): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#closing) return;
        this.#report(
          new TransportError(`Accept failed: ${describeError(error)}`, { cause: error }),
        );
        if (error instanceof Deno.errors.BadResource) return;
        continue;
      }
      if (this.#closing) {
        conn.close();
        return;
      }
      this.#serve(conn, tlsHandshake);
    }
  }

  async #serve(conn: Deno.Conn, tlsHandshake: boolean): Promise<void> {
    if (isTcpConn(conn)) conn.setNoDelay(this.#options.noDelay ?? true);
    let channel: ByteChannel = conn;
    const extra: ExtraInfo = { ...this.#options.extra };
    const tls = this.#options.tls;
    if (tls) {
      const controller = new AbortController();
      this.#handshakes.add(controller);
      try {
        const info = tlsHandshake
          ? await startTlsServer(conn, { ...tls, signal: controller.signal })
          : await this.#listenTlsHandshake(conn as Deno.TlsConn, tls, controller.signal);
        channel = info.channel;
        Object.assign(extra, { tls: true, alpnProtocol: info.alpnProtocol });
      } catch (error) {
        if (this.#closing) return;
        this.#report(
          new TransportError(
            `TLS handshake with ${formatAddress(conn.remoteAddr)} failed: ${describeError(error)}`,
            { cause: error },
          ),
        );
        return;
      } finally {
        this.#handshakes.delete(controller);
        this.#checkAllGone();
      }
    }
    let transport: StreamTransport;
    try {
      transport = new StreamTransport(channel, this.#factory(), { ...this.#options, extra });
    } catch (error) {
      channel.close();
      this.#report(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#connections.add(transport);
    transport.closed.then(() => {
      this.#connections.delete(transport);
      this.#checkAllGone();
    });
  }

  async #listenTlsHandshake(
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

  #checkAllGone(): void {
    if (this.#connections.size > 0 || this.#handshakes.size > 0) return;
    this.#allGone?.resolve();
    this.#allGone = undefined;
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
 * (asyncio's `loop.create_server`).
 *
 * Each address may be `"host:port"`, `"[::1]:port"`, `{ hostname, port }` or a Unix socket
 * `{ path }`; port 0 picks a free port (see `server.addresses`). Any accepted connection can
 * later be upgraded with `transport.startTls({ serverSide: true, cert, key })` (STARTTLS).
 *
 * @param protocolFactory Makes one protocol per connection.
 * @param address One address or several.
 * @param options TLS, backlog, `reusePort`, socket and transport options.
 * @returns The running server.
 * @throws {TypeError} For a malformed address.
 * @throws {TransportError} When an address cannot be listened on (the message names it);
 * listeners already opened are closed.
 *
 * @example Serve an echo protocol over TCP and a Unix socket
 * ```ts
 * import { createServer } from "@plexus/net/endpoints";
 * import { ProtocolAdapter } from "@plexus/net/protocol";
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
 * console.log(server.addresses.length); // 2
 * await server.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function createServer(
  protocolFactory: () => StreamProtocolLike,
  address: Address | Deno.Addr | (Address | Deno.Addr)[],
  options: CreateServerOptions = {},
): Promise<StreamServer> {
  const parsed = (Array.isArray(address) ? address : [address]).map((a) =>
    parseAddress(a as Address)
  );
  const opened: { listener: AnyListener; tlsHandshake: boolean }[] = [];
  try {
    for (const target of parsed) opened.push(listen(target, options));
  } catch (error) {
    for (const { listener } of opened) listener.close();
    return Promise.reject(error);
  }
  return Promise.resolve(new StreamServer(protocolFactory, opened, options));
}

function listen(
  target: ParsedAddress,
  options: CreateServerOptions,
): { listener: AnyListener; tlsHandshake: boolean } {
  try {
    if (target.transport === "unix") {
      return {
        listener: Deno.listen({ transport: "unix", path: target.path }),
        tlsHandshake: options.tls !== undefined,
      };
    }
    const common = {
      hostname: target.hostname,
      port: target.port,
      reusePort: options.reusePort,
      tcpBacklog: options.backlog,
    };
    if (options.tls) {
      const { cert, key, alpnProtocols } = options.tls;
      return {
        listener: Deno.listenTls({ ...common, cert, key, alpnProtocols }) as AnyListener,
        tlsHandshake: false,
      };
    }
    return { listener: Deno.listen(common), tlsHandshake: false };
  } catch (error) {
    throw new TransportError(
      `Cannot listen on ${formatAddress(target)}: ${describeError(error)}`,
      { cause: error },
    );
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
