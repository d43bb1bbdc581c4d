import type { BufferedProtocol } from "../transport/protocols.ts";
import type { Transport } from "../transport/types.ts";
import { TransportError } from "../transport/errors.ts";
import {
  CorruptFrameError,
  FrameTooLongError,
  TransmissionRejectedError,
  TruncatedFrameError,
} from "./errors.ts";
import { DEFAULT_MAX_FRAME_LENGTH } from "./length_prefixed.ts";
import { ReceiveBuffer } from "./receive_buffer.ts";

/** The largest size tinyproto can accept: bigger ones are always refused. */
export const TINYPROTO_MAX_SIZE = 0xf0ffffff;

const OK = 0xff;
const REFUSED = 0x00;
const OK_BYTE = new Uint8Array([OK]);
const REFUSED_BYTE = new Uint8Array([REFUSED]);

/** Status bytes a tinyproto server may send instead of the `ff` handshake, then close. */
const HANDSHAKE_STATUS: Record<number, string> = {
  0x00: "00: refused",
  0xfd: "fd: conflict",
  0xfe: "fe: connection limit reached",
};

/** The default {@linkcode TinyprotoOptions.closeTimeout}: 30 s. */
const DEFAULT_CLOSE_TIMEOUT = 30_000;

/** What a {@linkcode TinyprotoProtocol} calls: the application side of tinyproto. */
export interface TinyprotoHandler {
  /** Called once both sides have exchanged the `ff` handshake; sends go out from here on. */
  connectionStarted?(tinyproto: TinyprotoProtocol): void;
  /** Called with each message received (an empty one too); it stays valid after the call. */
  transmissionReceived(payload: Uint8Array, tinyproto: TinyprotoProtocol): void;
  /**
   * Called once when the connection ends.
   *
   * @param error `undefined` after an orderly end; otherwise why: the peer refused our message
   * ({@linkcode TransmissionRejectedError}), we refused the peer's
   * ({@linkcode FrameTooLongError}), the stream was cut inside a message
   * ({@linkcode TruncatedFrameError}), a transport error, ...
   */
  connectionEnded?(error: Error | undefined, tinyproto: TinyprotoProtocol): void;
  /** Called when the transport's write buffer goes over its high watermark. */
  pauseWriting?(tinyproto: TinyprotoProtocol): void;
  /** Called when the transport's write buffer drains to its low watermark. */
  resumeWriting?(tinyproto: TinyprotoProtocol): void;
}

/** Options of a {@linkcode TinyprotoProtocol}. */
export interface TinyprotoOptions {
  /**
   * The largest message accepted; a bigger announced size is refused (`00`). At most
   * `0xf0ffffff`.
   *
   * @default {8388608}
   */
  maxSize?: number;
  /**
   * Milliseconds to wait, once ending (after `close()`, a refusal or an error), for the peer
   * to close its side; then the connection is aborted. `Infinity` waits for ever.
   *
   * @default {30000}
   */
  closeTimeout?: number;
}

