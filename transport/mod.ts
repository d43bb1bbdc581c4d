/**
 * Transports: byte channels over TCP, Unix, TLS, UDP and memory, with PEP 3156 flow control.
 *
 * A transport owns a socket, reads from it in large chunks and calls its protocol
 * (`connectionMade`, `dataReceived`, `eofReceived`, `connectionLost`), and buffers writes with
 * byte-accurate watermarks (`pauseWriting` / `resumeWriting`). Stream transports half-close,
 * upgrade to TLS on either side, and have a Web Streams face ({@linkcode StreamProtocol}).
 *
 * @example Echo over TCP with a protocol
 * ```ts
 * import { StreamTransport, type Transport } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepting = listener.accept().then((conn) => {
 *   let transport: Transport;
 *   return new StreamTransport(conn, {
 *     connectionMade: (t) => transport = t,
 *     dataReceived: (data) => transport.write(data),
 *   });
 * });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * let text = "";
 * const decoder = new TextDecoder();
 * const client = new StreamTransport(conn, {
 *   dataReceived: (data) => text += decoder.decode(data, { stream: true }),
 * });
 * client.write(new TextEncoder().encode("echo me"));
 * client.writeEof();
 * await client.closed;
 * await (await accepting).closed;
 * listener.close();
 * assertEquals(text, "echo me");
 * ```
 *
 * @module
 */

export type { ByteChannel } from "./byte_channel.ts";
export {
  DEADLINE_CLOSE_GRACE,
  DeadlineClock,
  type DeadlineClockHooks,
  type Deadlines,
} from "./deadline_clock.ts";
export {
  DeadlineError,
  type DeadlineLimit,
  TransportError,
  WriteBufferOverflowError,
} from "./errors.ts";
export { CallbackError, logCallbackError } from "./callback_error.ts";
export { hexdump, hexdumpLine, type HexdumpOptions } from "./hexdump.ts";
export {
  CONNECTION_CHANNEL,
  type ConnectionTraceEvent,
  FRAME_CHANNEL,
  type FrameTraceEvent,
  PACKET_CHANNEL,
  type PacketTraceMessage,
  subscribe,
  type TraceDirection,
  type TraceHandlers,
  type TraceSubscription,
  traceToConsole,
  type TraceToConsoleOptions,
} from "./trace.ts";
export type { TelemetryMeter, TelemetryTracer } from "./telemetry.ts";
export {
  addCounters,
  type CloseReason,
  type FramedStats,
  type ServerStats,
  statsBeforeConnected,
  type TransportCounters,
  type TransportStats,
  type UdpManagerStats,
  zeroCounters,
} from "./stats.ts";
export { createMemoryChannelPair, type MemoryChannelOptions } from "./memory_channel.ts";
export {
  createMemoryTransportPair,
  type MemoryTransportPairOptions,
} from "./memory_transport_pair.ts";
export type {
  BaseProtocol,
  BufferedProtocol,
  DatagramProtocol,
  PeerHold,
  Protocol,
  ShutdownHook,
  StreamProtocolLike,
} from "./protocols.ts";
export {
  APPEND_BY_REFERENCE,
  SEAL_SIZE,
  SendBuffer,
  type SendBufferOptions,
} from "./send_buffer.ts";
export { type ByteStreams, StreamsChannel, type StreamsChannelOptions } from "./streams_channel.ts";
export { StreamProtocol, type StreamProtocolOptions } from "./stream_protocol.ts";
export {
  DEFAULT_READ_SIZE,
  StreamTransport,
  type StreamTransportOptions,
  type WrapChannelOptions,
} from "./stream_transport.ts";
export { TlsHandshakeTimeoutError } from "./tls_errors.ts";
export {
  DEFAULT_HANDSHAKE_TIMEOUT,
  type StartTlsOptions,
  type StartTlsServerOptions,
  type TlsCertificate,
  type TlsClientOptions,
  type TlsServerOptions,
} from "./tls_options.ts";
export type {
  BaseTransport,
  DatagramTransport,
  ExtraInfo,
  ReadTransport,
  Transport,
  WriteBufferLimits,
  WriteTransport,
} from "./types.ts";
export { UdpTransport, type UdpTransportOptions } from "./udp_transport.ts";
