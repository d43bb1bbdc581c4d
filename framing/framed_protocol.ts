import type { BufferedProtocol, ShutdownHook } from "../transport/protocols.ts";
import type { Transport } from "../transport/types.ts";
import type { DeadlineClock } from "../transport/deadline_clock.ts";
import { type DeadlineError, TransportError } from "../transport/errors.ts";
import { TruncatedFrameError } from "./errors.ts";
import type { Decoder, Encoder, Framer } from "./framer.ts";
import { ReceiveBuffer } from "./receive_buffer.ts";
import { SendBuffer } from "./send_buffer.ts";

/**
 * What a {@linkcode FramedProtocol} calls: the application side of a framed connection.
 *
 * Call order: `connectionMade -> frameReceived* -> [eofReceived] -> connectionLost`, with
 * `pauseWriting` / `resumeWriting` alternating in between. A callback that throws aborts the
 * connection, and `connectionLost` receives the error.
 *
 * @typeParam T The frame type.
 *
 * @example Echo every line
 * ```ts
 * import { type FrameHandler } from "@plexus/net/framing";
 *
 * const echo: FrameHandler<Uint8Array> = {
 *   frameReceived: (line, framed) => framed.sendFrame(line),
 * };
 * ```
 */
export interface FrameHandler<T = Uint8Array> {
  /** Called once the transport is ready; frames may be sent from here on. */
  connectionMade?(framed: FramedProtocol<T>): void;
  /**
   * Called with each decoded frame.
   *
   * **Store a copy, not the frame** (`frame.slice()`): the frame is a view into the receive
   * block (up to the read size, 8–256 KiB), and a stored view keeps that whole block alive.
   * The frame stays valid after the call returns, so a view is fine for work done soon. The framers may be replaced from here;
   * the next frame is decoded by the new receive framer, starting right after this one.
   */
  frameReceived(frame: T, framed: FramedProtocol<T>): void;
  /**
   * Called at end of stream, after every buffered frame was delivered and no partial frame was
   * left. Return `true` to keep the connection open for writing. When the connection closes
   * while delivery is paused at end of stream (we had sent EOF too), the frames left and this
   * call come just before `connectionLost`, paused or not.
   */
  eofReceived?(framed: FramedProtocol<T>): boolean | void;
  /**
   * Called when a deadline of the transport ran out (its `deadlines` option: a frame took
   * longer than `frameTimeout`, or none came within `firstFrameTimeout`), just before the
   * connection closes: a last frame sent from here tells the peer why. The connection then
   * closes gracefully (what was sent is flushed, within a short grace) and `connectionLost`
   * receives the error. A throw aborts the connection with the thrown error instead.
   *
   * @param error The deadline that ran out, naming it (`error.limit`).
   */
  limitExceeded?(error: DeadlineError, framed: FramedProtocol<T>): void;
  /** Called when the transport's write buffer goes over its high watermark. */
  pauseWriting?(framed: FramedProtocol<T>): void;
  /** Called when the transport's write buffer drains to its low watermark. */
  resumeWriting?(framed: FramedProtocol<T>): void;
  /**
   * Called once when the connection's owner shuts down gracefully (`Server.shutdown()`, or
   * `run()` on SIGTERM). The connection stays open and frames keep arriving; keep replying to
   * the requests you accepted (and decide what to do with new ones: answer, refuse, or
   * `framed.pauseReading()`), then settle the returned promise: the connection is closed
   * after it (flushing what you sent). Without this hook the connection is closed at once.
   *
   * @param framed The framed protocol.
   * @param signal Aborts when the owner's drain timeout runs out (the connection is then
   * aborted).
   */
  shutdown?(framed: FramedProtocol<T>, signal: AbortSignal): void | Promise<void>;
  /**
   * Called once when the connection is closed or lost.
   *
   * @param error `undefined` after an orderly close; otherwise why, for example a
   * {@linkcode FramingError} from a decoder.
   */
  connectionLost?(error: Error | undefined, framed: FramedProtocol<T>): void;
}

/**
 * The most bytes of frames a batch collects before they are written anyway, so that the
 * transport's flow control (`pauseWriting`) sees a large batch while it is being made. It is
 * the size of a large read: an echo's batch seldom reaches it, replies much larger than the
 * requests do (writing every 64 KiB cost an echo about a tenth of its throughput).
 */
const BATCH_LIMIT = 256 * 1024;

