import { checkDelay } from "../transport/_delay.ts";
import { connect as nodeConnect, isIP } from "node:net";
import { lookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import { type ByteChannel, isTcpConn, remoteHostname } from "../transport/byte_channel.ts";
import { TlsHandshakeTimeoutError } from "../transport/tls_errors.ts";
import { describeError, TransportError } from "../transport/errors.ts";
import { NodeStreamChannel } from "../transport/_node_channel.ts";
import { type Cancellation, linkCancellation } from "../transport/_cancellation.ts";
import { startTlsClient } from "../transport/_tls_upgrade.ts";
import type { TlsClientOptions } from "../transport/tls_options.ts";
import type { ExtraInfo, StreamProtocolLike, StreamTransportOptions } from "../transport/mod.ts";
import { checkStreamTransportOptions, StreamTransport } from "../transport/stream_transport.ts";
import { SOCKET_ADDRESS, type SocketAddressExtra } from "../transport/_linger.ts";
import { asWrapper, type Wrapper, type WrapperChain } from "./wrappers.ts";
import {
  type Address,
  formatAddress,
  type HostPort,
  parseAddress,
  type ParsedAddress,
} from "./address.ts";

/** Options of {@linkcode createConnection}. */
export interface CreateConnectionOptions extends StreamTransportOptions {
  /** Connect with TLS: `true` for defaults, or the client options. */
  tls?: boolean | TlsClientOptions;
  /**
   * The name the TLS certificate must match (overrides `tls.serverHostname`).
   *
   * @default {the hostname connected to}
   */
  serverHostname?: string;
  /**
   * The local address to connect from, as `"host:port"` or `{ hostname, port }` (port 0 or
   * none lets the OS choose); a host name is resolved first and paired with the first of the
   * target's addresses in one of its families. TCP only: refused (a `TypeError`) for a Unix
   * socket or an already connected `Deno.Conn`, which it cannot apply to.
   */
  localAddress?: string | Partial<HostPort>;
  /**
   * Milliseconds for the whole connection: connect plus TLS handshake.
   *
   * @default {no limit but the OS's and `tls.handshakeTimeout`}
   */
  timeout?: number;
  /** Aborts the attempt; the returned promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Disables Nagle's algorithm (`TCP_NODELAY`), as asyncio does: with writes coalesced per
   * turn, small messages go out at once instead of waiting for an ACK.
   *
   * @default {true}
   */
  noDelay?: boolean;
  /** Enables TCP keep-alive probes. */
  keepAlive?: boolean;
  /**
   * Applied to the connection (after the TLS handshake, if any) before the protocol is made:
   * socket options, TLS, ... (see {@linkcode Wrapper}).
   */
  wrapper?: Wrapper | WrapperChain;
}

/** A connected transport and the protocol it drives. */
export interface Connection<P> {
  /** The transport over the new connection. */
  transport: StreamTransport;
  /** The protocol made by the factory. */
  protocol: P;
}

/**
 * Opens a stream connection and connects a new protocol to it (asyncio's
 * `loop.create_connection`).
 *
 * The address may be `"host:port"`, `"[::1]:port"`, `{ hostname, port }`, a Unix socket
 * `{ path }`, or an already connected `Deno.Conn` (then only TLS and the transport are set up).
 * TLS uses `Deno.startTls` after the TCP connect, so `noDelay` applies to TLS too.
 *
 * @param protocolFactory Makes the protocol, once the connection is up.
 * @param address Where to connect.
 * @param options TLS, timeout, cancellation, socket and transport options.
 * @returns The transport and the protocol; `connectionMade()` has been called.
 * @throws {TypeError} For a malformed address, or a `localAddress` with a Unix socket or a
 * `Deno.Conn`. A given `Deno.Conn` is ours from the call on: every failure closes it, bad
 * options included.
 * @throws {RangeError} For an option out of range (`timeout`, `tls.handshakeTimeout`, a
 * transport option such as `writeBufferLimits` or `lingerTimeout`), before anything is
 * dialled.
 * @throws {TransportError} When the connection fails; the message names the address and the
 * reason (`connection refused`, `failed to lookup address`, `timed out after 5000 ms`,
 * `certificate not valid for name "x"`), and `cause` holds the underlying error.
 *
 * @example Connect to a local echo server
 * ```ts
 * import { createConnection, createServer } from "@plexus/net/endpoints";
 * import { ProtocolAdapter } from "@plexus/net/protocol";
 * import { assertEquals } from "@std/assert";
 *
 * class Echo extends ProtocolAdapter {
 *   override dataReceived(data: Uint8Array): void {
 *     this.transport!.write(data);
 *   }
 * }
 * class Client extends ProtocolAdapter {
 *   reply = "";
 *   override dataReceived(data: Uint8Array): void {
 *     this.reply += new TextDecoder().decode(data);
 *   }
 * }
 * await using server = await createServer(() => new Echo(), "127.0.0.1:0");
 * const { transport, protocol } = await createConnection(() => new Client(), server.addresses[0]);
 * transport.write(new TextEncoder().encode("ping"));
 * transport.writeEof();
 * await transport.closed;
 * assertEquals(protocol.reply, "ping");
 * ```
 */
export async function createConnection<P extends StreamProtocolLike>(
  protocolFactory: () => P,
  address: Address | Deno.Addr | Deno.Conn,
  options?: CreateConnectionOptions,
): Promise<Connection<P>> {
  options ??= {};
  const conn = isConn(address) ? address : undefined;
  try {
    // Before anything is dialled: a bad option must not cost the peer a connection.
    checkStreamTransportOptions(options);
  } catch (error) {
    closeQuietly(conn); // ours from the call on, as every failure's
    throw error;
  }
  const target = conn ? undefined : parseAddress(address as Address);
  // A plain TCP dial (no signal, timeout, local address, TLS or wrapper) takes the short path:
  // no cancellation to link (measured, an AbortController, its listeners and Deno.connect's
  // cancel handle cost a few µs of a short connection's ~100 µs), and no second async step.
  let connected: Connected;
  if (
    target?.transport === "tcp" && options.signal === undefined &&
    options.timeout === undefined && !options.tls && options.wrapper === undefined &&
    options.localAddress === undefined
  ) {
    let channel: Deno.TcpConn | undefined;
    try {
      channel = await Deno.connect({ hostname: target.hostname, port: target.port });
      configure(channel, options);
    } catch (error) {
      closeQuietly(channel);
      throw connectFailed(formatAddress(target), error);
    }
    connected = { channel, extra: socketFacts(channel, options) };
  } else connected = await connectAny(conn, target, options);
  return start(protocolFactory, connected, options);
}

/** A connected channel and the socket's facts, before the transport is made. */
interface Connected {
  channel: ByteChannel;
  extra: ExtraInfo;
}

/** Every other connection: a Unix socket, a given `Deno.Conn`, a local address, TLS, a wrapper. */
async function connectAny(
  conn: Deno.Conn | undefined,
  target: ParsedAddress | undefined,
  options: CreateConnectionOptions,
): Promise<Connected> {
  let local: TcpAddress | undefined;
  try {
    if (options.timeout !== undefined) {
      checkDelay("Cannot connect: timeout", options.timeout, 0, true);
    }
    const handshakeTimeout = typeof options.tls === "object"
      ? options.tls.handshakeTimeout
      : undefined;
    if (handshakeTimeout !== undefined) {
      checkDelay("Cannot connect: tls.handshakeTimeout", handshakeTimeout, 0, true);
    }
    if (options.localAddress !== undefined) local = parseLocal(options.localAddress, target);
  } catch (error) {
    // A given conn is ours from the call on: closed on every failure, bad options included.
    closeQuietly(conn);
    throw error;
  }
  // Named in errors only: formatted when one is made, not on every connection.
  const label = (): string => target ? formatAddress(target) : formatAddress(conn!.remoteAddr);
  const cancel = linkCancellation(
    options.signal,
    options.timeout,
    `Cannot connect to ${label()}: timed out after ${options.timeout} ms`,
  );
  let channel: ByteChannel | undefined = conn;
  try {
    channel ??= await dial(target!, local, options, cancel);
    configure(channel, options);
    // The socket's addresses, kept when TLS or a wrapper puts another channel over it.
    const extra = socketFacts(channel, options);
    if (options.tls) {
      const tls = options.tls === true ? {} : options.tls;
      const serverHostname = options.serverHostname ?? tls.serverHostname ??
        (target?.transport === "tcp" ? target.hostname : remoteHostname(channel));
      const upgrade = channel;
      channel = undefined; // startTlsClient owns it now and closes it on failure.
      const upgraded = await startTlsClient(upgrade, {
        ...tls,
        serverHostname,
        signal: cancel.signal,
      });
      channel = upgraded.channel;
      Object.assign(extra, { tls: true, serverHostname, alpnProtocol: upgraded.alpnProtocol });
      if (upgraded.tlsVersion !== undefined) extra.tlsVersion = upgraded.tlsVersion;
    }
    const wrapper = asWrapper(options.wrapper);
    if (wrapper) {
      // Raced, as a server races its wrappers: one that ignores its signal must not outlast
      // the timeout or the caller's abort (what it returns late is closed).
      const wrapped: ByteChannel | undefined = await cancel.race(
        Promise.resolve(wrapper(channel, { side: "client", signal: cancel.signal, extra })),
      );
      if (typeof wrapped?.read !== "function") {
        throw new TypeError(`The wrapper returned ${String(wrapped)}, not a channel`);
      }
      channel = wrapped;
    }
    cancel.signal.throwIfAborted();
    return { channel, extra };
  } catch (error) {
    closeQuietly(channel);
    throw cancel.signal.aborted ? cancel.reason() : connectFailed(label(), error);
  } finally {
    cancel.dispose();
  }
}

/** Socket options of a TCP connection: `noDelay` (on by default) and `keepAlive`. */
function configure(channel: ByteChannel, options: CreateConnectionOptions): void {
  if (!isTcpConn(channel)) return;
  channel.setNoDelay(options.noDelay ?? true);
  if (options.keepAlive !== undefined) channel.setKeepAlive(options.keepAlive);
}

/** The socket's addresses and the caller's extra facts. */
function socketFacts(channel: ByteChannel, options: CreateConnectionOptions): ExtraInfo {
  const facts: ExtraInfo & SocketAddressExtra = {
    [SOCKET_ADDRESS]: channel.localAddr,
    sockname: channel.localAddr,
    peername: channel.remoteAddr,
    ...options.extra,
  };
  return facts;
}

function connectFailed(label: string, error: unknown): TransportError {
  // Typed as it is (it names the peer already): a caller tells a silent TLS peer this way.
  if (error instanceof TlsHandshakeTimeoutError) return error;
  return new TransportError(`Cannot connect to ${label}: ${describeError(error)}`, {
    cause: error,
  });
}

/** Makes the protocol and the transport over a connected channel. */
function start<P extends StreamProtocolLike>(
  protocolFactory: () => P,
  connected: Connected,
  options: CreateConnectionOptions,
): Connection<P> {
  let protocol: P;
  let transport: StreamTransport;
  try {
    protocol = protocolFactory();
    // Throws for a bad transport option (idleTimeout, writeBufferLimits, ...) before it owns
    // the channel: the connection is closed here, as for a factory that throws.
    transport = new StreamTransport(connected.channel, protocol, {
      ...options,
      extra: connected.extra,
    });
  } catch (error) {
    connected.channel.close();
    throw error;
  }
  return { transport, protocol };
}

type TcpAddress = { hostname: string; port: number };

/**
 * The local address to connect from. Refused, not ignored, where it cannot apply: a Unix socket
 * has no local address to bind, and a given `Deno.Conn` is bound already.
 */
function parseLocal(
  address: string | Partial<HostPort>,
  target: ParsedAddress | undefined,
): TcpAddress {
  if (target?.transport !== "tcp") {
    const to = target
      ? `the Unix socket ${formatAddress(target)}`
      : "an already connected Deno.Conn";
    throw new TypeError(`Cannot connect to ${to}: localAddress applies to TCP only`);
  }
  const local = typeof address === "string"
    ? parseAddress(address)
    : parseAddress({ hostname: address.hostname, port: address.port ?? 0 });
  if (local.transport !== "tcp") throw new TypeError("localAddress must be a TCP address");
  return local;
}

async function dial(
  target: ParsedAddress,
  local: TcpAddress | undefined,
  options: CreateConnectionOptions,
  cancel: Cancellation,
): Promise<ByteChannel> {
  if (target.transport === "unix") {
    return await cancel.race(Deno.connect({ transport: "unix", path: target.path }));
  }
  if (local) return await dialFrom(target, local, options, cancel);
  return await Deno.connect({
    hostname: target.hostname,
    port: target.port,
    signal: cancel.signal,
  });
}

/** Connects from a given local address: `Deno.connect` cannot bind, `node:net` can. */
async function dialFrom(
  target: TcpAddress,
  local: TcpAddress,
  options: CreateConnectionOptions,
  cancel: Cancellation,
): Promise<ByteChannel> {
  const [host, localIp] = await cancel.race(pairFamilies(target.hostname, local.hostname));
  const socket = nodeConnect({
    host,
    port: target.port,
    localAddress: localIp,
    localPort: local.port || undefined,
    // Resolve the name in the local address's family: node:net tries only the first address
    // of a name, which may be of the other family (EINVAL from bind + connect).
    family: isIP(localIp),
    // Keep our write side open after the peer's EOF: half-close is ours to decide.
    allowHalfOpen: true,
    noDelay: options.noDelay ?? true,
    keepAlive: options.keepAlive,
  });
  const channel = new NodeStreamChannel(socket);
  try {
    await cancel.race(
      new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("error", reject);
      }),
    );
    return channel;
  } catch (error) {
    channel.close();
    await channel.closed;
    throw error;
  }
}

