import { createMemoryChannelPair, type MemoryChannelOptions } from "./memory_channel.ts";
import type { StreamProtocolLike } from "./protocols.ts";
import { StreamTransport, type StreamTransportOptions } from "./stream_transport.ts";

/** Options of {@linkcode createMemoryTransportPair}. */
export interface MemoryTransportPairOptions extends MemoryChannelOptions {
  /** Options for both transports (watermarks, read size). */
  transport?: StreamTransportOptions;
}

/**
 * Connects two protocols through in-memory stream transports, for fast protocol tests. Both
 * ends are ordinary {@linkcode StreamTransport}s over {@linkcode createMemoryChannelPair}
 * channels, so writes, flow control, half-close, `close()` and `abort()` behave as over TCP.
 *
 * `a.connectionMade()` is called first, then `b.connectionMade()`.
 *
 * @param a The protocol of the first end.
 * @param b The protocol of the second end.
 * @param options Channel capacity and transport options.
 * @returns The transports driving `a` and `b`.
 *
 * @example Test a protocol without sockets
 * ```ts
 * import { createMemoryTransportPair, type Transport } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * let server: Transport | undefined;
 * const got: string[] = [];
 * const [, client] = createMemoryTransportPair(
 *   {
 *     connectionMade: (t) => server = t,
 *     dataReceived: (d) => server!.write(d),
 *   },
 *   { dataReceived: (d) => got.push(new TextDecoder().decode(d)) },
 * );
 * client.write(new TextEncoder().encode("ping"));
 * client.writeEof();
 * await client.closed;
 * assertEquals(got.join(""), "ping");
 * ```
 */
export function createMemoryTransportPair(
  a: StreamProtocolLike,
  b: StreamProtocolLike,
  options?: MemoryTransportPairOptions,
): [StreamTransport, StreamTransport] {
  options ??= {};
  const [channelA, channelB] = createMemoryChannelPair(options);
  return [
    new StreamTransport(channelA, a, options.transport),
    new StreamTransport(channelB, b, options.transport),
  ];
}
