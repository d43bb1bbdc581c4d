import {
  type ByteChannel,
  remoteHostname,
  setSocketOption,
  socketKind,
  type SocketOption,
} from "../transport/byte_channel.ts";
import type { TlsClientOptions, TlsServerOptions } from "../transport/tls_options.ts";
import type { ExtraInfo } from "../transport/types.ts";
import {
  checkTlsServerOptions,
  startTlsClient,
  startTlsServer,
} from "../transport/_tls_upgrade.ts";
import { checkDelay } from "../transport/_delay.ts";

/** Where a wrapper runs: on a connection we accepted, or one we opened. */
export interface WrapContext {
  /** `"server"` for accepted connections, `"client"` for outgoing ones. */
  side: "client" | "server";
  /** Aborted when the server closes or the connect attempt is cancelled. */
  signal?: AbortSignal;
  /** Facts the transport will report through `getExtraInfo()`; wrappers may add to them. */
  extra: ExtraInfo;
}

/**
 * A function applied to a connection before any protocol sees it (Tendril's socket wrappers):
 * it may set socket options and return the same channel, or return a new channel over it
 * (TLS). Wrappers run on accepted connections (`ServerOptions.wrapper`, a manager's `start()`)
 * and on outgoing ones (`CreateConnectionOptions.wrapper`, a manager's `connect()`). A wrapper
 * that throws closes the connection.
 *
 * @example A wrapper that logs and passes the channel on
 * ```ts
 * import type { Wrapper } from "@plexus/net/endpoints";
 *
 * const logged: Wrapper = (channel, { side }) => {
 *   console.log(`${side} connection from`, channel.remoteAddr);
 *   return channel;
 * };
 * ```
 */
export type Wrapper = (
  channel: ByteChannel,
  context: WrapContext,
) => ByteChannel | Promise<ByteChannel>;

/**
 * Wrappers applied in order, each to what the previous one returned (Tendril's
 * `WrapperChain`). The chain itself is used as a wrapper through {@linkcode WrapperChain.wrap}.
 *
 * @example Disable Nagle, then upgrade to TLS
 * ```ts
 * import { noDelay, tls, WrapperChain } from "@plexus/net/endpoints";
 *
 * const chain = new WrapperChain(noDelay()).chain(tls({ caCerts: [] }));
 * const wrapper = chain.wrap;
 * ```
 */
export class WrapperChain {
  readonly #wrappers: Wrapper[];

  /**
   * Creates a chain.
   *
   * @param wrappers The first wrappers of the chain, in order.
   */
  constructor(...wrappers: Wrapper[]) {
    this.#wrappers = wrappers;
  }

  /**
   * Adds a wrapper at the end of the chain.
   *
   * @returns The chain, for more `chain()` calls.
   */
  chain(wrapper: Wrapper): this {
    this.#wrappers.push(wrapper);
    return this;
  }

  /** The whole chain as one wrapper. */
  readonly wrap: Wrapper = async (given, context) => {
    let channel = given;
    for (const wrapper of this.#wrappers) {
      try {
        const next: ByteChannel | undefined = await wrapper(channel, context);
        if (typeof next?.read !== "function") {
          throw new TypeError(`A chained wrapper returned ${String(next)}, not a channel`);
        }
        channel = next;
      } catch (error) {
        // The caller closes the channel it gave; one an earlier wrapper put over it (TLS,
        // which owns the socket now) is only closed here.
        if (channel !== given) {
          try {
            channel.close();
          } catch {
            // Closed already.
          }
        }
        throw error;
      }
    }
    return channel;
  };
}

/** Turns a wrapper or a chain into a wrapper. */
export function asWrapper(wrapper: Wrapper | WrapperChain | undefined): Wrapper | undefined {
  return wrapper instanceof WrapperChain ? wrapper.wrap : wrapper;
}

/**
 * A wrapper that sets `TCP_NODELAY` on TCP connections, TLS ones included (others, and a
 * channel of your own over the socket that does not expose it, pass through unchanged). A client's TLS made by `Deno.startTls` (the `tls` option of `createConnection`)
 * hides its socket: the wrapper throws there; use `createConnection`'s `noDelay` option.
 *
 * @param enabled Whether to disable Nagle's algorithm (default `true`).
 *
 * @example Apply to a server's connections
 * ```ts
 * import { noDelay, type ServerOptions } from "@plexus/net/endpoints";
 *
 * const options: ServerOptions = { wrapper: noDelay(false) };
 * ```
 */
