import type { BufferedProtocol, PeerHold, ShutdownHook } from "../transport/protocols.ts";
import type { ExtraInfo, Transport } from "../transport/types.ts";
import { TransportError } from "../transport/errors.ts";
import { type FramedStats, statsBeforeConnected } from "../transport/stats.ts";
import { frameChannel, publishFrame } from "../transport/_trace.ts";
import { FrameTooLongError, TransmissionRejectedError } from "./errors.ts";
import { FrameReader } from "./_frame_reader.ts";
import {
  DISCARD,
  HANDSHAKE_STATUS,
  TinyprotoDecoder,
  type TinyprotoEvent,
} from "./_tinyproto_decoder.ts";

import { checkTinyprotoOptions, TINYPROTO_MAX_SIZE } from "./_tinyproto_options.ts";

export { TINYPROTO_MAX_SIZE };

const OK = 0xff;
const REFUSED = 0x00;
const OK_BYTE = new Uint8Array([OK]);
const REFUSED_BYTE = new Uint8Array([REFUSED]);

/**
 * Messages waiting for `receive()` before our `ff` to the peer's next announcement is held
 * back (see `receive()`): the peer needs it to send the payload, so the inbox stays bounded.
 */
const INBOX_LIMIT = 16;

/** What a {@linkcode TinyprotoProtocol} calls: the application side of tinyproto. */
export interface TinyprotoHandler {
  /**
   * Called once the transport is ready, before the handshake: the peer's address is known
   * (`getExtraInfo("peername")`); messages sent from here go out after the handshake.
   */
  connectionMade?(tinyproto: TinyprotoProtocol): void;
  /** Called once both sides have exchanged the `ff` handshake; sends go out from here on. */
  connectionStarted?(tinyproto: TinyprotoProtocol): void;
  /**
   * Called with each message received (an empty one too) that no `receive()` or `request()`
   * is waiting for; it stays valid after the call. Without it, such messages wait for
   * `receive()` (tinyproto's pull style).
   */
  transmissionReceived?(payload: Uint8Array, tinyproto: TinyprotoProtocol): void;
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
   * to close its side; then the connection is aborted. At most 2147483647; `Infinity` waits
   * for ever.
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
 * - announcing a message queues `"status"`; accepting the peer's size (our `ff`) queues its
 *   payload;
 * - a side sends at most one message at a time, so the peer's own announcements can only come
 *   when the peer has nothing in flight: never while its size awaits our answer, nor between
 *   our `ff` and its payload.
 *
 * We answer an announcement as soon as we read it, except in pull style with 16 messages
 * waiting for `receive()` and none of ours in flight: our `ff` then waits for room or for our
 * next announcement (see `receive()`), and the peer sends nothing meanwhile (anything is a
 * {@linkcode CorruptFrameError}), so it cannot push more than it was let.
 *
 * So at each step in the peer's stream (the peer is busy while its payload is owed or its size
 * awaits our answer):
 *
 * | owed head | peer busy                | next byte                       | meaning                |
 * | --------- | ------------------------ | ------------------------------- | ---------------------- |
 * | payload   |                          | n bytes                         | the payload            |
 * | none      | no                       | 4 bytes                         | the peer announces     |
 * | none      | yes (size unanswered)    | any                             | corrupt                |
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
export class TinyprotoProtocol implements BufferedProtocol, PeerHold, ShutdownHook {
  readonly #handler: TinyprotoHandler;
  readonly #maxSize: number;
  readonly #closeTimeout: number;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Reads the peer's stream: what it owes us, in the order of our output. */
  readonly #decoder: TinyprotoDecoder;
  /**
   * The framed core over {@linkcode TinyprotoDecoder}: a handshake, answer, size or payload is
   * a frame (for the deadline clock, the stats and the wire trace).
   */
  readonly #reader: FrameReader<TinyprotoEvent>;
  #transport: Transport | undefined;
  /** Frames we wrote: the handshake, answers, sizes and payloads. */
  #framesSent = 0;
  #current: Outgoing | undefined;
  readonly #queue: Outgoing[] = [];
  /** Messages no one took yet, for `receive()` (only without `transmissionReceived`). */
  readonly #inbox: Uint8Array[] = [];
  /** `receive()` and `request()` calls waiting for a message, in order. */
  readonly #receivers: PromiseWithResolvers<Uint8Array>[] = [];
  /** Set once the connection is ending: the reason, or null for an orderly end. */
  #ending: Error | null | undefined;
  readonly #closed = Promise.withResolvers<Error | undefined>();

