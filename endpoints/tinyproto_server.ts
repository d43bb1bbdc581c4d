import { checkTinyprotoOptions } from "../framing/_tinyproto_options.ts";
import {
  type TinyprotoHandler,
  type TinyprotoOptions,
  TinyprotoProtocol,
} from "../framing/tinyproto.ts";
import type { Deadlines } from "../transport/deadline_clock.ts";
import type { ServerStats } from "../transport/stats.ts";
import type { Protocol, StreamProtocolLike } from "../transport/protocols.ts";
import type { Address } from "./address.ts";
import { type ListenOptions, REFUSED_BY_PROTOCOL, type RunOptions, Server } from "./server.ts";
import type { StreamTransport } from "../transport/stream_transport.ts";

/** tinyproto's `SC_CONLIMIT` status: sent to a connection refused for the connection limit. */
const CONNECTION_LIMIT = new Uint8Array([0xfe]);

/** Options of a {@linkcode TinyprotoServer}. */
export interface TinyprotoServerOptions extends TinyprotoOptions {
  /**
   * The most connections at once; further ones get tinyproto's `fe` (connection limit) byte
   * and are closed, and counted in `refusedConnections`.
   *
   * @default {no limit}
   */
  connectionLimit?: number;
  /**
   * Milliseconds without progress after which a connection is closed (a peer that never
   * finishes the handshake, or goes silent).
   *
   * @default {no limit}
   */
  idleTimeout?: number;
  /**
   * Milliseconds `close()` gives live connections to end gracefully before aborting them.
   *
   * @default {30000}
   */
  timeout?: number;
  /**
   * Milliseconds a connection's graceful close may linger for the peer's EOF (a refusal for
   * the connection limit, an answered error): see `StreamTransportOptions.lingerTimeout`.
   * tinyproto's own end (our EOF, then the peer's close) rarely needs it.
   *
   * @default {2000, as every Server connection}
   */
  lingerTimeout?: number;
  /**
   * Called with every error the server survives: a failed `accept()` (a client that reset
   * before it was accepted is skipped at once), or an error a callback threw after its
   * connection was gone (see the `Server` option of the same name).
   *
   * @default {log them with console.error}
   */
  onError?: (error: Error) => void;
  /**
   * Time limits for the peers' transmissions (see {@linkcode Deadlines}). A tinyproto peer
   * may rightly stay silent while it only listens (a chat client, say), so unlike other
   * `Server` connections there is no limit to the first transmission; a transmission under
   * way must complete within `frameTimeout`.
   *
   * @default {{ firstFrameTimeout: Infinity, frameTimeout: 30000 }}
   */
  deadlines?: Deadlines;
}

/**
 * A tinyproto server (tinyproto's `TinyProtoServer`): every accepted connection speaks the
 * tinyproto 2.0.1 transmission protocol through a new handler from the factory.
 *
 * tinyproto's hooks, in Plexus names: `connInit(id, connection)` when a connection is
 * accepted (before its handshake), `connShutdown(id, connection, error)` when it has ended;
 * per connection the handler's `connectionStarted`, `transmissionReceived` and
 * `connectionEnded`. `activeConnections` maps ids to live connections. `close()` stops the
 * server along with all its connections (tinyproto's shutdown flag).
 *
 * @example An echo server and one client
 * ```ts
 * import { TinyprotoClient, TinyprotoServer } from "@plexus/net/endpoints";
 * import { assertEquals } from "@std/assert";
 *
 * const server = new TinyprotoServer(() => ({
 *   transmissionReceived: (message, connection) => connection.send(message),
 * }));
 * const [address] = await server.listen("127.0.0.1:0");
 * const replies = Promise.withResolvers<string>();
 * const client = new TinyprotoClient(() => ({
 *   transmissionReceived: (message) => replies.resolve(new TextDecoder().decode(message)),
 * }));
 * const connection = await client.connectTo(address);
 * await connection.send(new TextEncoder().encode("hello"));
 * assertEquals(await replies.promise, "hello");
 * await client.close();
 * await server.close();
 * ```
 */
export class TinyprotoServer implements AsyncDisposable {
  readonly #handlerFactory: () => TinyprotoHandler;
  readonly #options: TinyprotoServerOptions;
  readonly #server: Server<StreamProtocolLike>;
  readonly #active = new Map<string, TinyprotoProtocol>();
  #refused = 0;

