import { TransportError } from "./errors.ts";
import type { Protocol } from "./protocols.ts";
import type { Transport } from "./types.ts";
import { APPEND_BY_REFERENCE } from "./send_buffer.ts";
import { StreamTransport } from "./stream_transport.ts";

/** Options of a {@linkcode StreamProtocol}. */
export interface StreamProtocolOptions {
  /**
   * Bytes the readable side queues before the transport stops reading.
   *
   * @default {65536}
   */
  readableHighWaterMark?: number;
}

/**
 * The Web Streams face of a stream transport: a protocol that exposes the connection as a
 * `readable` byte stream and a `writable` stream, with half-close and backpressure right.
 *
 * - Reading to the end does not close the write side: the peer's EOF closes `readable` only.
 * - Closing `writable` sends EOF (a half-close), not a full close; aborting it aborts the
 *   transport. When both sides are done, the transport closes.
 * - When `readable`'s queue is full the transport stops reading, so the peer feels TCP
 *   backpressure; `writable` applies the transport's write watermarks to its writers.
 * - `readable` is a byte stream: BYOB readers work, and chunks are owned by the reader.
 *
 * Use it with a factory (`createConnection(() => new StreamProtocol(), ...)`) or through
 * `openConnection()` in `@plexus/net/endpoints`.
 *
 * @example Half-close over the in-memory pair
 * ```ts
 * import { createMemoryTransportPair, StreamProtocol } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const client = new StreamProtocol();
 * const server = new StreamProtocol();
 * createMemoryTransportPair(client, server);
 *
 * // The server upper-cases everything until EOF, then answers "done" and closes its side.
 * const serving = (async () => {
 *   const writer = server.writable.getWriter();
 *   for await (const chunk of server.readable) {
 *     await writer.write(new TextEncoder().encode(new TextDecoder().decode(chunk).toUpperCase()));
 *   }
 *   await writer.write(new TextEncoder().encode(" done"));
 *   await writer.close();
 * })();
 *
 * const writer = client.writable.getWriter();
 * await writer.write(new TextEncoder().encode("hello"));
 * await writer.close(); // EOF to the server; we can still read its answer
 * const answer = await new Response(client.readable).text();
 * await serving;
 * assertEquals(answer, "HELLO done");
 * await client.transport!.closed;
 * ```
 */
export class StreamProtocol implements Protocol {
  /** The bytes received from the peer; closes at the peer's EOF. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to send to the peer; closing it sends EOF. */
  readonly writable: WritableStream<Uint8Array>;
  #transport: Transport | undefined;
  #readController!: ReadableByteStreamController;
  #writeController!: WritableStreamDefaultController;
  readonly #connected = Promise.withResolvers<void>();
  #readDone = false;
  #writeDone = false;
  #readPausedByUs = false;
  #writeReady: PromiseWithResolvers<void> | undefined;

