import type { BufferedProtocol, ShutdownHook, Transport } from "../transport/mod.ts";
import type { DeadlineError } from "../transport/errors.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { DEADLINE_CLOSE_GRACE } from "../transport/deadline_clock.ts";
import { abortIfStillFlushing } from "../transport/_close_grace.ts";
import { FrameReader, plaintextInjection } from "./_frame_reader.ts";
import { FramingError } from "./errors.ts";
import type { Decoder } from "./framer.ts";

/** Handles one message; the next one waits until the returned promise settles. */
export type MessageHandler<M> = (
  message: M,
  transport: Transport,
  protocol: MessageProtocol<M>,
) => void | Promise<void>;

/** Options of a {@linkcode MessageProtocol}. */
export interface MessageProtocolOptions<M> {
  /**
   * Cuts messages out of the received bytes: any framer ({@linkcode LineFramer},
   * {@linkcode LengthPrefixedFramer}, ...) or your own {@linkcode Decoder}.
   */
  decoder: Decoder<M>;
  /** Handles each message, one at a time, in order. */
  messageHandler: MessageHandler<M>;
  /**
   * Messages queued before reading pauses (gruvi's `max_queue_size`).
   *
   * @default {10}
   */
  maxQueueSize?: number;
  /**
   * Called once when the decoder rejects the peer's bytes (a {@linkcode FramingError} such as
   * a line over its limit or a stream ending inside a message at EOF; any other decoder error
   * wrapped in a {@linkcode ProtocolError}), after the messages decoded before the bad bytes
   * were handled and just before the transport closes: a reply written here tells the peer
   * why, and the close flushes it. A returned promise is awaited first. A throw (or a
   * rejection) aborts the connection instead, and `closed` resolves with it. Without this
   * hook the transport simply closes.
   */
  decodeError?: (
    error: Error,
    transport: Transport,
    protocol: MessageProtocol<M>,
  ) => void | Promise<void>;
  /**
   * Called when one of the transport's frame deadlines runs out (`deadlines`:
   * `firstFrameTimeout`, `frameTimeout` — a peer that says nothing, or trickles a message),
   * just before the connection closes: a reply written here tells the peer why, and the close
   * flushes it (within the deadlines' 1 s grace; a lingering close then waits up to
   * `lingerTimeout` for the peer's EOF); `closed` resolves with the
   * {@linkcode DeadlineError}. A throw aborts the connection with it instead.
   */
  limitExceeded?: (
    error: DeadlineError,
    transport: Transport,
    protocol: MessageProtocol<M>,
  ) => void;
}

