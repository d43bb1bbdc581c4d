/**
 * Framing: byte streams cut into frames and frames turned back into bytes, with the framer
 * switchable per direction in the middle of a stream (Tendril's framers, tokio's codecs,
 * Netty's frame decoders), plus tinyproto transmissions.
 *
 * - A {@linkcode Decoder} takes one frame at a time out of a {@linkcode ReceiveBuffer} owned by
 *   the connection; an {@linkcode Encoder} writes a frame into a {@linkcode SendBuffer}.
 * - {@linkcode FramedProtocol} runs them on a transport: `frameReceived(frame)` in,
 *   `sendFrame(frame)` out, framers replaceable at any time without losing a byte.
 * - {@linkcode MessageProtocol} runs a decoder into a bounded queue served by an async handler
 *   (gruvi's `MessageProtocol`).
 * - {@linkcode FrameDecoderStream} and {@linkcode FrameEncoderStream} run them on Web Streams.
 * - Built-in framers: {@linkcode LineFramer}, {@linkcode DelimiterFramer},
 *   {@linkcode LengthPrefixedFramer}, {@linkcode NetstringFramer}, {@linkcode CobsFramer}
 *   (plain, zero-pair elimination, COBS/R), {@linkcode ChunkFramer},
 *   {@linkcode IdentityFramer}, {@linkcode StuffingFramer}, {@linkcode DotTerminatedFramer}.
 *   Each has a maximum frame size and throws {@linkcode FrameTooLongError} before allocating
 *   for an oversized frame.
 * - {@linkcode TinyprotoProtocol} speaks tinyproto 2.0.1 transmissions, safely in both
 *   directions at once.
 *
 * > **Keeping frames: copy them.** A frame handed to `frameReceived` is a *view* into the
 * > connection's receive block, not a copy (that is what makes decoding allocation-free). A view
 * > you store keeps its whole block (up to the read size, 1–256 KiB) alive: an SMTP server that
 * > stored 3000 small messages as views pinned 172 MiB. Store `frame.slice()`.
 *
 * @example A line-based echo server over the in-memory transport pair
 * ```ts
 * import { FramedProtocol, LineFramer } from "@plexus/net/framing";
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const server = new FramedProtocol(new LineFramer(), {
 *   frameReceived: (line, framed) => framed.sendFrame(line),
 * });
 * const replies: string[] = [];
 * const client = new FramedProtocol(new LineFramer(), {
 *   connectionMade(framed) {
 *     framed.sendFrame(new TextEncoder().encode("ping"));
 *     framed.sendFrame(new TextEncoder().encode("pong"));
 *   },
 *   frameReceived(line, framed) {
 *     replies.push(new TextDecoder().decode(line));
 *     if (replies.length === 2) framed.close();
 *   },
 * });
 * createMemoryTransportPair(server, client);
 * await client.closed;
 * await server.closed;
 * assertEquals(replies, ["ping", "pong"]);
 * ```
 *
 * @module
 */

export { ChunkFramer, type ChunkFramerOptions } from "./chunk.ts";
export { CobsFramer, type CobsFramerOptions, type CobsVariant } from "./cobs.ts";
export { decodeFrames, encodeFrame } from "./codec.ts";
export { FrameDecoderStream } from "./decoder_stream.ts";
export { DelimiterFramer, type DelimiterFramerOptions } from "./delimiter.ts";
export { DotTerminatedFramer, type DotTerminatedFramerOptions } from "./dot_terminated.ts";
export { FrameEncoderStream } from "./encoder_stream.ts";
export {
  CorruptFrameError,
  FrameTooLongError,
  FramingError,
  TransmissionRejectedError,
  TruncatedFrameError,
} from "./errors.ts";
export {
  FramedProtocol,
  type FramedProtocolOptions,
  type FrameHandler,
} from "./framed_protocol.ts";
export type { Decoder, Encoder, Framer } from "./framer.ts";
export { IdentityFramer } from "./identity.ts";
export {
  DEFAULT_MAX_FRAME_LENGTH,
  type LengthFieldLength,
  LengthPrefixedFramer,
  type LengthPrefixedFramerOptions,
} from "./length_prefixed.ts";
export { LineFramer, type LineFramerOptions } from "./line.ts";
export {
  type MessageHandler,
  MessageProtocol,
  type MessageProtocolOptions,
} from "./message_protocol.ts";
export { NetstringFramer, type NetstringFramerOptions } from "./netstring.ts";
export { MIN_READ_SIZE, ReceiveBuffer, type ReceiveBufferOptions } from "./receive_buffer.ts";
export { StuffingFramer, type StuffingFramerOptions } from "./stuffing.ts";
export {
  TINYPROTO_MAX_SIZE,
  type TinyprotoHandler,
  type TinyprotoOptions,
  TinyprotoProtocol,
} from "./tinyproto.ts";
export {
  decodeBSUInt,
  type DecodedVarint,
  decodeLeb128,
  encodeBSUInt,
  encodeLeb128,
  MAX_VARINT_LENGTH,
  varintLength,
  writeBSUInt,
} from "./varint.ts";
