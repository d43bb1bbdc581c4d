import { TruncatedFrameError } from "./errors.ts";
import type { Decoder } from "./framer.ts";
import { ReceiveBuffer } from "./receive_buffer.ts";

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
    const buffer = new ReceiveBuffer({ initialCapacity: 0 });
    const drain = (controller: TransformStreamDefaultController<T>, eof: boolean) => {
      for (;;) {
        const before = buffer.position;
        const frame = eof && decoder.decodeEof ? decoder.decodeEof(buffer) : decoder.decode(buffer);
        if (frame !== undefined) controller.enqueue(frame);
        else if (buffer.position === before) return;
      }
    };
    super({
      transform(chunk, controller) {
        buffer.append(chunk);
        drain(controller, false);
      },
      flush(controller) {
        drain(controller, true);
        if (buffer.length > 0) throw new TruncatedFrameError(buffer.length);
      },
    });
  }
}