/** Transport methods that write or end the stream: the batch goes out before they run. */
const FLUSH_FIRST: ReadonlySet<PropertyKey> = new Set([
  "write",
  "writeLines",
  "writeEof",
  "close",
  "startTls",
  "wrapChannel",
  "getWriteBufferSize",
  "setWriteBufferLimits",
]);

/** Options of a {@linkcode FramedProtocol}. */
export interface FramedProtocolOptions<T = Uint8Array> {
  /**
   * The receive framer, when it differs from the framer given to the constructor.
   *
   * @default {the constructor's framer}
   */
  receiveFramer?: Decoder<T>;
  /**
   * The send framer, when it differs from the framer given to the constructor.
   *
   * @default {the constructor's framer}
   */
  sendFramer?: Encoder<T>;
  /**
   * The smallest free space each read gets in the receive buffer.
   *
   * @default {4096}
   */
  minReadSize?: number;
  /**
   * Frames sent while frames are being delivered leave in one `transport.write()` per batch.
   * Turn it off when every frame must be its own write — over a datagram transport, where a
   * write is a datagram.
   *
   * @default {true}
   */
  batchWrites?: boolean;
}

/**
 * A stream protocol that speaks in frames: it owns the connection's receive buffer, runs the
 * active receive framer over it and calls `frameReceived(frame)`, and encodes `sendFrame(frame)`
 * with the active send framer (Tendril's framed connection).
 *
 * - **Zero-copy reads.** It is a `BufferedProtocol`: the transport reads straight into the
 *   receive buffer's free tail (as much as the transport's adaptive read size asks: 8 KiB at first,
 *   growing under bulk traffic; at least `minReadSize`).
 * - **Switching.** `receiveFramer` and `sendFramer` may be replaced at any time, also from
 *   inside `frameReceived`; the next frame is decoded by the new framer from the byte right
 *   after the last frame, so nothing is lost or reordered.
 * - **Frame lifetime.** Frames are views into the receive buffer that stay valid after
 *   `frameReceived` returns (the buffer never writes over a region it handed out).
 * - **Batched sends.** Frames sent from inside `frameReceived` are encoded into one buffer and
 *   written with one `transport.write()` when the batch of received frames is done, or as
 *   soon as 256 KiB are batched (so flow control sees them); elsewhere `sendFrame` writes at
 *   once. {@linkcode FramedProtocol.transport} writes the batch out before any call that
 *   writes or ends the stream (`write`, `writeEof`, `close`, `startTls`, ...), so bytes keep
 *   their order and nothing batched is lost; only a transport reference kept from elsewhere
 *   needs {@linkcode FramedProtocol.flush} first.
 * - **Flow control.** `pauseWriting` / `resumeWriting` reach the handler.
 *   {@linkcode FramedProtocol.pauseReading} stops both the transport and the delivery of frames
 *   already buffered, until {@linkcode FramedProtocol.resumeReading}.
 * - **Errors.** A framing error (or a throw from the handler) aborts the connection, and
 *   `connectionLost` receives the error; so does end of stream inside a frame
 *   ({@linkcode TruncatedFrameError}).
 *
 * @typeParam T The frame type.
 *
 * @example Lines, a 5-byte chunk, then lines again (Tendril's SMTP switch)
 * ```ts
 * import { ChunkFramer, FramedProtocol, LineFramer } from "@plexus/net/framing";
 * import { createMemoryTransportPair, type Transport } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const frames: string[] = [];
 * const server = new FramedProtocol(new LineFramer(), {
 *   frameReceived(frame, framed) {
 *     const text = new TextDecoder().decode(frame);
 *     frames.push(text);
 *     if (text === "DATA 5") framed.receiveFramer = new ChunkFramer(5);
 *     else if (framed.receiveFramer instanceof ChunkFramer) framed.receiveFramer = new LineFramer();
 *   },
 * });
 * let client: Transport | undefined;
 * createMemoryTransportPair(server, {
 *   connectionMade: (t) => client = t,
 *   dataReceived: () => {},
 * });
 * client!.write(new TextEncoder().encode("HELO\r\nDATA 5\r\n12345QUIT\r\n"));
 * client!.writeEof();
 * await server.closed;
 * assertEquals(frames, ["HELO", "DATA 5", "12345", "QUIT"]);
 * ```
 */
