import type { Protocol, Transport } from "../transport/mod.ts";
import { ProtocolError } from "./errors.ts";

/**
 * Turns received bytes into messages. It is called with every chunk in order and keeps its own
 * state between calls (a partial line, say). It may return a lazy iterable (a generator): it is
 * only advanced while the message queue has room. Throw a {@linkcode ProtocolError} for
 * malformed input; other errors are wrapped in one.
 */
export type MessageDecoder<M> = (data: Uint8Array) => Iterable<M>;

/** Handles one message; the next one waits until the returned promise settles. */
export type MessageHandler<M> = (
  message: M,
  transport: Transport,
  protocol: MessageProtocol<M>,
) => void | Promise<void>;

/** Options of a {@linkcode MessageProtocol}. */
export interface MessageProtocolOptions<M> {
  /** Turns received bytes into messages. */
  decoder: MessageDecoder<M>;
  /** Handles each message, one at a time, in order. */
  messageHandler: MessageHandler<M>;
  /**
   * Messages queued before reading pauses (gruvi's `max_queue_size`).
   *
   * @default {10}
   */
  maxQueueSize?: number;
}

/**
 * A protocol for message-oriented peers (gruvi's `MessageProtocol`): received data goes through
 * a decoder into a bounded queue, and an async message handler takes the messages one at a
 * time, in order. While the queue is full, reading is paused, so a slow handler pushes back on
 * the peer through TCP instead of buffering without bound.
 *
 * - The queue never holds more than `maxQueueSize` messages: a chunk that decodes to more waits
 *   in the decoder's iterator until the handler makes room.
 * - At the peer's EOF, queued messages are still handled (the write side stays open for their
 *   replies), then the transport is closed. Bytes the decoder still holds (a partial last
 *   message) are its own business: check for them in `connectionLost` if they matter.
 * - A decoder or handler error closes the transport (replies already written are flushed) and
 *   is what `closed` resolves with; the queue is dropped.
 *
 * @example Handle newline-terminated commands one at a time
 * ```ts
 * import { MessageProtocol } from "@plexus/net/protocol";
 * import { createMemoryTransportPair, StreamProtocol } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * function lines(): (data: Uint8Array) => string[] {
 *   let partial = "";
 *   const decoder = new TextDecoder();
 *   return (data) => {
 *     const parts = (partial + decoder.decode(data, { stream: true })).split("\n");
 *     partial = parts.pop()!;
 *     return parts;
 *   };
 * }
 * const server = new MessageProtocol<string>({
 *   decoder: lines(),
 *   messageHandler: async (line, transport) => {
 *     await Promise.resolve(); // any async work
 *     transport.write(new TextEncoder().encode(line.toUpperCase() + "\n"));
 *   },
 * });
 * const client = new StreamProtocol();
 * createMemoryTransportPair(server, client);
 * const writer = client.writable.getWriter();
 * await writer.write(new TextEncoder().encode("one\ntwo\n"));
 * await writer.close();
 * assertEquals(await new Response(client.readable).text(), "ONE\nTWO\n");
 * assertEquals(await server.closed, undefined);
 * ```
 */
export class MessageProtocol<M> implements Protocol {
  /** The transport, from `connectionMade()` on. */
  transport: Transport | undefined;
  readonly #decoder: MessageDecoder<M>;
  readonly #handler: MessageHandler<M>;
  readonly #maxQueueSize: number;
  #queue: M[] = [];
  #undecoded: Iterator<M> | undefined;
  #pausedByUs = false;
  #dispatching = false;
  #eof = false;
  #lost = false;
  #error: Error | undefined;
  readonly #closed = Promise.withResolvers<Error | undefined>();

  /**
   * Creates the protocol.
   *
   * @param options The decoder, the handler and the queue size.
   * @throws {RangeError} When `maxQueueSize` is below 1.
   */
  constructor(options: MessageProtocolOptions<M>) {
    this.#decoder = options.decoder;
    this.#handler = options.messageHandler;
    this.#maxQueueSize = options.maxQueueSize ?? 10;
    if (!(this.#maxQueueSize >= 1)) {
      throw new RangeError(
        `Cannot create MessageProtocol: maxQueueSize must be >= 1, got ${this.#maxQueueSize}`,
      );
    }
  }

  /**
   * Resolves when the connection is lost, with the decoder's or handler's error if one ended
   * it, else with the transport's error (or `undefined`). It never rejects.
   */
  get closed(): Promise<Error | undefined> {
    return this.#closed.promise;
  }

  /** The number of messages waiting for the handler. */
  get queueSize(): number {
    return this.#queue.length;
  }

  connectionMade(transport: Transport): void {
    this.transport = transport;
  }

  dataReceived(data: Uint8Array): void {
    if (this.#error || this.#lost) return;
    try {
      this.#undecoded = this.#decoder(data)[Symbol.iterator]();
    } catch (error) {
      this.#fail(asProtocolError(error));
      return;
    }
    this.#fill();
  }

  eofReceived(): boolean {
    this.#eof = true;
    if (this.#dispatching || this.#queue.length > 0) return true;
    return false;
  }

  connectionLost(error: Error | undefined): void {
    this.#lost = true;
    this.#queue = [];
    this.#undecoded = undefined;
    this.#closed.resolve(this.#error ?? error);
  }

  /** Moves decoded messages into the queue while it has room, and pauses or resumes reading. */
  #fill(): void {
    while (this.#undecoded && this.#queue.length < this.#maxQueueSize) {
      let next: IteratorResult<M>;
      try {
        next = this.#undecoded.next();
      } catch (error) {
        this.#fail(asProtocolError(error));
        return;
      }
      if (next.done) this.#undecoded = undefined;
      else this.#queue.push(next.value);
    }
    const full = this.#undecoded !== undefined || this.#queue.length >= this.#maxQueueSize;
    if (full && !this.#pausedByUs) {
      this.#pausedByUs = true;
      this.transport!.pauseReading();
    } else if (!full && this.#pausedByUs) {
      this.#pausedByUs = false;
      this.transport!.resumeReading();
    }
    if (!this.#dispatching && this.#queue.length > 0) this.#dispatch();
  }

  async #dispatch(): Promise<void> {
    this.#dispatching = true;
    while (this.#queue.length > 0 && !this.#lost && !this.#error) {
      const message = this.#queue.shift()!;
      this.#fill();
      try {
        await this.#handler(message, this.transport!, this);
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.#dispatching = false;
    if (this.#eof && !this.#lost) this.transport!.close();
  }

  #fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    this.#queue = [];
    this.#undecoded = undefined;
    this.transport!.close();
  }
}

function asProtocolError(error: unknown): ProtocolError {
  if (error instanceof ProtocolError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ProtocolError(`Cannot decode message: ${message}`, { cause: error });
}