/** One of our messages: announced, or waiting for its turn. */
interface Outgoing {
  payload: Uint8Array;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * What the peer owes us next, in the order of our own output: the answer to our
 * announcement, or the payload of its announcement that we accepted.
 */
type Owed = "status" | number;

/**
 * tinyproto 2.0.1 transmissions on a stream transport, correct when both ends send at once.
 *
 * The wire (both directions alike): one `ff` each way at the start; then per message the
 * sender's size (4 bytes, big endian), the receiver's `ff` (go on) or `00` (refused: over its
 * maximum, always above `0xf0ffffff`), and, after `ff` only, the payload.
 *
 * ## Full duplex
 *
 * The original reads the peer's next size as the answer to its own when both ends announce at
 * the same moment. Here each side reads the peer's stream with a queue of what the peer owes
 * it, kept in the order of its own output, because the peer reacts to our bytes in the order
 * we sent them:
 *
 * - announcing a message queues `"status"`; accepting the peer's size queues its payload;
 * - a side sends at most one message at a time and answers an announcement as soon as it has
 *   read it, so the peer's own announcements can only come when the peer has nothing in
 *   flight, and never between its accepted size and its payload.
 *
 * So at each step in the peer's stream:
 *
 * | owed head | peer busy (payload owed) | next byte                       | meaning                |
 * | --------- | ------------------------ | ------------------------------- | ---------------------- |
 * | payload   |                          | n bytes                         | the payload            |
 * | none      |                          | 4 bytes                         | the peer announces     |
 * | status    | yes                      | `ff` / `00`                     | our answer             |
 * | status    | no                       | `ff`                            | our answer: go on      |
 * | status    | no                       | `01`..`fe`                      | the peer announces (crossing) |
 * | status    | no                       | `00` then more bytes            | the peer announces a size < 2^24 (crossing) |
 * | status    | no                       | `00` then end of stream         | our answer: refused    |
 *
 * A size never starts with `ff` (sizes above `0xf0ffffff` are refused), so `ff` is always an
 * answer. `00` is either a refusal or the first byte of a crossing size; the last two rows tell
 * them apart without timing because **a refusal is final**: the refusing side sends `00`, then
 * nothing but end of stream (it half-closes and waits for the peer to close). Both ends then
 * report the refusal, and the connection ends. A stream cut inside a size or payload is a
 * {@linkcode TruncatedFrameError}, never a padded message.
 *
 * Interoperability: against the original (one direction at a time) this is the same wire. A
 * refusal from an original peer is recognised when its connection closes. An original server
 * that turns a connection away sends a status byte instead of the `ff` handshake (`fe`
 * connection limit reached, `fd` conflict, `00` refused): that ends the connection with a
 * {@linkcode TransmissionRejectedError} naming it.
 *
 * Ending: after `close()` (or a refusal) the side half-closes, drops what still arrives and
 * waits for the peer to close, at most `closeTimeout` ms, then aborts. A stray `ff` that
 * answers nothing, or any other byte where none can come, is a {@linkcode CorruptFrameError}.
 *
 * @example Send "hello", get "echo:hello" back
 * ```ts
 * import { TinyprotoProtocol } from "@plexus/net/framing";
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const server = new TinyprotoProtocol({
 *   transmissionReceived(payload, tp) {
 *     tp.send(new TextEncoder().encode("echo:" + new TextDecoder().decode(payload)));
 *   },
 * });
 * const replies: string[] = [];
 * const client = new TinyprotoProtocol({
 *   transmissionReceived(payload, tp) {
 *     replies.push(new TextDecoder().decode(payload));
 *     tp.close();
 *   },
 * });
 * createMemoryTransportPair(server, client);
 * await client.send(new TextEncoder().encode("hello"));
 * assertEquals(await client.closed, undefined);
 * await server.closed;
 * assertEquals(replies, ["echo:hello"]);
 * ```
 */
export class TinyprotoProtocol implements BufferedProtocol {
  readonly #handler: TinyprotoHandler;
  readonly #maxSize: number;
  readonly #closeTimeout: number;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #buffer = new ReceiveBuffer({ initialCapacity: 16 * 1024, minReadSize: 16 * 1024 });
  #transport: Transport | undefined;
  #started = false;
  #owed: Owed[] = [];
  #current: Outgoing | undefined;
  readonly #queue: Outgoing[] = [];
  /** Set once the connection is ending: the reason, or null for an orderly end. */
  #ending: Error | null | undefined;
  readonly #closed = Promise.withResolvers<Error | undefined>();

