/**
 * A byte channel over a `{ readable, writable }` pair, so a stream transport can drive any
 * pair of Web Streams (a `Deno.Conn`'s, a child process's stdio, a `StreamProtocol`'s): any
 * protocol — framed, tinyproto, message, packet — runs over it.
 *
 * Each chunk written is a copy the writable owns (a sink may keep it; the transport reuses its
 * write buffer once a write resolves). It holds a reader and a writer lock while open. With `closeStreams`, `closeWrite()` closes
 * the writable (after the last write); otherwise both stay open. `close()` ends the channel at
 * once, whatever the streams do:
 *
 * | at `close()`                    | what happens                                             |
 * | ------------------------------- | -------------------------------------------------------- |
 * | a `read()` pending              | rejects now; the bytes it waited for stay in the stream  |
 * | a `write()` the sink has not finished | rejects now; the sink may still take the bytes (in part) later |
 * | `closeStreams`                  | `cancel()` the readable, `abort()` the writable unless its close finished; started, not awaited |
 * | always                          | both locks released                                      |
 *
 * Nothing here waits for the streams after `close()`: a writable whose sink never finishes a
 * write (a peer that does not read) would otherwise hold the connection open forever, since
 * `releaseLock()` does not settle that write and `abort()` queues behind it. Bytes read from
 * the readable but not yet handed to the transport are dropped.
 *
 * @module
 */

import type { ByteChannel } from "./byte_channel.ts";

/** A readable and a writable byte stream, as `Deno.Conn` and `Deno.ChildProcess` have. */
export interface ByteStreams {
  /** The bytes from the peer. */
  readonly readable: ReadableStream<Uint8Array>;
  /** The bytes to the peer. */
  readonly writable: WritableStream<Uint8Array>;
}

/** Options of a {@linkcode StreamsChannel}. */
export interface StreamsChannelOptions {
  /**
   * Close the streams with the channel: `closeWrite()` closes the writable, `close()` cancels
   * the readable and aborts the writable unless it was closed. Otherwise both stay open (and
   * unlocked) for their owner, as a child process's stdio may.
   *
   * @default {false}
   */
  closeStreams?: boolean;
}

/**
 * The byte channel over a stream pair: give it to a {@linkcode StreamTransport} with any
 * protocol.
 *
 * @example Run a protocol over a pair of Web Streams
 * ```ts
 * import { StreamsChannel, StreamTransport } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * // The peer: an echo made of one TransformStream.
 * const echo = new TransformStream<Uint8Array, Uint8Array>();
 * const channel = new StreamsChannel(
 *   { readable: echo.readable, writable: echo.writable },
 *   { closeStreams: true },
 * );
 * let text = "";
 * const transport = new StreamTransport(channel, {
 *   dataReceived: (data) => text += new TextDecoder().decode(data),
 * });
 * transport.write(new TextEncoder().encode("over streams"));
 * transport.writeEof(); // closes the writable: the readable ends, and the transport closes
 * await transport.closed;
 * assertEquals(text, "over streams");
 * ```
 */
export class StreamsChannel implements ByteChannel {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #closeStreams: boolean;
  #leftover: Uint8Array | undefined;
  #closed = false;
  /**
   * The write side: `"open"` → `closeWrite()` → `"closing"` (the writable's close waits for
   * queued writes) → `"closed"` once the writable has closed. `close()` aborts the writable
   * unless it is `"closed"`, so a close stuck behind a write that never finishes is dropped.
   */
  #writeSide: "open" | "closing" | "closed" = "open";
  /** Reject the pending `read()`, `write()`s and `closeWrite()` when the channel closes. */
  readonly #interrupts = new Set<(reason: Error) => void>();

  /**
   * Locks both streams.
   *
   * @param streams The readable to read from and the writable to write to.
   * @param options Whether the channel closes the streams.
   * @throws {TypeError} When a stream is already locked.
   */
  constructor(streams: ByteStreams, options?: StreamsChannelOptions) {
    this.#reader = streams.readable.getReader();
    try {
      this.#writer = streams.writable.getWriter();
    } catch (error) {
      this.#reader.releaseLock();
      throw error;
    }
    this.#closeStreams = options?.closeStreams ?? false;
  }

  /**
   * Reads the next bytes into `p` (the rest of a larger chunk waits for the next call).
   *
   * @param p Where the bytes go.
   * @returns The byte count, or `null` when the readable has ended.
   */
  async read(p: Uint8Array): Promise<number | null> {
    let chunk = this.#leftover;
    this.#leftover = undefined;
    while (chunk === undefined || chunk.byteLength === 0) {
      // Interruptible: close() cancels the readable, which would end a pending read as if the
      // stream had ended.
      const result = await this.#interruptible(this.#reader.read());
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

  /**
   * Writes a copy of `p` to the writable; rejects when the channel closes first.
   *
   * @param p The bytes.
   * @returns `p.byteLength`, once the sink has taken them.
   */
  async write(p: Uint8Array): Promise<number> {
    // A copy: a stream's sink owns its chunks and may keep them after the write resolves.
    await this.#interruptible(this.#writer.write(p.slice()));
    return p.byteLength;
  }

  /** Ends the write side: closes the writable with `closeStreams`, else leaves it open. */
  async closeWrite(): Promise<void> {
    if (this.#writeSide !== "open") return;
    this.#writeSide = "closing";
    if (this.#closeStreams) await this.#interruptible(this.#writer.close());
    this.#writeSide = "closed";
  }

  /** Ends the channel at once and releases both locks (see the module docs). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new Deno.errors.Interrupted("Operation canceled: the channel was closed");
    for (const interrupt of this.#interrupts) interrupt(reason);
    this.#interrupts.clear();
    if (this.#closeStreams) {
      // After an orderly end the writable was closed by closeWrite(); otherwise (its close
      // still pending, too) this is an abort, and queued bytes are dropped. Neither is awaited
      // (see the module docs).
      this.#reader.cancel(reason).catch(() => {});
      if (this.#writeSide !== "closed") this.#writer.abort(reason).catch(() => {});
    }
    this.#reader.releaseLock();
    this.#writer.releaseLock();
  }

  /** Settles as `operation` does, or rejects when the channel closes first. */
  #interruptible<T>(operation: Promise<T>): Promise<T> {
    if (this.#closed) {
      operation.catch(() => {});
      return Promise.reject(new Deno.errors.BadResource("The channel is closed"));
    }
    return new Promise<T>((resolve, reject) => {
      this.#interrupts.add(reject);
      operation.then(resolve, reject).finally(() => {
        this.#interrupts.delete(reject);
      });
    });
  }
}
