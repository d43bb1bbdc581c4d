import { StreamProtocol } from "../transport/stream_protocol.ts";
import type { StreamTransport } from "../transport/stream_transport.ts";
import type { Address } from "./address.ts";
import { createConnection, type CreateConnectionOptions } from "./create_connection.ts";

/** A connection seen as Web Streams, from {@linkcode openConnection}. */
export interface StreamConnection {
  /** Bytes from the peer; closes at the peer's EOF. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; closing it sends EOF (a half-close). */
  writable: WritableStream<Uint8Array>;
  /** The transport underneath, for `close()`, `abort()`, `getExtraInfo()`, `closed`. */
  transport: StreamTransport;
}

/**
 * Connects and returns the connection as a readable and a writable stream (asyncio's
 * `open_connection`). Unlike `Deno.Conn`'s own streams, reading to the end does not close the
 * write side, and closing the writable sends EOF instead of closing the socket.
 *
 * @param address Where to connect (as for {@linkcode createConnection}).
 * @param options As for {@linkcode createConnection}.
 * @returns The streams and the transport.
 *
 * @example Send a request, half-close, read the answer
 * ```ts
 * import { createServer, openConnection } from "@plexus/net/endpoints";
 * import { ProtocolAdapter } from "@plexus/net/protocol";
 * import { assertEquals } from "@std/assert";
 *
 * class Shout extends ProtocolAdapter {
 *   override dataReceived(data: Uint8Array): void {
 *     this.transport!.write(new TextEncoder().encode(new TextDecoder().decode(data).toUpperCase()));
 *   }
 * }
 * await using server = await createServer(() => new Shout(), "127.0.0.1:0");
 * const { readable, writable } = await openConnection(server.addresses[0]);
 * const writer = writable.getWriter();
 * await writer.write(new TextEncoder().encode("hello"));
 * await writer.close();
 * assertEquals(await new Response(readable).text(), "HELLO");
 * ```
 */
export async function openConnection(
  address: Address | Deno.Addr | Deno.Conn,
  options?: CreateConnectionOptions,
): Promise<StreamConnection> {
  const { transport, protocol } = await createConnection(
    () => new StreamProtocol(),
    address,
    options,
  );
  return { readable: protocol.readable, writable: protocol.writable, transport };
}
