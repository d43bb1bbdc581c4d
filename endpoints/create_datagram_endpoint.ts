import { isIP } from "node:net";
import { lookup } from "node:dns/promises";
import { canonicalHost } from "../transport/_canonical_host.ts";
import { resolveHost } from "./_resolve_host.ts";
import { describeError, TransportError } from "../transport/errors.ts";
import type { DatagramProtocol, WriteBufferLimits } from "../transport/mod.ts";
import {
  SEND_SETTLED,
  type SendSettledOption,
  UdpTransport,
  type UdpTransportOptions,
} from "../transport/udp_transport.ts";
import { type Address, formatAddress, type HostPort, parseAddress } from "./address.ts";

/** Options of {@linkcode createDatagramEndpoint}. */
export interface DatagramEndpointOptions {
  /**
   * The local address to bind, as `"host:port"` or `{ hostname, port }`.
   *
   * @default {loopback for a loopback remote, else the wildcard of its family; port 0}
   */
  localAddress?: string | HostPort;
  /**
   * The default destination of `sendto()`; datagrams from anywhere else are dropped, as on a
   * connected UDP socket. A hostname is resolved once, here.
   */
  remoteAddress?: string | HostPort;
  /** Sets `SO_REUSEADDR` on the socket. */
  reuseAddress?: boolean;
  /** The write buffer watermarks (queued datagram bytes). */
  writeBufferLimits?: Partial<WriteBufferLimits>;
  /**
   * Pass datagrams as views of one reused receive buffer, valid during the callback only (see
   * `UdpTransportOptions.reuseReceiveBuffer`).
   *
   * @default {false}
   */
  reuseReceiveBuffer?: boolean;
}

/** A datagram transport and the protocol it drives. */
export interface DatagramEndpoint<P> {
  /** The transport over the new socket. */
  transport: UdpTransport;
  /** The protocol made by the factory. */
  protocol: P;
}

/**
 * Opens a UDP socket and connects a new datagram protocol to it (asyncio's
 * `loop.create_datagram_endpoint`). Needs `--unstable-net` (`"unstable": ["net"]`).
 *
 * @param protocolFactory Makes the protocol.
 * @param options The local and remote addresses and socket options; at least one address.
 * @returns The transport and the protocol; `connectionMade()` has been called.
 * @throws {TypeError} When neither address is given, one is malformed, or the local address
 * has no address in the remote's family (a local name is bound to one address of it, as
 * asyncio pairs `local_addr` with `remote_addr`).
 * @throws {TransportError} When the socket cannot be bound, or a host name (remote or local)
 * cannot be resolved.
 *
 * @example A UDP echo and a client
 * ```ts
 * import { createDatagramEndpoint } from "@plexus/net/endpoints";
 * import { DatagramProtocolAdapter } from "@plexus/net/protocol";
 * import { assertEquals } from "@std/assert";
 *
 * class Echo extends DatagramProtocolAdapter {
 *   override datagramReceived(data: Uint8Array, addr: Deno.NetAddr): void {
 *     this.transport!.sendto(data, addr);
 *   }
 * }
 * class Client extends DatagramProtocolAdapter {
 *   readonly reply = Promise.withResolvers<string>();
 *   override datagramReceived(data: Uint8Array): void {
 *     this.reply.resolve(new TextDecoder().decode(data));
 *   }
 * }
 * const server = await createDatagramEndpoint(() => new Echo(), { localAddress: "127.0.0.1:0" });
 * const client = await createDatagramEndpoint(() => new Client(), {
 *   remoteAddress: server.transport.getExtraInfo("sockname") as Deno.NetAddr,
 * });
 * client.transport.sendto(new TextEncoder().encode("ping"));
 * assertEquals(await client.protocol.reply.promise, "ping");
 * client.transport.close();
 * server.transport.close();
 * await Promise.all([client.transport.closed, server.transport.closed]);
 * ```
 */
