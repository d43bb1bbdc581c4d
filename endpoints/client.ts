import { TransportError } from "../transport/errors.ts";
import type { StreamProtocolLike } from "../transport/mod.ts";
import type { StreamTransport } from "../transport/stream_transport.ts";
import type { Address } from "./address.ts";
import { createConnection, type CreateConnectionOptions } from "./create_connection.ts";

/** Options of a {@linkcode Client}. */
export interface ClientOptions {
  /**
   * Milliseconds `connect()` may take (connect plus TLS handshake), unless its own options
   * give a `timeout`. gruvi's client default is no limit; tinyproto's is 5 s.
   *
   * @default {no limit}
   */
  timeout?: number;
}

/**
 * A client endpoint (gruvi's `Client`): connects one protocol at a time and keeps the
 * transport and protocol at hand.
 *
 * @typeParam P The protocol type.
 *
 * @example Connect, talk, close
 * ```ts
 * import { Client, createServer } from "@plexus/net/endpoints";
 * import { ProtocolAdapter } from "@plexus/net/protocol";
 * import { assertEquals } from "@std/assert";
 *
 * class Echo extends ProtocolAdapter {
 *   override dataReceived(data: Uint8Array): void {
 *     this.transport!.write(data);
 *   }
 * }
 * class Collect extends ProtocolAdapter {
 *   text = "";
 *   override dataReceived(data: Uint8Array): void {
 *     this.text += new TextDecoder().decode(data);
 *   }
 * }
 * await using server = await createServer(() => new Echo(), "127.0.0.1:0");
 * await using client = new Client(() => new Collect(), { timeout: 5000 });
 * await client.connect(server.addresses[0]);
 * client.transport!.write(new TextEncoder().encode("hi"));
 * client.transport!.writeEof();
 * await client.transport!.closed;
 * assertEquals(client.protocol!.text, "hi");
 * ```
 */
export class Client<P extends StreamProtocolLike = StreamProtocolLike> implements AsyncDisposable {
  readonly #factory: () => P;
  readonly #options: ClientOptions;
  #transport: StreamTransport | undefined;
  #protocol: P | undefined;
  /** The connect() under way: `close()` aborts it and waits for it to settle. */
  #connecting: { stop: AbortController; settled: Promise<unknown> } | undefined;

  /**
   * Creates a client that is not connected yet.
   *
   * @param protocolFactory Makes the protocol of each connection.
   * @param options The default connect timeout.
   */
  constructor(protocolFactory: () => P, options?: ClientOptions) {
    options ??= {};
    this.#factory = protocolFactory;
    this.#options = options;
  }

  /** The transport of the last connection, until `close()` (it may have been lost). */
  get transport(): StreamTransport | undefined {
    return this.#transport;
  }

  /** The protocol of the last connection, until `close()`. */
  get protocol(): P | undefined {
    return this.#protocol;
  }

  /**
   * Connects to `address` (see {@linkcode createConnection} for the forms and options).
   *
   * @throws {TransportError} When connected (and not closing) or connecting already, or when
   * connecting fails.
   */
  async connect(
    address: Address | Deno.Addr | Deno.Conn,
    options?: CreateConnectionOptions,
  ): Promise<void> {
    options ??= {};
    if (this.#connecting || (this.#transport && !this.#transport.isClosing())) {
      throw new TransportError("Cannot connect: the client is already connected");
    }
    const stop = new AbortController();
    const attempt = createConnection(this.#factory, address, {
      ...options,
      // An option given as `undefined` is not given: the client's default applies.
      timeout: options.timeout ?? this.#options.timeout,
      signal: options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal,
    });
    this.#connecting = { stop, settled: attempt.catch(() => {}) };
    try {
      const { transport, protocol } = await attempt;
      this.#transport = transport;
      this.#protocol = protocol;
    } finally {
      this.#connecting = undefined;
    }
  }

  /**
   * Closes the connection gracefully, waits until it is closed and forgets the transport and
   * protocol; does nothing if not connected. A `connect()` under way is aborted first (it
   * rejects), so no connection outlives the call. A graceful close flushes what is buffered,
   * so it waits on a peer that stops reading: call `transport.abort()` to give up at once.
   */
  async close(): Promise<void> {
    const connecting = this.#connecting;
    if (connecting) {
      connecting.stop.abort(new TransportError("Cannot connect: the client was closed"));
      await connecting.settled;
    }
    const transport = this.#transport;
    if (!transport) return;
    transport.close();
    await transport.closed;
    if (this.#transport !== transport) return;
    this.#transport = undefined;
    this.#protocol = undefined;
  }

  /** Closes the connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
