/** Loopback sockets and TLS fixtures for integration tests. */

import {
  type ByteChannel,
  createMemoryChannelPair,
  type StreamProtocolLike,
  StreamTransport,
  type StreamTransportOptions,
} from "@plexus/net/transport";

const fixtures = new URL("./fixtures/", import.meta.url);

/** The test CA and the leaf certificate for `localhost`, `127.0.0.1` and `::1`. */
export const tls = {
  ca: Deno.readTextFileSync(new URL("ca.pem", fixtures)),
  cert: Deno.readTextFileSync(new URL("leaf.pem", fixtures)),
  key: Deno.readTextFileSync(new URL("leaf.key", fixtures)),
};

/** Two connected TCP conns on 127.0.0.1. */
export async function tcpPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  return [client, await accepted];
}

/** Two stream transports over a fresh TCP connection on 127.0.0.1: [client, server]. */
export async function tcpTransports(
  client: StreamProtocolLike,
  server: StreamProtocolLike,
  options?: StreamTransportOptions,
): Promise<[StreamTransport, StreamTransport]> {
  const [a, b] = await tcpPair();
  return [new StreamTransport(a, client, options), new StreamTransport(b, server, options)];
}

/** The kinds of byte channel the transport tests run over. */
export type Backend = "tcp" | "unix" | "memory";

/** Every backend, for tests that must hold on all of them. */
export const BACKENDS: Backend[] = ["tcp", "unix", "memory"];

/** A connected channel pair of the given kind, and what removes its leftovers. */
export interface ChannelPair {
  client: ByteChannel;
  server: ByteChannel;
  /** Removes files the pair needed (the Unix socket's directory); call after closing. */
  cleanup(): Promise<void>;
}

/** Opens a connected [client, server] channel pair over TCP, a Unix socket or memory. */
export async function channelPair(kind: Backend, capacity?: number): Promise<ChannelPair> {
  if (kind === "memory") {
    const [client, server] = createMemoryChannelPair({ capacity });
    return { client, server, cleanup: () => Promise.resolve() };
  }
  if (kind === "tcp") {
    const [client, server] = await tcpPair();
    return { client, server, cleanup: () => Promise.resolve() };
  }
  const dir = await Deno.makeTempDir({ prefix: "plexus-test-" });
  const path = `${dir}/socket`;
  const listener = Deno.listen({ transport: "unix", path });
  const accepted = listener.accept();
  const client = await Deno.connect({ transport: "unix", path });
  const server = await accepted;
  listener.close();
  return { client, server, cleanup: () => Deno.remove(dir, { recursive: true }) };
}