export async function createDatagramEndpoint<P extends DatagramProtocol>(
  protocolFactory: () => P,
  options: DatagramEndpointOptions,
): Promise<DatagramEndpoint<P>> {
  if (options.localAddress === undefined && options.remoteAddress === undefined) {
    throw new TypeError("Cannot create a datagram endpoint: give localAddress or remoteAddress");
  }
  const remote = options.remoteAddress === undefined
    ? undefined
    : await resolveUdpAddress(options.remoteAddress);
  const local = options.localAddress === undefined
    ? { hostname: defaultLocalHost(remote!.hostname), port: 0 }
    : hostPort(options.localAddress);
  // A local name is bound to one address: with a remote, one of the remote's family (as
  // asyncio pairs local_addr with remote_addr), else Deno would take the first of any family.
  if (remote && isIP(local.hostname) === 0) {
    local.hostname = await localInFamily(local.hostname, isIP(remote.hostname));
  }
  // A socket of one family cannot send to the other (every send would fail, one at a time);
  // a "::" socket is dual-stack.
  const localHost = canonicalHost(local.hostname);
  const localFamily = isIP(localHost);
  if (
    remote && localFamily !== 0 && localFamily !== isIP(remote.hostname) && localHost !== "::"
  ) {
    throw new TypeError(
      `Cannot create a datagram endpoint: local ${local.hostname} and remote ${remote.hostname} are of different families`,
    );
  }
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({
      transport: "udp",
      hostname: local.hostname,
      port: local.port,
      reuseAddress: options.reuseAddress,
    });
  } catch (error) {
    throw new TransportError(
      `Cannot bind UDP socket to ${formatAddress({ transport: "tcp", ...local })}: ${
        describeError(error)
      }`,
      { cause: error },
    );
  }
  let protocol: P;
  let transport: UdpTransport;
  try {
    protocol = protocolFactory();
    // Throws for bad writeBufferLimits before it owns the socket: closed here.
    transport = new UdpTransport(socket, protocol, {
      remoteAddress: remote,
      writeBufferLimits: options.writeBufferLimits,
      reuseReceiveBuffer: options.reuseReceiveBuffer,
      [SEND_SETTLED]: (options as SendSettledOption)[SEND_SETTLED],
    } as UdpTransportOptions);
  } catch (error) {
    socket.close();
    throw error;
  }
  return { transport, protocol };
}

/** An address of `hostname` in `family` (4 or 6). */
async function localInFamily(hostname: string, family: number): Promise<string> {
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(hostname, { all: true });
  } catch (error) {
    throw new TransportError(`Cannot resolve ${hostname}: ${describeError(error)}`, {
      cause: error,
    });
  }
  const match = addresses.find((a) => a.family === family);
  if (match === undefined) {
    throw new TypeError(
      `Cannot create a datagram endpoint: local ${hostname} has no IPv${family} address, as the remote has`,
    );
  }
  return match.address;
}

/** The loopback address for a loopback remote, else the wildcard of the remote's family. */
function defaultLocalHost(remote: string): string {
  const v6 = isIP(remote) === 6;
  if (remote === "::1" || remote.startsWith("127.")) return v6 ? "::1" : "127.0.0.1";
  return v6 ? "::" : "0.0.0.0";
}

function hostPort(address: Address): { hostname: string; port: number } {
  const parsed = parseAddress(address);
  if (parsed.transport !== "tcp") throw new TypeError("A datagram address must be host and port");
  return parsed;
}

/** Parses a UDP address and resolves its hostname to an IP address (once, here). */
export async function resolveUdpAddress(address: Address): Promise<Deno.NetAddr> {
  const { hostname, port } = hostPort(address);
  // One spelling per address (::ffff:127.0.0.1 is 127.0.0.1): the loopback default and the
  // remote filter compare strings.
  const host = canonicalHost(await resolveHost(hostname));
  // The unspecified address as a destination means this host: replies come from loopback.
  const replying = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return { transport: "udp", hostname: replying, port };
}
