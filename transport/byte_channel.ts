/**
 * A bidirectional byte channel: the four calls a {@linkcode StreamTransport} makes on its
 * socket. Every `Deno.Conn` (TCP, Unix, TLS) is one; so are the in-memory channels and the
 * adapter over Node streams that server-side STARTTLS uses.
 *
 * The contract is `Deno.Conn`'s: `read` resolves to the number of bytes put at the start of `p`
 * or `null` at end of stream; `write` may write fewer bytes than given and resolves to the
 * count; `closeWrite` half-closes; `close` closes both directions and makes pending `read` and
 * `write` calls reject.
 *
 * @example A `Deno.Conn` is a byte channel
 * ```ts
 * import type { ByteChannel } from "@plexus/net/transport";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepted = listener.accept();
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const channel: ByteChannel = conn;
 * channel.close();
 * (await accepted).close();
 * listener.close();
 * ```
 */
export interface ByteChannel {
  /** Reads into `p`; resolves to the byte count, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /**
   * Writes from `p`; resolves to the byte count written, which may be short. The channel is
   * done with `p` once the promise settles: a transport writes the next bytes into the same
   * memory. A channel that hands `p` on to something that keeps it (a stream's sink) passes
   * a copy.
   */
  write(p: Uint8Array): Promise<number>;
  /** Shuts down the write direction after pending writes. */
  closeWrite(): Promise<void>;
  /** Closes both directions now; pending calls reject. */
  close(): void;
  /**
   * Closes at once without ending the stream in order, for channels whose `close()` does
   * (a TLS channel sends `close_notify` first). Transports call it on `abort()` and errors.
   */
  abort?(): void;
  /** The local address, when the channel is a socket. */
  readonly localAddr?: Deno.Addr;
  /** The remote address, when the channel is a socket. */
  readonly remoteAddr?: Deno.Addr;
  /**
   * Settles once the channel has released everything after `close()`, when that happens later
   * than `close()` returns (adapters over Node streams). Transports wait for it before calling
   * `connectionLost()`.
   */
  readonly closed?: Promise<void>;
}

/**
 * How a channel that is not itself a `Deno.TcpConn` but runs over a TCP socket (TLS through
 * `node:tls`, a `node:net` socket) sets that socket's options: a method under this key.
 */
export const SOCKET_OPTIONS: unique symbol = Symbol("plexus.socketOptions");

/** A TCP option {@linkcode setSocketOption} sets. */
export type SocketOption = "noDelay" | "keepAlive";

/**
 * Sets `TCP_NODELAY` or `SO_KEEPALIVE` on the TCP socket under `channel`.
 *
 * @returns Whether a socket was reached: false for a channel with no TCP socket it can reach
 * (a Unix socket, the in-memory pair, a `Deno.TlsConn`, which hides its socket).
 */
export function setSocketOption(
  channel: ByteChannel,
  option: SocketOption,
  enabled: boolean,
): boolean {
  if (isTcpConn(channel)) {
    if (option === "noDelay") channel.setNoDelay(enabled);
    else channel.setKeepAlive(enabled);
    return true;
  }
  const set = (channel as { [SOCKET_OPTIONS]?: (o: SocketOption, e: boolean) => boolean })[
    SOCKET_OPTIONS
  ];
  return set?.call(channel, option, enabled) ?? false;
}

/**
 * The kind of socket `channel` runs over, from its local address: `"tcp"`, `"unix"`, or
 * undefined (no socket: the in-memory pair, Web Streams). A `Deno.TlsConn` made by
 * `Deno.startTls` reports its address without `transport` (Deno 2.9): a host and port is TCP.
 */
export function socketKind(channel: ByteChannel): "tcp" | "unix" | undefined {
  return addressKind(channel.localAddr);
}

/** The kind of socket a local address belongs to, as {@linkcode socketKind} reads it. */
export function addressKind(address: Deno.Addr | undefined): "tcp" | "unix" | undefined {
  const addr = address as Partial<Deno.NetAddr> | Deno.UnixAddr | undefined;
  if (addr == null) return undefined;
  if (addr.transport === "tcp" || addr.transport === "unix") return addr.transport;
  return addr.transport === undefined && "port" in addr ? "tcp" : undefined;
}

/** Whether `channel` is a plain `Deno.TcpConn` (the only kind `Deno.startTls` accepts). */
export function isTcpConn(channel: ByteChannel): channel is Deno.TcpConn {
  return typeof (channel as Partial<Deno.TcpConn>).setNoDelay === "function" &&
    channel.localAddr?.transport === "tcp";
}

/** The hostname of a channel's remote address; `localhost` when it has none (Unix, memory). */
export function remoteHostname(channel: ByteChannel): string {
  const addr = channel.remoteAddr;
  return addr && "hostname" in addr ? addr.hostname : "localhost";
}
