/**
 * A byte channel over a `{ readable, writable }` pair, so a stream transport can drive any
 * pair of Web Streams (a `Deno.Conn`'s, a child process's stdio, a `StreamProtocol`'s).
 *
 * It holds a reader and a writer lock while open. With `closeStreams`, `closeWrite()` closes
 * the writable (after the last write); otherwise both stay open. `close()` ends the channel at
 * once, whatever the streams do:
 *
 * | at `close()`                    | what happens                                             |
 * | ------------------------------- | -------------------------------------------------------- |
 * | a `read()` pending              | rejects now; the bytes it waited for stay in the stream  |
 * | a `write()` the sink has not finished | rejects now; the sink may still take the bytes (in part) later |
 * | `closeStreams`                  | `cancel()` the readable, `abort()` the writable unless closed; started, not awaited |
 * | always                          | both locks released                                      |
 *
 * Nothing here waits for the streams after `close()`: a writable whose sink never finishes a
 * write (a peer that does not read) would otherwise hold the connection open forever, since
 * `releaseLock()` does not settle that write and `abort()` queues behind it. Bytes read from
 * the readable but not yet handed to the transport are dropped.
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
  /** Rejects the pending `write()` or `closeWrite()` when the channel closes. */
  #interrupt: ((reason: Error) => void) | undefined;

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
    await this.#interruptible(this.#writer.write(p));
    return p.byteLength;
  }

  async closeWrite(): Promise<void> {
    if (this.#writeClosed) return;
    this.#writeClosed = true;
    if (this.#closeStreams) await this.#interruptible(this.#writer.close());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#interrupt?.(new Deno.errors.Interrupted("Operation canceled: the channel was closed"));
    this.#interrupt = undefined;
    if (this.#closeStreams) {
      // After an orderly end the writable was closed by closeWrite(); otherwise this is an
      // abort, and queued bytes are dropped. Neither is awaited (see the module docs).
      this.#reader.cancel().catch(() => {});
      if (!this.#writeClosed) this.#writer.abort().catch(() => {});
    }
    this.#reader.releaseLock();
    this.#writer.releaseLock();
  }

  /** Settles as `operation` does, or rejects when the channel closes first. */
  #interruptible(operation: Promise<void>): Promise<void> {
    if (this.#closed) {
      operation.catch(() => {});
      return Promise.reject(new Deno.errors.BadResource("The channel is closed"));
    }
    return new Promise<void>((resolve, reject) => {
      this.#interrupt = reject;
      operation.then(resolve, reject).finally(() => {
        if (this.#interrupt === reject) this.#interrupt = undefined;
      });
    });
  }
}