export function noDelay(enabled?: boolean): Wrapper {
  enabled ??= true;
  return (channel) => setOn(channel, "noDelay", enabled);
}

/**
 * A wrapper that enables TCP keep-alive probes on TCP connections, TLS ones included (others
 * pass through). A client's TLS made by `Deno.startTls` (the `tls` option of
 * `createConnection`) hides its socket: the wrapper throws there; use `createConnection`'s
 * `keepAlive` option.
 *
 * @param enabled Whether to send keep-alive probes (default `true`).
 *
 * @example Keep idle connections probed
 * ```ts
 * import { keepAlive, WrapperChain, noDelay } from "@plexus/net/endpoints";
 *
 * const wrapper = new WrapperChain(noDelay(), keepAlive()).wrap;
 * ```
 */
export function keepAlive(enabled?: boolean): Wrapper {
  enabled ??= true;
  return (channel) => setOn(channel, "keepAlive", enabled);
}

/**
 * Sets a TCP option on the socket under `channel` (TLS through `node:tls` included) and
 * returns the channel. A `Deno.TlsConn` (client TLS by `Deno.startTls`) hides its socket: it
 * is refused rather than passed through, since the option would silently not apply. A user's
 * channel that hides the socket under it (one that forwards reads and writes) passes through.
 */
function setOn(channel: ByteChannel, option: SocketOption, enabled: boolean): ByteChannel {
  // Only a Deno.TlsConn: a user's channel over the socket (metrics, logging) passes through.
  const denoTls = typeof (channel as Partial<Deno.TlsConn>).handshake === "function";
  if (!setSocketOption(channel, option, enabled) && denoTls && socketKind(channel) === "tcp") {
    throw new TypeError(
      `Cannot set ${option}: the TLS connection hides its TCP socket; give createConnection's ` +
        `${option} option instead (it is set before the handshake)`,
    );
  }
  return channel;
}

/**
 * A wrapper that runs a TLS handshake over the connection and returns the encrypted channel:
 * the server side on accepted connections (with `cert` and `key`), the client side on
 * outgoing ones (`serverHostname` defaults to the peer's address). For an upgrade in the middle
 * of a conversation (STARTTLS) use `transport.startTls()` instead.
 *
 * @param options Server options (`cert`, `key`) and/or client options (`caCerts`, ...).
 *
 * @example TLS on both ends of a connection
 * ```ts
 * import { tls, type Wrapper } from "@plexus/net/endpoints";
 *
 * // A server's: the certificate and key are checked when the wrapper is made.
 * const serverWrapper = (cert: string, key: string): Wrapper => tls({ cert, key });
 * const clientWrapper = tls({ caCerts: ["-----BEGIN CERTIFICATE-----..."] });
 * ```
 */
export function tls(options: Partial<TlsServerOptions> & TlsClientOptions): Wrapper {
  if (options.handshakeTimeout !== undefined) {
    checkDelay("Cannot make a tls() wrapper: handshakeTimeout", options.handshakeTimeout, 0, true);
  }
  // As a TLS listener does: a bad certificate or key fails here, not on every handshake.
  if (options.cert !== undefined && options.key !== undefined) {
    checkTlsServerOptions({ ...options, cert: options.cert, key: options.key });
  }
  return async (channel, { side, signal, extra }) => {
    let upgraded;
    if (side === "server") {
      const { cert, key } = options;
      if (cert === undefined || key === undefined) {
        throw new TypeError("Cannot start TLS on an accepted connection: give cert and key");
      }
      upgraded = await startTlsServer(channel, { ...options, cert, key, signal });
    } else {
      const serverHostname = options.serverHostname ?? remoteHostname(channel);
      upgraded = await startTlsClient(channel, { ...options, serverHostname, signal });
      extra.serverHostname = serverHostname;
    }
    extra.tls = true;
    extra.alpnProtocol = upgraded.alpnProtocol;
    if (upgraded.tlsVersion !== undefined) extra.tlsVersion = upgraded.tlsVersion;
    if (upgraded.serverName !== undefined) extra.serverName = upgraded.serverName;
    return upgraded.channel;
  };
}