  /**
   * Creates the protocol; its streams work once a transport calls `connectionMade()`.
   *
   * @param options The readable side's queue size.
   */
  constructor(options?: StreamProtocolOptions) {
    options ??= {};
    this.readable = new ReadableStream({
      type: "bytes",
      start: (controller) => {
        this.#readController = controller;
      },
      pull: () => this.#resumeReading(),
      cancel: () => {
        // Keep reading (and discarding) so the peer is never stuck behind us.
        this.#readDone = true;
        this.#resumeReading();
        this.#closeIfDone();
      },
    }, { highWaterMark: options.readableHighWaterMark ?? 64 * 1024 });
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writeController = controller;
        // abort() waits for the write in flight, which may wait for a resumeWriting() that a
        // peer that stops reading never brings: the connection is aborted at once instead.
        controller.signal.addEventListener(
          "abort",
          () => this.#abortWrites(controller.signal.reason),
          { once: true },
        );
        return this.#connected.promise;
      },
      write: (chunk) => {
        const transport = this.#transport!;
        // The transport drops writes once closing; a stream's writer must hear of it.
        if (transport.isClosing()) {
          throw new TransportError("Cannot write: the connection is closing or closed");
        }
        // The write resolves before the bytes are out, and a writer may reuse its buffer then,
        // while a transport keeps what it is given: a copy, unless a StreamTransport copies a
        // chunk this small into its send buffer at once (from 64 KiB it keeps a reference).
        const owned = transport instanceof StreamTransport &&
          chunk.byteLength < APPEND_BY_REFERENCE;
        try {
          transport.write(owned || !(chunk instanceof Uint8Array) ? chunk : chunk.slice());
        } catch (error) {
          // The writable is errored for good: it can be neither closed nor aborted now, so
          // this is its abort (else the transport stays half-open for ever).
          this.#abortWrites(error);
          throw error;
        }
        // A write past the write cap (maxWriteBuffer, a server's budget) aborts the transport
        // and drops the chunk: the writer must not hear that it was written.
        if (transport.isClosing()) {
          return transport.closed.then((error) => {
            throw error ?? new TransportError("Cannot write: the connection is closing or closed");
          });
        }
        return this.#writeReady?.promise;
      },
      close: async () => {
        this.#writeDone = true;
        const transport = this.#transport!;
        transport.writeEof();
        this.#closeIfDone();
        // Resolve once the EOF is out (a StreamTransport can say), or fail with the cause.
        await transport.flushed?.();
      },
      abort: (reason) => this.#abortWrites(reason),
    });
  }

  /** The transport, once connected. */
  get transport(): Transport | undefined {
    return this.#transport;
  }

  connectionMade(transport: Transport): void {
    this.#transport = transport;
    this.#connected.resolve();
  }

  dataReceived(data: Uint8Array): void {
    // An empty read (a custom channel may resolve 0) is nothing to enqueue: a byte stream
    // refuses an empty chunk.
    if (this.#readDone || data.byteLength === 0) return;
    // enqueue() transfers the chunk's whole ArrayBuffer: a small view of a read slab would pin
    // (and detach) the slab, so a chunk under half its buffer is copied; a large one is not.
    this.#readController.enqueue(
      data.byteLength * 2 < data.buffer.byteLength ? data.slice() : data,
    );
    if (!this.#readPausedByUs && (this.#readController.desiredSize ?? 0) <= 0) {
      this.#readPausedByUs = true;
      this.#transport!.pauseReading();
    }
  }

  eofReceived(): boolean {
    if (!this.#readDone) {
      this.#readDone = true;
      this.#endReadable();
    }
    return true;
  }

  pauseWriting(): void {
    if (this.#writeReady) return;
    this.#writeReady = Promise.withResolvers<void>();
    this.#writeReady.promise.catch(() => {});
  }

  resumeWriting(): void {
    this.#writeReady?.resolve();
    this.#writeReady = undefined;
  }

  connectionLost(error: Error | undefined): void {
    if (!this.#readDone) {
      this.#readDone = true;
      if (error) this.#readController.error(error);
      else this.#endReadable();
    }
    const writeError = error ?? new TransportError("Cannot write: the connection is closed");
    if (!this.#writeDone) {
      this.#writeDone = true;
      this.#writeController.error(writeError);
    }
    this.#writeReady?.reject(writeError);
    this.#writeReady = undefined;
  }

  /**
   * Closes `readable`. A BYOB read pending now is not settled by `close()` alone (the byte
   * stream waits for its view to be answered): answering 0 bytes settles it as done. A BYOB
   * read holding part of an element (3 bytes of a `Uint32Array`) makes `close()` error the
   * readable with a `TypeError` and throw it: the reader gets it, the write side goes on.
   */
  #endReadable(): void {
    const controller = this.#readController;
    try {
      controller.close();
    } catch {
      return; // `readable` is errored (see above)
    }
    controller.byobRequest?.respond(0);
  }

  /** The writable was aborted: so is the connection. */
  #abortWrites(reason: unknown): void {
    this.#writeDone = true;
    this.#transport?.abort(
      reason instanceof Error ? reason : new TransportError(`Aborted: ${String(reason)}`),
    );
  }

  #resumeReading(): void {
    if (!this.#readPausedByUs) return;
    this.#readPausedByUs = false;
    this.#transport?.resumeReading();
  }

  #closeIfDone(): void {
    if (this.#readDone && this.#writeDone) this.#transport?.close();
  }
}
