import { FrameReader } from "./_frame_reader.ts";
import type { Decoder } from "./framer.ts";

/**
 * The Web Streams face of a decoder: a `TransformStream` from byte chunks to frames.
 *
 * Each chunk is appended to a receive buffer and every whole frame is enqueued, as the
 * reader's own: a byte frame is a copy (a view would share its `ArrayBuffer` with the frames
 * after it, which a reader that transfers one, into a byte stream or a worker, would empty).
 * At the end of the input, the decoder's `decodeEof` runs, and bytes left over error the
 * stream with {@linkcode TruncatedFrameError}; a decoder's {@linkcode FramingError} errors it
 * too, after the frames decoded before the bad bytes (when read through a pipe: a writer that
 * closes without waiting for `ready` may lose those of its last chunk).
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
        out!.enqueue(frame instanceof Uint8Array ? frame.slice() as T : frame);
      },
      undefined,
      { initialCapacity: 0 },
    );
    // A decoder error met after frames this call enqueued: erroring the readable now would drop
    // them from its queue, so it is thrown at the next call, which a pipe makes only once the
    // queue has been read. (`desiredSize >= 0` means an empty queue because the readable's
    // highWaterMark is the default 0: a strategy given here would need another test.)
    let failure: { error: unknown } | undefined;
    super({
      transform(chunk, controller) {
        if (failure) throw failure.error;
        out = controller;
        reader.buffer.append(chunk);
        try {
          reader.read();
        } catch (error) {
          if ((controller.desiredSize ?? 0) >= 0) throw error;
          failure = { error };
        }
      },
      flush(controller) {
        if (failure) throw failure.error;
        out = controller;
        reader.finish();
      },
    });
  }
}
