import { FrameReader } from "./_frame_reader.ts";
import type { Decoder } from "./framer.ts";

/**
 * The Web Streams face of a decoder: a `TransformStream` from byte chunks to frames.
 *
 * Each chunk is appended to a receive buffer and every whole frame is enqueued. At the end of
 * the input, the decoder's `decodeEof` runs, and bytes left over error the stream with
 * {@linkcode TruncatedFrameError}; a decoder's {@linkcode FramingError} errors it too.
 *
 * @typeParam T The frame type.
 *
 * @example Lines from a byte stream
 * ```ts
 * import { FrameDecoderStream, LineFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = ReadableStream.from([new TextEncoder().encode("a\r\nb"), new TextEncoder().encode("c\n")]);
 * const lines = await Array.fromAsync(bytes.pipeThrough(new FrameDecoderStream(new LineFramer())));
 * assertEquals(lines.map((l) => new TextDecoder().decode(l)), ["a", "bc"]);
 * ```
 */
export class FrameDecoderStream<T = Uint8Array> extends TransformStream<Uint8Array, T> {
  /**
   * Creates the stream.
   *
   * @param decoder The decoder (any framer; one per stream).
   */
  constructor(decoder: Decoder<T>) {
    let out: TransformStreamDefaultController<T> | undefined;
    const reader = new FrameReader(
      decoder,
      (frame: T) => {
        out!.enqueue(frame);
      },
      undefined,
      { initialCapacity: 0 },
    );
    super({
      transform(chunk, controller) {
        out = controller;
        reader.buffer.append(chunk);
        reader.read();
      },
      flush(controller) {
        out = controller;
        reader.finish();
      },
    });
  }
}