/**
 * The target host and the local IP to connect from, in one family: node:net binds only to an
 * IP, so a local name is resolved first, and paired with the first of the target's addresses
 * (a name is resolved too) that has a local address of its family, as asyncio pairs
 * `local_addr` with the target's addresses.
 */
async function pairFamilies(target: string, local: string): Promise<[string, string]> {
  if (isIP(local) !== 0) return [target, local];
  let locals: LookupAddress[];
  try {
    locals = await lookup(local, { all: true });
  } catch (error) {
    throw new TransportError(`Cannot resolve localAddress "${local}": ${describeError(error)}`, {
      cause: error,
    });
  }
  const targets: LookupAddress[] = isIP(target) !== 0
    ? [{ address: target, family: isIP(target) }]
    : await lookup(target, { all: true });
  for (const candidate of targets) {
    const match = locals.find((address) => address.family === candidate.family);
    if (match) return [candidate.address, match.address];
  }
  throw new TransportError(
    `localAddress "${local}" has no address in the family of "${target}"'s addresses`,
  );
}

function isConn(value: unknown): value is Deno.Conn {
  return typeof value === "object" && value !== null &&
    typeof (value as Deno.Conn).read === "function" &&
    typeof (value as Deno.Conn).closeWrite === "function";
}

function closeQuietly(channel: ByteChannel | undefined): void {
  try {
    channel?.close();
  } catch {
    // Already closed.
  }
}
