import { FrameReader } from "./_frame_reader.ts";
import type { Decoder } from "./framer.ts";

/**
 * The Web Streams face of a decoder: a readable/writable pair from byte chunks to frames, for
 * `pipeThrough` (as `TextDecoderStream` is one).
 *
 * Each chunk is appended to a receive buffer and its whole frames are handed to the readable
 * one read at a time, each the reader's own: a byte frame is a copy (a view would share its
 * `ArrayBuffer` with the frames after it, which a reader that transfers one, into a byte stream
 * or a worker, would empty). The next chunk is taken once the frames of the last one have
 * been read, so a slow reader holds the writer back. At the end of the input, the decoder's
 * `decodeEof` runs, and bytes left over are a {@linkcode TruncatedFrameError}. A decoder error
 * ({@linkcode FramingError}) comes after the frames decoded before the bad bytes, whenever the
 * reader takes them, even if no more input ever comes; the write that met it rejects with it
 * too, so a pipe stops.
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
export class FrameDecoderStream<T = Uint8Array> implements ReadableWritablePair<T, Uint8Array> {
  /** The frames, one per read. */
  readonly readable: ReadableStream<T>;
  /** Where the bytes go. */
  readonly writable: WritableStream<Uint8Array>;

  /**
   * Creates the stream.
   *
   * @param decoder The decoder (any framer; one per stream).
   */
  constructor(decoder: Decoder<T>) {
    // A TransformStream cannot hold an error behind the frames it queued (erroring its
    // readable empties the queue), nor tell its transformer when the queue drained: the frames
    // wait here instead, and go out one per pull.
    // Read from `head` on: `shift()` moves the rest of a large array on every call, quadratic
    // in the frames of one chunk (64 KiB of empty lines took ~30 s).
    let frames: T[] = [];
    let head = 0;
    const clear = (): void => {
      frames = [];
      head = 0;
    };
    let failure: { error: unknown } | undefined;
    let ended = false;
    let wanted = false;
    let out!: ReadableStreamDefaultController<T>;
    let input!: WritableStreamDefaultController;
    /** Settled once the frames of the last chunk were all read: the next chunk may come. */
    let drained: PromiseWithResolvers<void> | undefined;
    const reader = new FrameReader(
      decoder,
      (frame: T) => void frames.push(frame instanceof Uint8Array ? frame.slice() as T : frame),
      undefined,
      { initialCapacity: 0 },
    );
    const deliver = (): void => {
      if (head < frames.length) {
        if (!wanted) return;
        wanted = false;
        const frame = frames[head];
        frames[head++] = undefined as T; // the stream holds it now
        if (head === frames.length) clear();
        out.enqueue(frame);
        if (head < frames.length) return;
      }
      // A frame enqueued with no read waiting (one released) sits in the readable's queue,
      // which an error would empty: the error waits for the pull that follows its read.
      if (failure) {
        if ((out.desiredSize ?? 0) < 0) return;
        out.error(failure.error);
      } else if (ended) out.close();
      else {
        drained?.resolve();
        drained = undefined;
      }
    };
    this.readable = new ReadableStream<T>({
      start: (controller) => void (out = controller),
      pull: () => {
        wanted = true;
        deliver();
      },
      cancel: (reason) => {
        clear();
        input.error(reason);
        drained?.reject(reason);
      },
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => void (input = controller),
      write: async (chunk) => {
        if (head < frames.length) {
          drained = Promise.withResolvers<void>();
          await drained.promise;
        }
        reader.buffer.append(chunk);
        try {
          reader.read();
        } catch (error) {
          failure = { error };
          deliver();
          throw error;
        }
        deliver();
      },
      close: () => {
        try {
          reader.finish();
        } catch (error) {
          failure = { error };
        }
        ended = true;
        deliver();
        if (failure) throw failure.error;
      },
      abort: (reason) => {
        clear();
        out.error(reason);
      },
    });
  }
}
