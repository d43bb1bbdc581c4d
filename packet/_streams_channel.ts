/**
 * A byte channel over a `{ readable, writable }` pair, so a stream transport can drive any
 * pair of Web Streams (a `Deno.Conn`'s, a child process's stdio, a `StreamProtocol`'s).
 *
 * It holds a reader and a writer lock while open. `close()` releases the locks, which rejects a
 * pending `read()` (the bytes it was waiting for stay in the stream for the next reader), and
 * leaves the streams open. With `closeStreams`, `closeWrite()` closes the writable (after the
 * last write) and `close()` cancels the readable and aborts the writable if it is still open.
 *
 * @module
 */

import type { ByteChannel } from "../transport/byte_channel.ts";

/** A readable and a writable byte stream, as `Deno.Conn` and `Deno.ChildProcess` have. */
export interface ByteStreams {
  /** The bytes from the peer. */
  readonly readable: ReadableStream<Uint8Array>;
  /** The bytes to the peer. */
  readonly writable: WritableStream<Uint8Array>;
}

/** The byte channel over a stream pair. */
export class StreamsChannel implements ByteChannel {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #closeStreams: boolean;
  #leftover: Uint8Array | undefined;
  #closed = false;
  #writeClosed = false;

  /**
   * Locks both streams.
   *
   * @throws {TypeError} When a stream is already locked.
   */
  constructor(streams: ByteStreams, closeStreams: boolean) {
    this.#reader = streams.readable.getReader();
    try {
      this.#writer = streams.writable.getWriter();
    } catch (error) {
      this.#reader.releaseLock();
      throw error;
    }
    this.#closeStreams = closeStreams;
  }

  async read(p: Uint8Array): Promise<number | null> {
    let chunk = this.#leftover;
    this.#leftover = undefined;
    while (chunk === undefined || chunk.byteLength === 0) {
      const result = await this.#reader.read();
      if (result.done) return null;
      chunk = result.value;
    }
    if (chunk.byteLength <= p.byteLength) {
      p.set(chunk);
      return chunk.byteLength;
    }
    p.set(chunk.subarray(0, p.byteLength));
    this.#leftover = chunk.subarray(p.byteLength);
    return p.byteLength;
  }

  async write(p: Uint8Array): Promise<number> {
    await this.#writer.write(p);
    return p.byteLength;
  }

  async closeWrite(): Promise<void> {
    if (this.#writeClosed) return;
    this.#writeClosed = true;
    if (this.#closeStreams) await this.#writer.close();
  }

  /** Settles once the streams are closed (with `closeStreams`), after `close()`. */
  closed: Promise<void> | undefined;

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#closeStreams) {
      // After an orderly end the writable was closed by closeWrite(); otherwise this is an
      // abort, and queued bytes are dropped.
      const done = [this.#reader.cancel()];
      if (!this.#writeClosed) done.push(this.#writer.abort());
      this.closed = Promise.allSettled(done).then(() => {});
    }
    this.#reader.releaseLock();
    this.#writer.releaseLock();
  }
}
