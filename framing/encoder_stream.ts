import type { Encoder } from "./framer.ts";
import { SendBuffer } from "../transport/send_buffer.ts";

/**
 * The Web Streams face of an encoder: a `TransformStream` from frames to byte chunks, one
 * chunk per frame, each in a buffer of its own (the reader may transfer it). A frame the encoder
 * refuses errors the stream with its
 * {@linkcode FramingError}.
 *
 * @typeParam T The frame type.
 *
 * @example Netstrings into a byte stream
 * ```ts
 * import { FrameEncoderStream, NetstringFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const frames = ReadableStream.from([new TextEncoder().encode("ab"), new TextEncoder().encode("c")]);
 * const bytes = frames.pipeThrough(new FrameEncoderStream(new NetstringFramer()));
 * assertEquals(await new Response(bytes).text(), "2:ab,1:c,");
 * ```
 */
export class FrameEncoderStream<T = Uint8Array> extends TransformStream<T, Uint8Array> {
  /**
   * Creates the stream.
   *
   * @param encoder The encoder (any framer).
   */
  constructor(encoder: Encoder<T>) {
    const out = new SendBuffer();
    super({
      transform(frame, controller) {
        encoder.encode(frame, out);
        // The reader's own buffer, not a view of the shared block (one it transfers would
        // empty the others).
        controller.enqueue(out.take().slice());
      },
    });
  }
}