  /**
   * Creates a server that is not listening yet.
   *
   * @param handlerFactory Makes the handler of each connection.
   * @param options Connection limit, message size limit and timeouts.
   * @throws {RangeError} When `maxSize`, `closeTimeout` or `connectionLimit` is out of range.
   */
  constructor(handlerFactory: () => TinyprotoHandler, options?: TinyprotoServerOptions) {
    options ??= {};
    // Checked here: a bad option must fail now, not drop every connection the server accepts.
    checkTinyprotoOptions("Cannot create tinyproto server", options);
    const limit = options.connectionLimit;
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
      throw new RangeError(
        `Cannot create tinyproto server: connectionLimit must be a whole number of at least 0, got ${limit}`,
      );
    }
    this.#handlerFactory = handlerFactory;
    this.#options = options;
    this.#server = new Server(() => this.#newConnection(), {
      idleTimeout: options.idleTimeout,
      timeout: options.timeout,
      lingerTimeout: options.lingerTimeout,
      onError: options.onError,
      deadlines: { firstFrameTimeout: Infinity, ...options.deadlines },
    });
  }

  /** The live connections by id. */
  get activeConnections(): ReadonlyMap<string, TinyprotoProtocol> {
    return this.#active;
  }

  /** How many connections were refused for the connection limit. */
  get refusedConnections(): number {
    return this.#refused;
  }

  /**
   * The server's statistics (see `Server.stats()`); connections refused for the connection
   * limit count as rejected, not accepted.
   *
   * @example
   * ```ts
   * import { TinyprotoServer } from "@plexus/net/endpoints";
   *
   * await using server = new TinyprotoServer(() => ({}));
   * console.assert(server.stats().accepted === 0);
   * ```
   */
  stats(): ServerStats {
    return this.#server.stats();
  }

  /** The addresses listened on. */
  get addresses(): Deno.Addr[] {
    return this.#server.addresses;
  }

  /**
   * Listens on one or more addresses (tinyproto's `add_addr` then `start`).
   *
   * @returns The addresses listened on, with the ports the OS chose.
   */
  listen(
    address: Address | Deno.Addr | (Address | Deno.Addr)[],
    options?: ListenOptions,
  ): Promise<Deno.Addr[]> {
    return this.#server.listen(address, options);
  }

  /**
   * Called when a connection is accepted, before its handshake; the connection's
   * `getExtraInfo("peername")` gives the client's address. Does nothing by default.
   */
  connInit(_id: string, _connection: TinyprotoProtocol): void {}

  /** Called once when a connection has ended. Does nothing by default. */
  connShutdown(_id: string, _connection: TinyprotoProtocol, _error: Error | undefined): void {}

  /**
   * Stops the server: stops listening, ends every connection (gracefully, within `timeout`)
   * and resolves once all of them are closed.
   */
  async close(): Promise<void> {
    await this.#server.close();
    for (const connection of this.#active.values()) connection.close();
    await this.#server[Symbol.asyncDispose]();
  }

  /** Serves until SIGINT or SIGTERM (or `options.signal`), then closes. */
  async run(options?: RunOptions): Promise<void> {
    await this.#server.run(options);
  }

  /** Closes the server. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #newConnection(): StreamProtocolLike {
    const limit = this.#options.connectionLimit;
    if (limit !== undefined && this.#active.size >= limit) {
      this.#refused++;
      return refuseForLimit((transport) => this.#server[REFUSED_BY_PROTOCOL](transport));
    }
    const id = crypto.randomUUID();
    const handler = this.#handlerFactory();
    const connection = new TinyprotoProtocol({
      connectionMade: (c) => {
        this.connInit(id, c);
        handler.connectionMade?.(c);
      },
      connectionStarted: (c) => handler.connectionStarted?.(c),
      transmissionReceived: handler.transmissionReceived?.bind(handler),
      pauseWriting: (c) => handler.pauseWriting?.(c),
      resumeWriting: (c) => handler.resumeWriting?.(c),
      connectionEnded: (error, c) => {
        this.#active.delete(id);
        try {
          handler.connectionEnded?.(error, c);
        } finally {
          this.connShutdown(id, c, error);
        }
      },
    }, { maxSize: this.#options.maxSize, closeTimeout: this.#options.closeTimeout });
    this.#active.set(id, connection);
    return connection;
  }
}

/** A protocol that answers tinyproto's connection-limit status and closes. */
function refuseForLimit(refused: (transport: StreamTransport) => void): Protocol {
  return {
    connectionMade: (transport) => {
      refused(transport as StreamTransport);
      transport.write(CONNECTION_LIMIT);
      transport.close();
    },
    dataReceived: () => {},
  };
}