  /**
   * Creates the protocol; give it to a transport (or a connection factory) to start it.
   *
   * @param handler The application callbacks.
   * @param options The largest message accepted; how long to wait for the peer to close.
   * @throws {RangeError} When `maxSize` is over `0xf0ffffff` or `closeTimeout` is negative.
   */
  constructor(handler: TinyprotoHandler, options: TinyprotoOptions = {}) {
    this.#handler = handler;
    this.#maxSize = options.maxSize ?? DEFAULT_MAX_FRAME_LENGTH;
    if (
      !(Number.isSafeInteger(this.#maxSize) && this.#maxSize >= 0 &&
        this.#maxSize <= TINYPROTO_MAX_SIZE)
    ) {
      throw new RangeError(
        `Cannot create tinyproto protocol: maxSize must be 0 to ${TINYPROTO_MAX_SIZE}, got ${this.#maxSize}`,
      );
    }
    this.#closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    if (!(this.#closeTimeout >= 0)) {
      throw new RangeError(
        `Cannot create tinyproto protocol: closeTimeout must be a number of ms >= 0, got ${this.#closeTimeout}`,
      );
    }
  }

  /** Resolves after `connectionEnded`, with its error (or `undefined`); never rejects. */
  get closed(): Promise<Error | undefined> {
    return this.#closed.promise;
  }

  /**
   * Sends one message. Messages go out one at a time, in order; each waits for the peer's
   * `ff` before its payload is written. Do not modify `payload` afterwards.
   *
   * @param payload The message (may be empty).
   * @returns Resolves once the payload is handed to the transport. It never throws: every
   * failure is a rejection.
   * @throws {TransmissionRejectedError} (rejection) When the peer refuses it.
   * @throws {TransportError} (rejection) When the connection is ending or closing, or ends
   * first.
   * @throws {RangeError} (rejection) When the payload is longer than `0xf0ffffff` bytes.
   */
  send(payload: Uint8Array): Promise<void> {
    if (payload.byteLength > TINYPROTO_MAX_SIZE) {
      return Promise.reject(
        new RangeError(
          `Cannot send ${payload.byteLength} bytes: tinyproto allows at most ${TINYPROTO_MAX_SIZE}`,
        ),
      );
    }
    if (this.#ending !== undefined || this.#transport?.isClosing()) {
      return Promise.reject(new TransportError("Cannot send: the tinyproto connection is ending"));
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#queue.push({ payload, resolve, reject });
    this.#announceNext();
    return promise;
  }

  /**
   * Ends the connection: sends end of stream, fails the messages not yet sent, drops what
   * still arrives, and closes once the peer closes too (or aborts after `closeTimeout`).
   */
  close(): void {
    this.#end(null);
  }

  // ---- BufferedProtocol ----------------------------------------------------------------------

  /**
   * Part of the transport contract: sends the handshake.
   *
   * @param transport The transport driving this protocol.
   */
  connectionMade(transport: Transport): void {
    this.#transport = transport;
    transport.write(OK_BYTE);
  }

  /**
   * Part of the transport contract: the receive buffer's free tail.
   *
   * @param sizeHint The read size the transport would like.
   */
  getBuffer(sizeHint: number): Uint8Array {
    return this.#buffer.getWriteBuffer(sizeHint);
  }

  /**
   * Part of the transport contract: parses what arrived.
   *
   * @param nbytes The count read into the last buffer.
   */
  bufferUpdated(nbytes: number): void {
    this.#buffer.commit(nbytes);
    if (this.#ending === undefined) this.#parse(false);
    else this.#buffer.skip(this.#buffer.length); // ending: the rest is ignored
  }

  /** Part of the transport contract: end of stream; a refusal, an orderly end or a cut. */
  eofReceived(): boolean {
    if (this.#ending === undefined) this.#parse(true);
    if (this.#ending === undefined) {
      const left = this.#buffer.length;
      const owed = this.#owed[0];
      if (left > 0 || typeof owed === "number") {
        this.#ending = new TruncatedFrameError(
          left,
          typeof owed === "number"
            ? `Cannot receive transmission of ${owed} bytes`
            : "Cannot receive transmission",
        );
      } else if (this.#current || !this.#started) {
        this.#ending = new TransportError(
          this.#started
            ? "Cannot send transmission: the peer closed before answering"
            : "Cannot start tinyproto: the peer closed before the handshake",
        );
      } else {
        this.#ending = null;
      }
    }
    return false;
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
   * Part of the transport contract: fails what is pending and tells the handler.
   *
   * @param error The transport's error, if any.
   */
  connectionLost(error: Error | undefined): void {
    clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    const reason = error ?? this.#ending ?? undefined;
    this.#ending ??= reason ?? null;
    this.#failPending(
      reason ?? new TransportError("Cannot send transmission: the connection closed"),
    );
    try {
      this.#handler.connectionEnded?.(reason, this);
    } finally {
      this.#closed.resolve(reason);
    }
  }

  // ---- The state machine ---------------------------------------------------------------------

  /** Parses as far as the buffered bytes go (see the table in the class doc). */
  #parse(eof: boolean): void {
    const buffer = this.#buffer;
    while (this.#ending === undefined && !this.#transport!.isClosing()) {
      if (!this.#started) {
        const first = buffer.at(0);
        if (first === undefined) return;
        if (first !== OK) {
          const status = HANDSHAKE_STATUS[first];
          if (status === undefined) {
            throw new CorruptFrameError(
              `Cannot start tinyproto: expected the ff handshake, got ${hex(first)}`,
            );
          }
          buffer.skip(1);
          this.#end(
            new TransmissionRejectedError(0, {
              status: first,
              message: `Cannot start tinyproto: the peer refused the connection (${status})`,
            }),
          );
          return;
        }
        buffer.skip(1);
        this.#started = true;
        this.#handler.connectionStarted?.(this);
        this.#announceNext();
        continue;
      }
      const owed = this.#owed[0];
      if (typeof owed === "number") {
        if (buffer.length < owed) {
          buffer.reserve(owed);
          return;
        }
        this.#owed.shift();
        this.#handler.transmissionReceived(buffer.take(owed), this);
        continue;
      }
      const first = buffer.at(0);
      if (first === undefined) return;
      if (owed === undefined && first === OK) {
        throw new CorruptFrameError(
          "Cannot receive transmission: got ff, an answer, but no announcement of ours awaits one",
        );
      }
      if (owed === "status") {
        const peerBusy = this.#owed.length > 1;
        if (first === OK) {
          buffer.skip(1);
          this.#answered(true);
          continue;
        }
        if (first === REFUSED && (peerBusy || (eof && buffer.length === 1))) {
          buffer.skip(1);
          this.#answered(false);
          return;
        }
        if (peerBusy) {
          throw new CorruptFrameError(
            `Cannot send transmission: expected ff or 00 as the answer, got ${hex(first)}`,
          );
        }
        // A 00 alone may still be a refusal: wait for the next byte or end of stream.
        if (first === REFUSED && buffer.length === 1) return;
      }
      // The peer announces a message.
      if (buffer.length < 4) return;
      const size = buffer.at(0)! * 2 ** 24 +
        ((buffer.at(1)! << 16) | (buffer.at(2)! << 8) | buffer.at(3)!);
      buffer.skip(4);
      if (size > this.#maxSize) {
        this.#refuse(size);
        return;
      }
      if (!this.#write(OK_BYTE)) return;
      if (size === 0) this.#handler.transmissionReceived(buffer.take(0), this);
      else this.#owed.push(size);
    }
  }

  /** Announces the next queued message, if none is in flight. */
  #announceNext(): void {
    if (!this.#started || this.#current || this.#ending !== undefined) return;
    const next = this.#queue.shift();
    if (!next) return;
    const size = next.payload.byteLength;
    const field = new Uint8Array(4); // the transport keeps it until written: never reused
    field[0] = size >>> 24;
    field[1] = size >>> 16;
    field[2] = size >>> 8;
    field[3] = size;
    if (!this.#write(field)) {
      next.reject(new TransportError("Cannot send transmission: the transport is closing"));
      return;
    }
    this.#current = next;
    this.#owed.push("status");
  }

  /** Writes to the transport; false (nothing written) when it can no longer take writes. */
  #write(bytes: Uint8Array): boolean {
    const transport = this.#transport!;
    if (transport.isClosing()) return false;
    try {
      transport.write(bytes);
      return true;
    } catch {
      return false; // half-closed behind our back: connectionLost reports the end
    }
  }