  /**
   * Creates the protocol; give it to a transport (or a connection factory) to start it.
   *
   * @param handler The application callbacks.
   * @param options The largest message accepted; how long to wait for the peer to close.
   * @throws {RangeError} When `maxSize` is over `0xf0ffffff`, or `closeTimeout` is negative or
   * over 2147483647 (and not `Infinity`).
   */
  constructor(handler: TinyprotoHandler, options?: TinyprotoOptions) {
    options ??= {};
    this.#handler = handler;
    const checked = checkTinyprotoOptions("Cannot create tinyproto protocol", options);
    this.#maxSize = checked.maxSize;
    this.#closeTimeout = checked.closeTimeout;
    this.#decoder = new TinyprotoDecoder(this.#maxSize);
    this.#reader = new FrameReader<TinyprotoEvent>(
      this.#decoder,
      (event) => this.#onEvent(event),
      () => !this.#transport!.isClosing(),
      { initialCapacity: 16 * 1024, minReadSize: 16 * 1024 },
    );
  }

  /** Resolves after `connectionEnded`, with its error (or `undefined`); never rejects. */
  get closed(): Promise<Error | undefined> {
    return this.#closed.promise;
  }

  /** The transport, once connected (for its addresses, `close()`, `abort()`, ...). */
  get transport(): Transport | undefined {
    return this.#transport;
  }

  /**
   * Returns a fact about the connection from its transport (asyncio's `get_extra_info`): the
   * peer's address (`"peername"`, what tinyproto's examples print), `"sockname"`, `"tls"`, ...
   *
   * @param name One of the {@linkcode ExtraInfo} keys.
   * @param defaultValue Returned when there is no such fact (or no transport yet).
   * @returns The fact, or `defaultValue`.
   *
   * @example Print the peer's address when a connection is accepted
   * ```ts
   * import { TinyprotoServer } from "@plexus/net/endpoints";
   * import type { TinyprotoProtocol } from "@plexus/net/framing";
   *
   * class LoggingServer extends TinyprotoServer {
   *   override connInit(id: string, connection: TinyprotoProtocol): void {
   *     const peer = connection.getExtraInfo("peername") as Deno.NetAddr;
   *     console.log(`${id}: ${peer.hostname}:${peer.port}`);
   *   }
   * }
   * await using server = new LoggingServer(() => ({}));
   * await server.listen("127.0.0.1:0");
   * ```
   */
  getExtraInfo<K extends keyof ExtraInfo>(
    name: K,
    defaultValue?: ExtraInfo[K],
  ): ExtraInfo[K] | undefined {
    return this.#transport ? this.#transport.getExtraInfo(name, defaultValue) : defaultValue;
  }

  /**
   * Resolves with the next message received (tinyproto's pull style): one that arrived and
   * waits unclaimed, or the next to arrive. Calls are served in order. A message goes to a
   * waiting `receive()` before the handler's `transmissionReceived`; without that callback,
   * messages wait here for `receive()`.
   *
   * While 16 wait, the peer's next message waits for room: our `ff` to its announcement is held
   * back until a `receive()` takes one, and the peer, which needs that `ff` to send the payload,
   * sends nothing more meanwhile. Reading goes on, and our own `send()` never waits for our
   * `receive()`: the peer reads our bytes in order, so it would expect our held answer before
   * our payload; so while a message of ours is announced and unanswered, the peer's
   * announcements are answered at once, and announcing ours answers the one held. The inbox so
   * holds at most 16 messages, plus one for each message we announce while it is full (both
   * ends may then send any number before reading). The transport's `pauseReading()` is the
   * application's alone; the peer's wait meanwhile is not counted as idleness (`idleTimeout`,
   * deadlines: see {@linkcode TinyprotoProtocol.isHoldingPeer}).
   *
   * @returns The message.
   * @throws {TransportError} (rejection) When the connection ends, or is ending, first.
   *
   * @example Pull messages one by one
   * ```ts
   * import { TinyprotoProtocol } from "@plexus/net/framing";
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * const a = new TinyprotoProtocol({});
   * const b = new TinyprotoProtocol({});
   * createMemoryTransportPair(a, b);
   * await a.send(new TextEncoder().encode("one"));
   * await a.send(new TextEncoder().encode("two"));
   * assertEquals(new TextDecoder().decode(await b.receive()), "one");
   * assertEquals(new TextDecoder().decode(await b.receive()), "two");
   * a.close();
   * await Promise.all([a.closed, b.closed]);
   * ```
   */
  receive(): Promise<Uint8Array> {
    const message = this.#inbox.shift();
    if (message !== undefined) {
      // Room again: the peer's announcement held back gets its ff, and its payload is under way.
      // (One is held only with no message of ours in flight; while ours is being announced,
      // from a callback of its write, #announceNext answers it next, in the order it must.)
      if (
        this.#ending === undefined && this.#current === undefined &&
        this.#decoder.awaitingAnswer() && !this.#holdsBack() && this.#accept() > 0
      ) {
        this.#reader.clock?.progress(false, true);
      }
      return Promise.resolve(message);
    }
    if (this.#ending !== undefined) {
      return Promise.reject(
        new TransportError("Cannot receive transmission: the tinyproto connection is ending"),
      );
    }
    const receiver = Promise.withResolvers<Uint8Array>();
    this.#receivers.push(receiver);
    return receiver.promise;
  }

  /**
   * Sends `payload` and resolves with the next message received: a request and its reply
   * (what every user of the original writes by hand, since `send()` resolves once written).
   * It is `send()` plus `receive()`, the reply claimed in order: concurrent requests get the
   * replies in the order the peer sends them, which a Plexus peer answering in order keeps.
   *
   * The original tinyproto reads the peer's announcement as the answer to its own when both
   * ends send at the same moment, and the connection breaks. Against an original peer, keep
   * to one request at a time and let the peer speak only to answer; between two Plexus peers
   * both ends may send at any time (see the class docs).
   *
   * @param payload The request (may be empty). Do not modify it afterwards.
   * @returns The reply.
   * @throws {TransmissionRejectedError} (rejection) When the peer refuses the request.
   * @throws {TransportError} (rejection) When the connection ends, or is ending, first.
   * @throws {RangeError} (rejection) When the payload is longer than `0xf0ffffff` bytes.
   *
   * @example Ask and wait for the answer
   * ```ts
   * import { TinyprotoProtocol } from "@plexus/net/framing";
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * const server = new TinyprotoProtocol({
   *   transmissionReceived: (payload, tp) => tp.send(payload.slice().reverse()),
   * });
   * const client = new TinyprotoProtocol({});
   * createMemoryTransportPair(server, client);
   * assertEquals(await client.request(new Uint8Array([1, 2, 3])), new Uint8Array([3, 2, 1]));
   * client.close();
   * await Promise.all([client.closed, server.closed]);
   * ```
   */
  request(payload: Uint8Array): Promise<Uint8Array> {
    // A send refused at once must not claim a reply: a receiver left queued would take the next
    // message, and on an ending connection receive() would take (and lose) one still waiting.
    const refused = this.#refusal(payload);
    if (refused) return Promise.reject(refused);
    const reply = this.receive();
    const sent = this.send(payload);
    return sent.then(() => reply, (error) => {
      reply.catch(() => {}); // the connection ends with the send's failure; reply rejects too
      throw error;
    });
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
    const refused = this.#refusal(payload);
    if (refused) return Promise.reject(refused);
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

  /**
   * Part of the graceful-shutdown contract ({@linkcode ShutdownHook}): ends the connection as
   * {@linkcode TinyprotoProtocol.close} does and resolves once it is closed. Closing the
   * transport at once instead, while the peer still sends, would reset the connection and
   * lose what we sent last; the owner aborts the transport when its drain timeout runs out.
   *
   * @param _signal Aborts when the owner's drain timeout runs out.
   */
  async shutdown(_signal: AbortSignal): Promise<void> {
    this.close();
    await this.closed;
  }

  // ---- BufferedProtocol ----------------------------------------------------------------------

  /**
   * Part of the transport contract: sends the handshake.
   *
   * @param transport The transport driving this protocol.
   */
  connectionMade(transport: Transport): void {
    this.#transport = transport;
    this.#reader.transport = transport;
    (this.#reader.clock = transport.deadlineClock)?.start();
    this.#write(OK_BYTE);
    // close() before the connection was made: end it now that there is a transport.
    if (this.#ending !== undefined) this.#halfClose(this.#ending);
    this.#handler.connectionMade?.(this);
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
   * Part of the transport contract: parses what arrived (once ending, drops it).
   *
   * @param nbytes The count read into the last buffer.
   */
  bufferUpdated(nbytes: number): void {
    if (!this.#reader.received(nbytes, this.#transport)) return;
    this.#reader.read();
  }

  /** Part of the transport contract: end of stream; a refusal, an orderly end or a cut. */
  eofReceived(): boolean {
    if (this.#ending !== undefined) return false;
    let end: Error | undefined;
    try {
      // Stopped short (the transport is closing): the stream ends where the parse stopped.
      if (!this.#reader.finish()) end = this.#decoder.endError(this.#reader.buffer);
    } catch (error) {
      if (error !== this.#decoder.eofError) throw error;
      end = this.#decoder.eofError;
    }
    this.#ending ??= end ?? null;
    return false;
  }

  /**
   * A snapshot of the connection's statistics: its transport's plus the tinyproto frames
   * received and sent (the handshake, answers, sizes and payloads). Before `connectionMade`,
   * or over a transport without `stats()`, the transport's part is zeros.
   *
   * @returns A new {@linkcode FramedStats} object.
   *
   * @example One message each way
   * ```ts
   * import { TinyprotoProtocol } from "@plexus/net/framing";
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * const server = new TinyprotoProtocol({ transmissionReceived: (p, tp) => tp.send(p) });
   * const client = new TinyprotoProtocol({});
   * createMemoryTransportPair(server, client);
   * await client.request(new Uint8Array([1]));
   * client.close();
   * await Promise.all([client.closed, server.closed]);
   * // handshake, answer ff, size, payload
   * assertEquals(client.stats().framesReceived, 4);
   * assertEquals(client.stats().framesSent, 4);
   * ```
   */
  stats(): FramedStats {
    const base = this.#transport?.stats?.() ?? statsBeforeConnected();
    return { ...base, framesReceived: this.#reader.frames, framesSent: this.#framesSent };
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

  /** One event of the peer's stream (see the table in the class doc). */
  #onEvent(event: TinyprotoEvent): void {
    if (event instanceof Uint8Array) {
      this.#deliver(event);
      return;
    }
    switch (event.type) {
      case "handshake":
        this.#handler.connectionStarted?.(this);
        this.#announceNext();
        return;
      case "turnedAway":
        this.#end(
          new TransmissionRejectedError(0, {
            status: event.status,
            message: `Cannot start tinyproto: the peer refused the connection (${
              HANDSHAKE_STATUS[event.status]
            })`,
          }),
        );
        return;
      case "answer":
        this.#answered(event.accepted);
        return;
      case "announce":
        if (event.size > this.#maxSize) this.#refuse(event.size);
        else if (!this.#holdsBack()) this.#accept();
        return;
    }
  }

  /**
   * Whether the peer waits on us (see `PeerHold`): its announcement's `ff` is held back while
   * the inbox is full (see `receive()`), so its silence is not idleness; until the connection
   * ends.
   *
   * @returns `true` while an answer is held.
   */
  isHoldingPeer(): boolean {
    // Once we end, the held answer never goes: the peer is no longer ours to hold.
    return this.#ending === undefined && this.#decoder.awaitingAnswer();
  }

  /**
   * Whether our `ff` to the peer's announcement waits (see `receive()`): the inbox is full and
   * no message of ours awaits the peer's answer (its payload would have to follow ours).
   */
  #holdsBack(): boolean {
    return this.#inbox.length >= INBOX_LIMIT && this.#current === undefined;
  }

  /**
   * Answers the peer's announcement with `ff`; an empty message is then whole.
   *
   * @returns The announced size.
   */
  #accept(): number {
    // Owed before the write: a callback of the write (pauseWriting) may receive() and must not
    // find this announcement still awaiting our answer.
    const size = this.#decoder.accept();
    if (this.#write(OK_BYTE) && size === 0) this.#deliver(new Uint8Array(0));
    return size;
  }

  /** A whole message: to the first waiting `receive()`, else the handler, else the inbox. */
  #deliver(message: Uint8Array): void {
    const receiver = this.#receivers.shift();
    if (receiver) receiver.resolve(message);
    else if (this.#handler.transmissionReceived) this.#handler.transmissionReceived(message, this);
    else this.#inbox.push(message);
  }

  /** Why `send(payload)` is refused at once, if it is: too long, or the connection is ending. */
  #refusal(payload: Uint8Array): Error | undefined {
    const tooLong = sizeError(payload);
    if (tooLong) return tooLong;
    if (this.#ending !== undefined || this.#transport?.isClosing()) {
      return new TransportError("Cannot send: the tinyproto connection is ending");
    }
    return undefined;
  }

  /** Announces the next queued message, if none is in flight. */
  #announceNext(): void {
    if (!this.#decoder.started || this.#current || this.#ending !== undefined) return;
    const next = this.#queue.shift();
    if (!next) return;
    const size = next.payload.byteLength;
    const field = new Uint8Array(4); // the transport keeps it until written: never reused
    field[0] = size >>> 24;
    field[1] = size >>> 16;
    field[2] = size >>> 8;
    field[3] = size;
    // In flight before the write: a callback of the write (pauseWriting) may send() again, and
    // must find this one in flight (one message at a time).
    this.#current = next;
    if (!this.#write(field)) {
      if (this.#current === next) this.#current = undefined;
      next.reject(new TransportError("Cannot send transmission: the transport is closing"));
      return;
    }
    // A close() from that callback already failed it.
    if (this.#current !== next) return;
    this.#decoder.announced();
    // Our payload must not wait behind an answer we hold: the peer asked for that one first.
    if (this.#decoder.awaitingAnswer()) this.#accept();
  }

  /** Writes to the transport; false (nothing written) when it can no longer take writes. */
  #write(bytes: Uint8Array): boolean {
    const transport = this.#transport!;
    if (transport.isClosing()) return false;
    try {
      transport.write(bytes);
      this.#framesSent++;
      if (frameChannel.hasSubscribers) {
        publishFrame(transport, "send", bytes, bytes.slice(), this.#decoder);
      }
      return true;
    } catch {
      return false; // half-closed behind our back: connectionLost reports the end
    }
  }

  /** The peer answered our announcement. */
  #answered(accepted: boolean): void {
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
    this.#end(
      new FrameTooLongError("Cannot receive transmission", size, this.#maxSize, "maxSize"),
      REFUSED_BYTE,
    );
  }

  /**
   * Starts ending the connection: nothing more is sent but end of stream, and what is pending
   * fails with `reason` (none for an orderly close).
   */
  #end(reason: Error | null, last?: Uint8Array): void {
    if (this.#ending !== undefined) return;
    this.#ending = reason;
    // Written once ending: a send() from a callback of this write (pauseWriting) is refused, so
    // nothing but end of stream follows a refusal's 00.
    if (last) this.#write(last);
    this.#failPending(
      reason ?? new TransportError("Cannot send transmission: the connection was closed"),
    );
    // A refusal is final, and so is our end: nothing more is parsed; what arrives is dropped.
    this.#reader.decoder = DISCARD;
    this.#reader.buffer.skip(this.#reader.buffer.length);
    if (this.#transport) this.#halfClose(reason);
  }

  /** Half-closes the transport and waits for the peer to close, at most `closeTimeout` ms. */
  #halfClose(reason: Error | null): void {
    const transport = this.#transport!;
    if (transport.isClosing()) return;
    // Half-close and let the peer close: closing at once could reset the connection and lose
    // our last bytes (the 00) on the way. What still arrives is read (to see the peer's end)
    // and dropped; a peer that never closes is cut off after closeTimeout. Reading resumes if
    // the application paused it: the peer's end must be read.
    transport.writeEof();
    transport.resumeReading();
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
    // Nothing more will be received: waiting receive() and request() calls fail too.
    const receivers = this.#receivers.splice(0);
    for (const receiver of receivers) receiver.reject(error);
  }
}

/** The error of a payload too long for tinyproto, if it is. */
function sizeError(payload: Uint8Array): RangeError | undefined {
  if (payload.byteLength <= TINYPROTO_MAX_SIZE) return undefined;
  return new RangeError(
    `Cannot send ${payload.byteLength} bytes: tinyproto allows at most ${TINYPROTO_MAX_SIZE}`,
  );
}
