/**
 * Endpoints: open and serve connections with protocols (asyncio's `create_connection`,
 * `create_server`, `create_datagram_endpoint`, `open_connection`).
 *
 * Addresses are `"host:port"`, `"[::1]:port"`, `{ hostname, port }` or a Unix socket
 * `{ path }`. Failures are {@linkcode TransportError}s whose message names the address and the
 * reason.
 *
 * @example Serve and connect
 * ```ts
 * import { createServer, openConnection } from "@plexus/net/endpoints";
 * import { ProtocolAdapter } from "@plexus/net/protocol";
 * import { assertEquals } from "@std/assert";
 *
 * class Echo extends ProtocolAdapter {
 *   override dataReceived(data: Uint8Array): void {
 *     this.transport!.write(data);
 *   }
 * }
 * await using server = await createServer(() => new Echo(), "127.0.0.1:0");
 * const { readable, writable } = await openConnection(server.addresses[0]);
 * await new Blob(["echo"]).stream().pipeTo(writable);
 * assertEquals(await new Response(readable).text(), "echo");
 * ```
 *
 * @module
 */

export {
  type Address,
  formatAddress,
  type HostPort,
  parseAddress,
  type ParsedAddress,
  type UnixPath,
} from "./address.ts";
export {
  type Connection,
  createConnection,
  type CreateConnectionOptions,
} from "./create_connection.ts";
export {
  createDatagramEndpoint,
  type DatagramEndpoint,
  type DatagramEndpointOptions,
} from "./create_datagram_endpoint.ts";
export { openConnection, type StreamConnection } from "./open_connection.ts";
export { Client, type ClientOptions } from "./client.ts";
export {
  createServer,
  type CreateServerOptions,
  type ListenOptions,
  type RunOptions,
  Server,
  type ServerOptions,
  type ServerTelemetryOptions,
  SHUTDOWN_CLOSE_GRACE,
  type ShutdownOptions,
} from "./server.ts";
export {
  acceptConnections,
  AcceptError,
  type AcceptFailureKind,
  type AcceptOptions,
  DEFAULT_ACCEPT_BACKOFF,
} from "./accept.ts";
export { TcpTendrilManager } from "./tcp_tendril_manager.ts";
export {
  type Acceptor,
  Application,
  RejectConnection,
  type Tendril,
  type TendrilFramers,
} from "./tendril.ts";
export {
  getManager,
  registerManager,
  type TendrilManager,
  type TendrilManagerFactory,
  type TendrilManagerOptions,
} from "./tendril_manager.ts";
export {
  PeerEvictedError,
  UdpTendrilManager,
  type UdpTendrilManagerOptions,
} from "./udp_tendril_manager.ts";
export {
  keepAlive,
  noDelay,
  tls,
  type WrapContext,
  type Wrapper,
  WrapperChain,
} from "./wrappers.ts";
export { TinyprotoClient, type TinyprotoClientOptions } from "./tinyproto_client.ts";
export { TinyprotoServer, type TinyprotoServerOptions } from "./tinyproto_server.ts";