  /** The peer answered our announcement. */
  #answered(accepted: boolean): void {
    this.#owed.shift();
    const current = this.#current!;
    this.#current = undefined;
    if (!accepted) {
      const error = new TransmissionRejectedError(current.payload.byteLength);
      current.reject(error);
      this.#end(error);
      return;
    }
    if (current.payload.byteLength > 0 && !this.#write(current.payload)) {
      current.reject(new TransportError("Cannot send transmission: the transport is closing"));
      return;
    }
    current.resolve();
    this.#announceNext();
  }

  /** We refuse the peer's announcement: `00`, then only end of stream (a refusal is final). */
  #refuse(size: number): void {
    this.#write(REFUSED_BYTE);
    this.#end(new FrameTooLongError("Cannot receive transmission", size, this.#maxSize, "maxSize"));
  }

  /**
   * Starts ending the connection: nothing more is sent but end of stream, and what is pending
   * fails with `reason` (none for an orderly close).
   */
  #end(reason: Error | null): void {
    if (this.#ending !== undefined) return;
    this.#ending = reason;
    this.#failPending(
      reason ?? new TransportError("Cannot send transmission: the connection was closed"),
    );
    this.#buffer.skip(this.#buffer.length);
    const transport = this.#transport;
    if (!transport || transport.isClosing()) return;
    // Half-close and let the peer close: closing at once could reset the connection and lose
    // our last bytes (the 00) on the way. What still arrives is read (to see the peer's end)
    // and dropped; a peer that never closes is cut off after closeTimeout.
    transport.writeEof();
    if (this.#closeTimeout !== Infinity) {
      this.#closeTimer = setTimeout(() => {
        this.#closeTimer = undefined;
        transport.abort(
          reason ??
            new TransportError(
              `Cannot close tinyproto: the peer did not close within ${this.#closeTimeout} ms`,
            ),
        );
      }, this.#closeTimeout);
    }
  }

  #failPending(error: Error): void {
    const pending = this.#current ? [this.#current, ...this.#queue] : [...this.#queue];
    this.#current = undefined;
    this.#queue.length = 0;
    for (const outgoing of pending) outgoing.reject(error);
  }
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}