export class FramedProtocol<T = Uint8Array> implements BufferedProtocol, ShutdownHook {
  /** The receive buffer: the bytes received and not yet decoded. */
  readonly receiveBuffer: ReceiveBuffer;
  #receiveFramer: Decoder<T>;
  #sendFramer: Encoder<T>;
  readonly #handler: FrameHandler<T>;
  readonly #out = new SendBuffer({ blockSize: 16 * 1024 });
  readonly #batchWrites: boolean;
  #transport: Transport | undefined;
  #view: Transport | undefined;
  /** The transport's frame deadlines, told of each read's progress. */
  #clock: DeadlineClock | undefined;
  #eofWritten = false;
  #closeRequested = false;
  #final = false;
  #delivering = false;
  #deliveryScheduled = false;
  #paused = false;
  #eofPending = false;
  #eofDone = false;
  #eofKeepOpen = false;
  #lost = false;
  #error: Error | undefined;
  readonly #closed = Promise.withResolvers<Error | undefined>();

  /**
   * Creates the protocol; give it to a transport (or a connection factory) to start it.
   *
   * @param framer The framer for both directions (until replaced).
   * @param handler The application callbacks.
   * @param options Separate receive and send framers; the read size.
   */
  constructor(framer: Framer<T>, handler: FrameHandler<T>, options?: FramedProtocolOptions<T>) {
    options ??= {};
    this.#receiveFramer = options.receiveFramer ?? framer;
    this.#sendFramer = options.sendFramer ?? framer;
    this.#handler = handler;
    this.receiveBuffer = new ReceiveBuffer({ minReadSize: options.minReadSize });
    this.#batchWrites = options.batchWrites ?? true;
  }

  /** The framer that decodes received bytes; replace it at any time. */
  get receiveFramer(): Decoder<T> {
    return this.#receiveFramer;
  }

  set receiveFramer(framer: Decoder<T>) {
    this.#receiveFramer = framer;
    // Bytes already buffered may hold frames for the new framer.
    if (this.#transport && !this.#delivering && this.receiveBuffer.length > 0) {
      this.#scheduleDelivery();
    }
  }

  /** The framer that encodes sent frames; replace it at any time. */
  get sendFramer(): Encoder<T> {
    return this.#sendFramer;
  }

  set sendFramer(framer: Encoder<T>) {
    this.#sendFramer = framer;
  }

  /**
   * Replaces both framers.
   *
   * @param framer The framer for both directions.
   */
  setFramer(framer: Framer<T>): void {
    this.sendFramer = framer;
    this.receiveFramer = framer;
  }

  /**
   * The transport, once connected, as seen through this protocol: the same object in every
   * respect (methods, `instanceof`, `startTls` ...) except that a call that writes or ends the
   * stream — `write`, `writeLines`, `writeEof`, `close`, `startTls`, `wrapChannel`,
   * `getWriteBufferSize`, `setWriteBufferLimits` — first writes the frames batched so far, and `abort` drops them.
   *
   * @throws {TransportError} Before `connectionMade`.
   */
  get transport(): Transport {
    if (!this.#view) {
      throw new TransportError("Cannot use a framed protocol before it is connected");
    }
    return this.#view;
  }

  /** Resolves after `connectionLost`, with its error (or `undefined`); never rejects. */
  get closed(): Promise<Error | undefined> {
    return this.#closed.promise;
  }

  /**
   * Encodes `frame` with the send framer and writes it to the transport (batched while
   * frames are being delivered). Once the transport is closing or lost, frames are dropped,
   * as the transport's `write()` drops bytes then (`connectionLost` tells the handler).
   *
   * @param frame The frame.
   * @throws {FramingError} When the send framer cannot encode it (nothing is sent).
   * @throws {TransportError} When not connected yet, or after our `writeEof()`.
   */
  sendFrame(frame: T): void {
    const transport = this.#transport;
    if (transport?.isClosing()) return;
    if (!transport || this.#eofWritten) {
      throw new TransportError(
        !transport
          ? "Cannot send a frame before the framed protocol is connected"
          : "Cannot send a frame after writeEof()",
      );
    }
    const out = this.#out;
    this.#sendFramer.encode(frame, out);
    if (!this.#delivering || !this.#batchWrites || out.length >= BATCH_LIMIT) {
      transport.write(out.take());
    }
  }