/**
 * A protocol for message-oriented peers (gruvi's `MessageProtocol`): received bytes go through
 * a {@linkcode Decoder} (the framed core every framed protocol runs on) into a bounded queue,
 * and an async message handler takes the messages one at a time, in order. While the queue is
 * full, reading is paused, so a slow handler pushes back on the peer through TCP instead of
 * buffering without bound.
 *
 * - The queue never holds more than `maxQueueSize` messages: bytes that hold more stay in the
 *   receive buffer, undecoded, until the handler makes room.
 * - The application pauses reading with {@linkcode MessageProtocol.pauseReading}, which the
 *   queue's own pause and resume leave alone.
 * - While the transport's write buffer is over its high watermark (`pauseWriting`), no further
 *   message is handled until it drains: a peer that sends but does not read its replies is
 *   pushed back through the full queue and TCP, as a slow handler pushes back.
 * - The transport's frame deadlines (`deadlines`: `firstFrameTimeout`, `frameTimeout`) run as
 *   under any framed protocol, so a peer that trickles half a message is cut; while the queue
 *   is full, reading is paused and the clock waits on the application, not the peer.
 * - At the peer's EOF, the last messages are decoded (`decodeEof`) and handled (the write side
 *   stays open for their replies), then the transport is closed. Bytes left that make no whole
 *   message are a {@linkcode TruncatedFrameError}.
 * - Once the transport is closing (the handler closed it), no more messages are decoded or
 *   handled; the queue is dropped when the connection is lost.
 * - A decoder error (a {@linkcode FramingError} as it is, any other error wrapped in a
 *   {@linkcode ProtocolError}) ends decoding and reading: the messages decoded before the bad
 *   bytes are still handled (as tokio's `FramedRead` and Netty's `ByteToMessageDecoder` hand
 *   them out), then the transport closes. A handler error closes the transport at once
 *   (replies already written are flushed) and drops the queue. The first error is what
 *   `closed` resolves with. A `decodeError` hook answers bad input before the close: it
 *   gets the decoder's error once the messages before it are handled, and what it writes is
 *   flushed by the close.
 *
 * It lives in the framing layer because it runs on a framing `Decoder`; until 0.1 it was in
 * `@plexus/net/protocol` with a decoder function of its own.
 *
 * @typeParam M The message type.
 *
 * @example Handle newline-terminated commands one at a time
 * ```ts
 * import { LineFramer, MessageProtocol } from "@plexus/net/framing";
 * import { createMemoryTransportPair, StreamProtocol } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const server = new MessageProtocol<Uint8Array>({
 *   decoder: new LineFramer({ lineEnding: "\n" }),
 *   messageHandler: async (line, transport) => {
 *     await Promise.resolve(); // any async work
 *     transport.write(new TextEncoder().encode(new TextDecoder().decode(line).toUpperCase() + "\n"));
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
export class MessageProtocol<M> implements BufferedProtocol, ShutdownHook {
  /** The transport, from `connectionMade()` on. */
  transport: Transport | undefined;
  readonly #reader: FrameReader<M>;
  readonly #handler: MessageHandler<M>;
  readonly #onDecodeError: MessageProtocolOptions<M>["decodeError"];
  readonly #onLimitExceeded: MessageProtocolOptions<M>["limitExceeded"];
  readonly #maxQueueSize: number;
  readonly #queue: M[] = [];
  /**
   * How many of the queued messages (at its front) were decoded from plaintext. A STARTTLS
   * handler's upgrade must not make them look as if they came over TLS: met after an upgrade
   * began, such a message aborts the connection (CVE-2011-0411, command injection).
   */
  #plainQueued = 0;
  /**
   * | state        | meaning                                         | event → next state                   |
   * | ------------ | ----------------------------------------------- | ------------------------------------ |
   * | `connecting` | no transport yet                                | connectionMade → `open`              |
   * | `open`       | bytes are decoded into the queue while it has room | EOF → `ending`; decoder error → `ended`; handler error → `failed`; `shutdown()` → `draining`; lost → `lost` |
   * | `draining`   | a graceful shutdown: nothing more is read; the messages already received are decoded as room allows and handled, then `shutdown()` settles (its owner closes the transport) | decoder error → `ended`; handler error → `failed`; lost → `lost` |
   * | `ending`     | EOF seen; the last messages are decoded as room allows | all decoded, decoder error → `ended`; handler error → `failed`; lost → `lost` |
   * | `ended`      | nothing more is decoded (EOF, or a decoder error, kept for `closed`); reading is paused, and the transport closes once the queue is handled | handler error → `failed`; lost → `lost` |
   * | `failed`     | a handler error; the queue is dropped and the transport closes | lost → `lost`   |
   * | `lost`       | `connectionLost` was called                     | —                                    |
   */
  #state: MessageState = "connecting";
  /** Whether the dispatcher is running (mechanics, not state: it spans awaits). */
  #dispatching = false;
  /** Whether the `decodeError` hook is answering (it spans awaits): the transport stays open. */
  #answering = false;
  /** Whether the application paused reading ({@linkcode MessageProtocol.pauseReading}). */
  #pausedByApplication = false;
  /** Whether the transport is paused by us: while the queue is full or the application says so. */
  #transportPaused = false;
  #error: Error | undefined;
  readonly #closed = Promise.withResolvers<Error | undefined>();
  /** Settles `shutdown()` once the dispatcher stops (or the connection is lost). */
  #drained: PromiseWithResolvers<void> | undefined;
  /**
   * Set while the transport's write buffer is over its high watermark (`pauseWriting`); the
   * dispatcher waits on it before the next message, and `resumeWriting` (or the loss) settles it.
   */
  #writable: PromiseWithResolvers<void> | undefined;
  /** Aborts the close a decoder error began once the deadlines' grace is over. */
  #grace: ReturnType<typeof setTimeout> | undefined;

  /**
   * Creates the protocol.
   *
   * @param options The decoder, the handler and the queue size.
   * @throws {RangeError} When `maxQueueSize` is below 1.
   */
  constructor(options: MessageProtocolOptions<M>) {
    this.#handler = options.messageHandler;
    this.#onDecodeError = options.decodeError;
    this.#onLimitExceeded = options.limitExceeded;
    this.#maxQueueSize = options.maxQueueSize ?? 10;
    if (!(this.#maxQueueSize >= 1)) {
      throw new RangeError(
        `Cannot create MessageProtocol: maxQueueSize must be >= 1, got ${this.#maxQueueSize}`,
      );
    }
    const queue = this.#queue;
    this.#reader = new FrameReader(
      options.decoder,
      (message: M) => {
        queue.push(message);
        if (this.transport!.getExtraInfo("tls") !== true) this.#plainQueued++;
      },
      // Once the transport is closing (the handler closed it), nothing more is decoded.
      // Nor during a STARTTLS upgrade: what follows the frame that began it came in plaintext.
      () =>
        this.#queue.length < this.#maxQueueSize && !this.transport!.isClosing() &&
        this.transport!.isUpgrading?.() !== true,
    );
  }

  /**
   * Resolves when the connection is lost, with the decoder's or handler's error if one ended
   * it, else with the transport's error (or `undefined`). It never rejects.
   */
  get closed(): Promise<Error | undefined> {
    return this.#closed.promise;
  }

  /**
   * Stops reading from the transport until {@linkcode MessageProtocol.resumeReading}; the
   * messages already queued are still handled, and bytes already received are still decoded
   * as the queue makes room. Pause a message connection here, not on its
   * transport: the queue's own pause and resume (while it is full) would lift a
   * `transport.pauseReading()`, but never this one.
   *
   * @example Stop reading while a downstream consumer is busy
   * ```ts
   * import { LineFramer, MessageProtocol } from "@plexus/net/framing";
   *
   * const protocol = new MessageProtocol<Uint8Array>({
   *   decoder: new LineFramer(),
   *   messageHandler: () => {},
   * });
   * protocol.pauseReading();
   * console.assert(!protocol.isReading());
   * protocol.resumeReading();
   * ```
   */
  pauseReading(): void {
    this.#pausedByApplication = true;
    if (this.#state === "open") this.#syncReading();
  }

  /** Lifts {@linkcode MessageProtocol.pauseReading}; reading goes on unless the queue is full. */
  resumeReading(): void {
    this.#pausedByApplication = false;
    if (this.#state === "open") this.#syncReading();
  }

  /** Whether the application has not paused reading ({@linkcode MessageProtocol.pauseReading}). */
  isReading(): boolean {
    return !this.#pausedByApplication;
  }

  /**
   * Part of the graceful-shutdown contract (see `ShutdownHook`): stops reading, handles the
   * messages already decoded or whole in the receive buffer, and settles once their handlers
   * have returned; the owner (a `Server`) then closes the transport, which flushes their
   * replies. Bytes of a read still held by the transport (read while the queue was full) are
   * not decoded.
   *
   * @param _signal Aborts when the owner's drain timeout runs out (the transport is aborted
   * then, which settles this too).
   * @returns Settles once the messages already received are handled.
   */
  shutdown(_signal: AbortSignal): Promise<void> {
    if (this.#state === "open") {
      this.#state = "draining";
      this.#fill();
    }
    // The decodeError hook answering (it may await): its reply goes out with the close it ends in.
    if (this.#answering) return this.#closed.promise.then(() => {});
    if (!this.#dispatching) return Promise.resolve();
    return (this.#drained ??= Promise.withResolvers()).promise;
  }

  /** The number of messages waiting for the handler. */
  get queueSize(): number {
    return this.#queue.length;
  }

  /**
   * Part of the transport contract: stores the transport.
   *
   * @param transport The transport driving this protocol.
   */
  connectionMade(transport: Transport): void {
    this.transport = transport;
    this.#reader.transport = transport;
    // The transport's frame deadlines (slowloris): this is a framed protocol too.
    (this.#reader.clock = transport.deadlineClock)?.start(this.#onDeadline);
    this.#state = "open";
    this.#syncReading(); // paused before it was connected
  }

  /**
   * Part of the transport contract: the receive buffer's free tail.
   *
   * @param sizeHint The read size the transport would like.
   */
  getBuffer(sizeHint: number): Uint8Array {
    return this.#reader.buffer.getWriteBuffer(sizeHint);
  }

  /**
   * Part of the transport contract: `nbytes` arrived; decode messages into the queue.
   *
   * @param nbytes The count read into the last buffer.
   */
  bufferUpdated(nbytes: number): void {
    if (!this.#reader.received(nbytes, this.transport)) return;
    this.#fill();
  }

  /**
   * Part of the transport contract: end of stream. The queued messages are still handled.
   *
   * @returns Whether to keep the transport open (while messages are waiting).
   */
  eofReceived(): boolean {
    if (this.#state !== "open") return true;
    this.#state = "ending";
    this.#fill();
    return this.#state as MessageState !== "ended" || this.#dispatching ||
      this.#queue.length > 0 || this.#answering;
  }

  /**
   * Part of the transport contract: the write buffer went over its high watermark. No further
   * message is handled until it drains, so a peer that does not read its replies is pushed
   * back (through the full queue, then TCP) instead of filling the buffer to its cap.
   */
  pauseWriting(): void {
    this.#writable ??= Promise.withResolvers<void>();
  }

  /** Part of the transport contract: the write buffer drained; handling goes on. */
  resumeWriting(): void {
    this.#releaseWriting();
  }

  /**
   * Part of the transport contract: drops the queue and settles `closed`.
   *
   * @param error The transport's error, if any.
   */
  connectionLost(error: Error | undefined): void {
    clearTimeout(this.#grace);
    this.#state = "lost";
    this.#dropQueue();
    this.#closed.resolve(this.#error ?? error);
    this.#drained?.resolve();
    this.#releaseWriting(); // not resumeWriting(): a subclass hears no resume after the loss
  }

  /** Lets a dispatcher waiting for the write buffer to drain go on. */
  #releaseWriting(): void {
    const writable = this.#writable;
    this.#writable = undefined;
    writable?.resolve();
  }

  /** Aborts the connection with the decoder's error once the deadlines' grace is over. */
  #armGrace(): void {
    if (this.#grace !== undefined) return;
    const transport = this.transport!;
    const error = this.#error!;
    this.#grace = setTimeout(() => abortIfStillFlushing(transport, error), DEADLINE_CLOSE_GRACE);
  }

  /** A deadline ran out: the application may tell the peer why before the transport closes. */
  readonly #onDeadline = (error: DeadlineError): void => {
    this.#onLimitExceeded?.(error, this.transport!, this);
  };

  /** Decodes messages into the queue while it has room, and pauses or resumes reading. */
  #fill(): void {
    // The STARTTLS guard (also on a pass the dispatcher makes after an upgrade): plaintext left
    // from before it is never decoded as messages.
    if (!this.#reader.plaintextGuard(this.transport)) return;
    try {
      if (this.#state === "open" || this.#state === "draining") this.#reader.read();
      else if (this.#state === "ending" && this.#reader.finish()) this.#state = "ended";
    } catch (error) {
      // The messages decoded before the bad bytes are still handled, as tokio's FramedRead and
      // Netty's ByteToMessageDecoder hand out the frames before a decode error.
      this.#error ??= error instanceof FramingError ? error : asProtocolError(error);
      this.#state = "ended";
      if (!this.#dispatching && this.#queue.length === 0) {
        void this.#closeEnded();
        return;
      }
    }
    if (!this.#handling()) return;
    this.#syncReading();
    if (!this.#dispatching && this.#queue.length > 0) this.#dispatch();
  }

  async #dispatch(): Promise<void> {
    this.#dispatching = true;
    const queue = this.#queue;
    while (
      queue.length > 0 && this.#handling() && !this.transport!.isClosing()
    ) {
      if (this.#writable !== undefined) {
        // The peer is not reading our replies: wait for it before handling more. After a
        // decoder error the close's grace runs from here: a peer that sent bad bytes cannot
        // hold the connection by not reading.
        if (this.#state === "ended" && this.#error !== undefined) this.#armGrace();
        await this.#writable.promise;
        continue;
      }
      const message = queue.shift()!;
      if (this.#plainQueued > 0) {
        this.#plainQueued--;
        const transport = this.transport!;
        if (transport.isUpgrading?.() === true || transport.getExtraInfo("tls") === true) {
          // Decoded before the upgrade that a message before it began: it came in plaintext.
          this.#dropQueue();
          transport.abort(plaintextInjection());
          break;
        }
      }
      this.#fill();
      try {
        await this.#handler(message, this.transport!, this);
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.#dispatching = false;
    this.#drained?.resolve();
    this.#drained = undefined;
    if (this.#state === "ended") await this.#closeEnded();
  }

  /**
   * Closes the transport once nothing more is decoded and the queue is handled; after a
   * decoder error, the `decodeError` hook answers the peer first, and the transport ends with
   * the error. As after `FramedProtocol`'s `frameError`, the hook and the close together get
   * the deadlines' grace: a peer that does not read (or a hook that never settles) cannot hold
   * the connection open past it.
   */
  async #closeEnded(): Promise<void> {
    const error = this.#error;
    const hook = this.#onDecodeError;
    const transport = this.transport!;
    if (error !== undefined) this.#armGrace();
    if (error !== undefined && hook !== undefined && !transport.isClosing()) {
      this.#answering = true;
      try {
        await hook(error, transport, this);
      } catch (hookError) {
        this.#error = hookError instanceof Error ? hookError : new Error(String(hookError));
        transport.abort(this.#error);
        return;
      } finally {
        this.#answering = false;
      }
    }
    if (this.#state === "ended") transport.close(error);
  }

  /** Whether queued messages are handled in this state (not before it opens, nor after a failure). */
  #handling(): boolean {
    const state = this.#state;
    return state === "open" || state === "draining" || state === "ending" || state === "ended";
  }

  /** Pauses or resumes the transport: paused while the queue is full or the application says so. */
  #syncReading(): void {
    // Once nothing more is decoded (`ended`) or a shutdown began, nothing more is read.
    const pause = this.#pausedByApplication || this.#queue.length >= this.#maxQueueSize ||
      this.#state === "ended" || this.#state === "draining";
    if (pause === this.#transportPaused || this.transport === undefined) return;
    this.#transportPaused = pause;
    if (pause) this.transport.pauseReading();
    else this.transport.resumeReading();
  }

  #dropQueue(): void {
    this.#queue.length = 0;
    this.#plainQueued = 0;
  }

  #fail(error: Error): void {
    if (this.#state === "failed" || this.#state === "lost") return;
    this.#state = "failed";
    this.#error ??= error;
    this.#dropQueue();
    this.transport!.close(this.#error); // flushed, and the transport ends with the error
  }
}

/** The states of a {@linkcode MessageProtocol} (see the table on its `#state`). */
type MessageState =
  | "connecting"
  | "open"
  | "draining"
  | "ending"
  | "ended"
  | "failed"
  | "lost";

function asProtocolError(error: unknown): ProtocolError {
  if (error instanceof ProtocolError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ProtocolError(`Cannot decode message: ${message}`, { cause: error });
}
