import { FrameReader } from "./_frame_reader.ts";
import type { Decoder, Encoder } from "./framer.ts";
import { SendBuffer } from "../transport/send_buffer.ts";

/**
 * Encodes one frame into a new byte array: the one-shot form of {@linkcode Encoder.encode}.
 *
 * @typeParam T The frame type.
 * @param encoder The encoder (any framer).
 * @param frame The frame.
 * @returns The encoded bytes.
 * @throws {FramingError} When the frame cannot be encoded.
 *
 * @example Encode a netstring
 * ```ts
 * import { encodeFrame, NetstringFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeFrame(new NetstringFramer(), new TextEncoder().encode("hello"));
 * assertEquals(new TextDecoder().decode(bytes), "5:hello,");
 * ```
 */
export function encodeFrame<T>(encoder: Encoder<T>, frame: T): Uint8Array {
  const out = new SendBuffer({ blockSize: 256 });
  encoder.encode(frame, out);
  return out.take();
}

/**
 * Decodes a whole byte stream into frames, end of stream included: the one-shot form of
 * {@linkcode Decoder.decode}.
 *
 * @typeParam T The frame type.
 * @param decoder The decoder (any framer; use a fresh one).
 * @param bytes The complete stream.
 * @returns The frames, in order.
 * @throws {FramingError} When the stream is bad, or {@linkcode TruncatedFrameError} when it
 * ends inside a frame.
 *
 * @example Decode COBS frames
 * ```ts
 * import { CobsFramer, decodeFrames } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const frames = decodeFrames(new CobsFramer(), new Uint8Array([3, 0x11, 0x22, 2, 0x33, 0, 1, 0]));
 * assertEquals(frames, [new Uint8Array([0x11, 0x22, 0, 0x33]), new Uint8Array([])]);
 * ```
 */
export function decodeFrames<T>(decoder: Decoder<T>, bytes: Uint8Array): T[] {
  const frames: T[] = [];
  const reader = new FrameReader(
    decoder,
    (frame: T) => {
      frames.push(frame);
    },
    undefined,
    { initialCapacity: bytes.byteLength },
  );
  reader.buffer.append(bytes);
  reader.read();
  reader.finish();
  return frames;
}