  /**
   * Writes the frames batched so far to the transport now. Needed only before writing from
   * inside `frameReceived` through a transport reference other than
   * {@linkcode FramedProtocol.transport}.
   *
   * @throws {TransportError} When frames are batched and the transport can no longer write.
   */
  flush(): void {
    if (this.#out.length > 0) this.transport.write(this.#out.take());
  }

  /** Whether frames are being delivered (not paused by {@linkcode FramedProtocol.pauseReading}). */
  isReading(): boolean {
    return !this.#paused && !this.#lost;
  }

  /**
   * Stops delivering frames, including those already buffered, and pauses the transport's
   * reads, until {@linkcode FramedProtocol.resumeReading}. Takes effect after the current
   * `frameReceived` returns.
   */
  pauseReading(): void {
    this.#paused = true;
    this.#transport?.pauseReading();
  }

  /** Resumes delivering frames (buffered ones first, from a microtask) and reading. */
  resumeReading(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#transport && (this.receiveBuffer.length > 0 || this.#eofPending)) {
      this.#scheduleDelivery();
    }
    this.#transport?.resumeReading();
  }

  /**
   * Writes the frames sent so far and half-closes the connection (sends EOF); `sendFrame`
   * throws from then on. Calling it again, or on a closing transport, does nothing.
   *
   * @throws {TransportError} Before `connectionMade`.
   */
  writeEof(): void {
    this.transport.writeEof();
  }

  /**
   * Writes the frames sent so far and closes the connection. Calling it again does nothing.
   *
   * @throws {TransportError} Before `connectionMade`.
   */
  close(): void {
    this.transport.close();
  }

  // ---- BufferedProtocol ----------------------------------------------------------------------

  /**
   * Part of the transport contract: stores the transport and calls the handler.
   *
   * @param transport The transport driving this protocol.
   */
  connectionMade(transport: Transport): void {
    this.#transport = transport;
    this.#view = this.#viewOf(transport);
    this.#clock = transport.deadlineClock;
    this.#clock?.start(this.#onDeadline);
    this.#handler.connectionMade?.(this);
  }

  /**
   * Part of the transport contract: the receive buffer's free tail.
   *
   * @param sizeHint The read size the transport would like.
   */
  getBuffer(sizeHint: number): Uint8Array {
    return this.receiveBuffer.getWriteBuffer(sizeHint);
  }

  /**
   * Part of the transport contract: `nbytes` arrived; decode and deliver the frames.
   *
   * @param nbytes The count read into the last buffer.
   */
  bufferUpdated(nbytes: number): void {
    this.receiveBuffer.commit(nbytes);
    this.#deliver();
  }

