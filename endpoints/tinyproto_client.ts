import { checkTinyprotoOptions } from "../framing/_tinyproto_options.ts";
import { checkDelay } from "../transport/_delay.ts";
import {
  type TinyprotoHandler,
  type TinyprotoOptions,
  TinyprotoProtocol,
} from "../framing/tinyproto.ts";
import { linkCancellation } from "../transport/_cancellation.ts";
import { TransportError } from "../transport/errors.ts";
import { type Address, formatAddress, parseAddress } from "./address.ts";
import { createConnection, type CreateConnectionOptions } from "./create_connection.ts";

/** Options of a {@linkcode TinyprotoClient}. */
export interface TinyprotoClientOptions extends TinyprotoOptions {
  /**
   * Milliseconds a connection may take to be ready: connect plus the tinyproto handshake
   * (tinyproto's socket timeout).
   *
   * @default {5000}
   */
  timeout?: number;
}

/**
 * A tinyproto client (tinyproto's `TinyProtoClient`): opens connections that speak the
 * tinyproto 2.0.1 transmission protocol, each with a new handler from the factory, and keeps
 * them in `activeConnections` until they end.
 *
 * @example Connect, send, close
 * ```ts
 * import { TinyprotoClient, TinyprotoServer } from "@plexus/net/endpoints";
 *
 * await using server = new TinyprotoServer(() => ({ transmissionReceived: () => {} }));
 * const [address] = await server.listen("127.0.0.1:0");
 * await using client = new TinyprotoClient(() => ({ transmissionReceived: () => {} }));
 * const connection = await client.connectTo(address);
 * await connection.send(new TextEncoder().encode("hi"));
 * console.log(client.activeConnections.size); // 1
 * ```
 */
export class TinyprotoClient implements AsyncDisposable {
  readonly #handlerFactory: () => TinyprotoHandler;
  readonly #options: TinyprotoClientOptions;
  readonly #active = new Map<string, TinyprotoProtocol>();
  /** The `connectTo()`s under way: `close()` aborts them and waits for them to settle. */
  readonly #connecting = new Map<AbortController, Promise<unknown>>();

  /**
   * Creates a client.
   *
   * @param handlerFactory Makes the handler of each connection; without one, connections
   * are used with `receive()` and `request()` (tinyproto's pull style).
   * @param options The connect timeout (5 s) and the message size limit.
   * @throws {RangeError} When `maxSize` or `closeTimeout` is out of range.
   */
  constructor(handlerFactory?: () => TinyprotoHandler, options?: TinyprotoClientOptions) {
    options ??= {};
    checkTinyprotoOptions("Cannot create tinyproto client", options);
    this.#handlerFactory = handlerFactory ?? (() => ({}));
    this.#options = options;
  }

  /** The live connections by id. */
  get activeConnections(): ReadonlyMap<string, TinyprotoProtocol> {
    return this.#active;
  }

  /**
   * Connects and waits for the tinyproto handshake (tinyproto's `connect_to`).
   *
   * @param address Where to connect (as for {@linkcode createConnection}).
   * @param options Connection options (TLS, wrapper, ...); `timeout` defaults to the client's.
   * @returns The connection, ready to `send()`.
   * @throws {TransportError} When connecting or the handshake fails or times out.
   * @throws {TransmissionRejectedError} When the server refuses the connection (its connection
   * limit: `status` 0xfe).
   * @throws {Error} What the handler's `connectionMade` or `connectionStarted` threw.
   */
  async connectTo(
    address: Address | Deno.Addr,
    options?: CreateConnectionOptions,
  ): Promise<TinyprotoProtocol> {
    options ??= {};
    const timeout = checkDelay(
      "Cannot connect: timeout",
      options.timeout ?? this.#options.timeout ?? 5000,
      0,
      true,
    );
    const label = formatAddress(parseAddress(address as Address));
    const stop = new AbortController();
    const attempt = this.#connect(address, options, timeout, label, stop.signal);
    this.#connecting.set(stop, attempt.catch(() => {}));
    try {
      return await attempt;
    } finally {
      this.#connecting.delete(stop);
    }
  }

  async #connect(
    address: Address | Deno.Addr,
    options: CreateConnectionOptions,
    timeout: number,
    label: string,
    closing: AbortSignal,
  ): Promise<TinyprotoProtocol> {
    const cancel = linkCancellation(
      options.signal ? AbortSignal.any([options.signal, closing]) : closing,
      timeout,
      `Cannot connect to ${label}: timed out after ${timeout} ms`,
    );
    try {
      const id = crypto.randomUUID();
      const handler = this.#handlerFactory();
      const started = Promise.withResolvers<void>();
      const connection = new TinyprotoProtocol({
        connectionMade: (c) => handler.connectionMade?.(c),
        connectionStarted: (c) => {
          // First: a throw aborts the connection, and connectTo() rejects with it.
          handler.connectionStarted?.(c);
          started.resolve();
        },
        transmissionReceived: handler.transmissionReceived?.bind(handler),
        pauseWriting: (c) => handler.pauseWriting?.(c),
        resumeWriting: (c) => handler.resumeWriting?.(c),
        connectionEnded: (error, c) => {
          this.#active.delete(id);
          started.reject(
            error ?? new TransportError(`Cannot connect to ${label}: closed during the handshake`),
          );
          handler.connectionEnded?.(error, c);
        },
      }, { maxSize: this.#options.maxSize, closeTimeout: this.#options.closeTimeout });
      started.promise.catch(() => {});
      const { transport } = await createConnection(() => connection, address, {
        ...options,
        timeout,
        signal: cancel.signal,
      });
      this.#active.set(id, connection);
      try {
        await cancel.race(started.promise);
      } catch (error) {
        transport.abort();
        await transport.closed;
        throw error;
      }
      return connection;
    } finally {
      cancel.dispose();
    }
  }

  /**
   * Ends every connection and resolves once all are closed; a `connectTo()` under way is
   * aborted first (it rejects), so no connection outlives the call.
   */
  async close(): Promise<void> {
    // Until nothing is left: a connectTo() begun while this runs is ended too.
    while (this.#connecting.size > 0 || this.#active.size > 0) {
      const attempts = [...this.#connecting];
      for (const [stop] of attempts) {
        stop.abort(new TransportError("Cannot connect: the client was closed"));
      }
      await Promise.all(attempts.map(([, settled]) => settled));
      const connections = [...this.#active.values()];
      for (const connection of connections) connection.close();
      await Promise.all(connections.map((connection) => connection.closed));
    }
  }

  /** Closes every connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