  /** Part of the transport contract: end of stream; deliver the rest, then tell the handler. */
  eofReceived(): boolean {
    this.#eofPending = true;
    if (!this.#paused) this.#deliver();
    // While paused, the rest is delivered (and the transport closed) after resumeReading().
    return this.#eofDone ? this.#eofKeepOpen : true;
  }

  /**
   * Part of the graceful-shutdown contract ({@linkcode ShutdownHook}): passed on to the
   * handler's `shutdown`; resolves at once when it has none.
   *
   * @param signal Aborts when the owner's drain timeout runs out.
   */
  async shutdown(signal: AbortSignal): Promise<void> {
    await this.#handler.shutdown?.(this, signal);
  }

  /** Part of the transport contract: passed on to the handler. */
  pauseWriting(): void {
    this.#handler.pauseWriting?.(this);
  }

  /** Part of the transport contract: passed on to the handler. */
  resumeWriting(): void {
    this.#handler.resumeWriting?.(this);
  }

  /**
   * Part of the transport contract: passed on to the handler, with the error that ended the
   * connection.
   *
   * @param error The transport's error, if any.
   */
  connectionLost(error: Error | undefined): void {
    let reason = error ?? this.#error;
    if (reason === undefined && this.#eofPending && !this.#eofDone && !this.#closeRequested) {
      // Closed while delivery was paused at end of stream (EOF both ways): there is no later,
      // so the frames left and eofReceived come now.
      this.#final = true;
      try {
        this.#deliver();
      } catch (failure) {
        reason = failure instanceof Error ? failure : new Error(String(failure));
      }
    }
    this.#lost = true;
    try {
      this.#handler.connectionLost?.(reason, this);
    } finally {
      this.#closed.resolve(reason);
    }
  }

  // ---- Delivery ------------------------------------------------------------------------------

  #scheduleDelivery(): void {
    if (this.#deliveryScheduled) return;
    this.#deliveryScheduled = true;
    queueMicrotask(() => {
      this.#deliveryScheduled = false;
      if (this.#lost || this.#delivering) return;
      try {
        this.#deliver();
        if (this.#eofDone && !this.#eofKeepOpen) this.#transport?.close();
      } catch (error) {
        // Outside a transport callback: abort with the error, so connectionLost gets it.
        this.#error = error instanceof Error ? error : new Error(String(error));
        this.#transport?.abort(this.#error);
      }
    });
  }

  /** Whether frames may be delivered now. */
  #mayDeliver(): boolean {
    return this.#final || (!this.#paused && !this.#lost && !this.#transport!.isClosing());
  }

  /** Decodes and delivers buffered frames until more bytes are needed or reading pauses. */
  #deliver(): void {
    if (this.#delivering) return;
    const buffer = this.receiveBuffer;
    this.#delivering = true;
    let completed = false;
    try {
      while (this.#mayDeliver()) {
        const before = buffer.position;
        const frame = this.#receiveFramer.decode(buffer);
        if (frame !== undefined) {
          completed = true;
          this.#handler.frameReceived(frame, this);
        } else if (buffer.position === before) break;
      }
      // Once per read: whether a frame completed, and whether part of one is left.
      this.#clock?.progress(completed, buffer.length > 0);
      if (this.#eofPending && !this.#eofDone && (this.#final || (!this.#paused && !this.#lost))) {
        this.#finishEof();
      }
    } finally {
      this.#delivering = false;
    }
    this.#flushBatch();
  }

  /** A deadline ran out: the handler may tell the peer why before the transport closes. */
  readonly #onDeadline = (error: DeadlineError): void => {
    this.#handler.limitExceeded?.(error, this);
  };

  /**
   * Writes the batch at the end of a delivery. It can only fail when the transport was closed
   * or half-closed through a reference other than `transport` while frames were batched: the
   * frames are lost, and connectionLost reports it.
   */
  #flushBatch(): void {
    const out = this.#out;
    if (out.length === 0) return;
    const transport = this.#transport!;
    const batch = out.take();
    if (this.#final) return; // the transport is gone; sendFrame threw for these
    try {
      transport.write(batch);
    } catch (cause) {
      this.#error ??= new TransportError(
        `Cannot send ${batch.byteLength} bytes of frames: the transport was closed or ` +
          "half-closed while they were batched (end it through framed.transport, " +
          "framed.writeEof() or framed.close(), or call framed.flush() first)",
        { cause },
      );
    }
  }

  /**
   * The transport as the handler sees it (see the `transport` getter): calls that write or
   * end the stream write the batch first.
   */
  #viewOf(transport: Transport): Transport {
    const members = new Map<PropertyKey, unknown>();
    const flushFirst = (): void => {
      if (this.#out.length > 0 && !transport.isClosing() && !this.#eofWritten) {
        transport.write(this.#out.take());
      }
    };
    return new Proxy(transport, {
      get: (target, key) => {
        const cached = members.get(key);
        if (cached !== undefined) return cached;
        const member: unknown = Reflect.get(target, key, target);
        if (typeof member !== "function") return member;
        let bound: unknown;
        if (key === "writeEof") {
          bound = () => {
            flushFirst();
            if (!target.isClosing()) this.#eofWritten = true;
            target.writeEof();
          };
        } else if (key === "close") {
          bound = () => {
            flushFirst();
            this.#closeRequested = true;
            target.close();
          };
        } else if (key === "abort") {
          bound = (error?: Error) => {
            this.#out.take(); // dropped, as abort drops the write buffer
            this.#closeRequested = true;
            target.abort(error);
          };
        } else if (FLUSH_FIRST.has(key)) {
          bound = (...args: unknown[]) => {
            flushFirst();
            return member.apply(target, args);
          };
        } else {
          bound = member.bind(target);
        }
        members.set(key, bound);
        return bound;
      },
    });
  }

  /**
   * At end of stream: the framer's last frames, the truncation check, then the handler. Stops
   * early (to be called again) when the handler pauses reading.
   */
  #finishEof(): void {
    const buffer = this.receiveBuffer;
    while (this.#final || !this.#lost) {
      if (this.#paused && !this.#final) return;
      const decoder = this.#receiveFramer;
      const before = buffer.position;
      const frame = decoder.decodeEof ? decoder.decodeEof(buffer) : decoder.decode(buffer);
      if (frame !== undefined) this.#handler.frameReceived(frame, this);
      else if (buffer.position === before) break;
    }
    this.#eofDone = true;
    if (buffer.length > 0) throw new TruncatedFrameError(buffer.length);
    this.#eofKeepOpen = this.#handler.eofReceived?.(this) === true;
  }
}
