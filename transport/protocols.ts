/**
 * The protocol interfaces: the callbacks a transport drives.
 *
 * Call order for a stream protocol, each at most once unless starred:
 *
 * ```
 * connectionMade -> [dataReceived* | getBuffer/bufferUpdated*] -> [eofReceived] -> connectionLost
 * ```
 *
 * `pauseWriting` and `resumeWriting` alternate (pause first) between `connectionMade` and
 * `connectionLost`. `connectionLost` is called exactly once, after every read and write has
 * stopped. A callback that throws is fatal: the transport aborts and `connectionLost` receives
 * the error. An error thrown by `connectionLost` itself has no connection left to end: it goes
 * to the transport's `onError` option as a `CallbackError` (a `Server` passes it on to its own
 * `onError`); the default logs it. It never reaches `reportError()`, which would end the
 * process.
 *
 * A stream protocol may also implement `shutdown(signal)`: an owner that shuts down gracefully
 * (`Server.shutdown()`, `Server.run()` on SIGTERM) calls it once, lets the protocol finish what
 * it accepted, and closes the transport when the returned promise settles.
 *
 * @module
 */

import type { DatagramTransport, Transport } from "./types.ts";

/**
 * Callbacks common to stream and datagram protocols.
 *
 * @typeParam T The transport type that drives the protocol.
 */
export interface BaseProtocol<T> {
  /**
   * A name for the connection in trace events, when the transport was given no `name` option
   * (a `PacketConnection`'s `name` option sets it). Read once, when the transport is made.
   */
  readonly connectionName?: string;
  /** Called once when the connection is made; `transport` is ready for writes. */
  connectionMade?(transport: T): void;
  /**
   * Called once when the connection is closed or lost, after all other callbacks.
   *
   * @param error `undefined` after `close()`, `abort()` or an orderly end; the error otherwise.
   */
  connectionLost?(error: Error | undefined): void;
  /**
   * Called inside `write()` when the write buffer goes strictly over the high watermark. The
   * protocol should stop writing until `resumeWriting()`; writes still succeed meanwhile.
   */
  pauseWriting?(): void;
  /** Called when the write buffer drains to the low watermark or below after a pause. */
  resumeWriting?(): void;
}

/**
 * The graceful-shutdown hook of a stream protocol (Netty's `shutdownGracefully`, nginx's
 * SIGQUIT, Node's `server.close()` letting active requests finish).
 *
 * When its owner shuts down gracefully, it stops accepting connections and calls `shutdown()`
 * once on every live protocol, with a signal that aborts when the owner's drain timeout runs
 * out. The protocol finishes what it has accepted — answers the requests it is serving, tells
 * the peer no more will be taken, if its wire protocol can — and settles the returned promise
 * when it is done. The transport stays fully open meanwhile (reading included: the protocol
 * decides what to do with data that arrives during the drain). When the promise settles, the
 * owner calls `transport.close()` (flush, then close), unless the protocol closed it itself.
 *
 * When the timeout runs out first, the signal aborts with the owner's reason. A protocol that
 * owes the peer answers may give them now, naming the reason, and close the transport from
 * its abort listener (`transport.close(signal.reason)`): the owner lets that close flush its
 * last words for a short grace (a `Server`: `SHUTDOWN_CLOSE_GRACE`, 1 s), then aborts it. A
 * transport the listener leaves open is aborted at once.
 *
 * A protocol without this hook is closed at once: reading stops, the write buffer is flushed,
 * then the connection closes.
 *
 * @example Finish the replies in progress, then let the server close
 * ```ts
 * import type { Protocol, ShutdownHook, Transport } from "@plexus/net/transport";
 *
 * class SlowEcho implements Protocol, ShutdownHook {
 *   transport?: Transport;
 *   pending = new Set<Promise<void>>();
 *   connectionMade(transport: Transport): void {
 *     this.transport = transport;
 *   }
 *   dataReceived(data: Uint8Array): void {
 *     const reply = new Promise<void>((r) => setTimeout(r, 10)).then(() => this.transport?.write(data));
 *     this.pending.add(reply);
 *     reply.finally(() => this.pending.delete(reply));
 *   }
 *   async shutdown(_signal: AbortSignal): Promise<void> {
 *     this.transport?.pauseReading(); // take no new requests
 *     await Promise.all(this.pending);
 *   }
 * }
 * const echo: Protocol & ShutdownHook = new SlowEcho();
 * ```
 */
export interface ShutdownHook {
  /**
   * Called once when the owner begins a graceful shutdown.
   *
   * @param signal Aborts when the owner's drain timeout runs out; right after its abort
   * listeners have run, the transport is aborted, unless a listener closed it (see above).
   * @returns Settles once the protocol has finished what it accepted.
   */
  shutdown(signal: AbortSignal): void | Promise<void>;
}

/**
 * How a stream protocol tells its transport that the peer's silence is its own doing: it is
 * withholding what the peer waits for (a flow-control grant, such as tinyproto's `ff` while
 * its inbox is full) until the application makes room. Meanwhile the transport does not count
 * that silence against the peer: `idleTimeout` and the frame deadlines wait, as they do while
 * reading is paused.
 *
 * The transport asks when one of those timers is due, not when the hold begins or ends. A
 * protocol ends a hold by sending the grant, which `idleTimeout` counts as activity; a frame
 * deadline already running when a hold begins is not reset by it, so hold the peer between
 * frames (as tinyproto does: no payload is owed while its answer is held).
 *
 * @example A protocol that grants the peer eight messages at a time
 * ```ts
 * import type { PeerHold, Protocol, Transport } from "@plexus/net/transport";
 *
 * const GRANT = new Uint8Array([1]); // the peer may send 8 more messages
 *
 * class Granting implements Protocol, PeerHold {
 *   #transport?: Transport;
 *   #inbox: Uint8Array[] = [];
 *   #granted = 8;
 *   connectionMade(transport: Transport): void {
 *     this.#transport = transport;
 *   }
 *   dataReceived(message: Uint8Array): void { // one message per chunk, for brevity
 *     this.#inbox.push(message);
 *     this.#granted--;
 *   }
 *   // The application takes a message; an empty inbox grants the next eight.
 *   take(): Uint8Array | undefined {
 *     const message = this.#inbox.shift();
 *     if (this.#inbox.length === 0 && this.#granted === 0) {
 *       this.#granted = 8;
 *       this.#transport?.write(GRANT);
 *     }
 *     return message;
 *   }
 *   isHoldingPeer(): boolean {
 *     return this.#granted === 0;
 *   }
 * }
 * const protocol: Protocol & PeerHold = new Granting();
 * ```
 */
export interface PeerHold {
  /**
   * Whether the protocol is holding the peer still on purpose. Asked when a timer is due, not
   * per read; a throw aborts the transport, as a throwing callback does.
   */
  isHoldingPeer(): boolean;
}

/**
 * A stream protocol that receives data as owned byte chunks.
 *
 * @example Count received bytes
 * ```ts
 * import type { Protocol, Transport } from "@plexus/net/transport";
 *
 * class Counter implements Protocol {
 *   received = 0;
 *   dataReceived(data: Uint8Array): void {
 *     this.received += data.byteLength;
 *   }
 * }
 * const counter: Protocol = new Counter();
 * ```
 */
export interface Protocol
  extends BaseProtocol<Transport>, Partial<ShutdownHook>, Partial<PeerHold> {
  /**
   * Called with each chunk of received data. The chunk belongs to the protocol: it is never
   * reused by the transport and may be kept.
   */
  dataReceived(data: Uint8Array): void;
  /**
   * Called when the peer closes its write end. Return `true` to keep the transport open for
   * writing (a half-close); otherwise the transport closes itself.
   */
  eofReceived?(): boolean | void;
}

/**
 * A stream protocol that owns its receive buffer, so the transport reads into it directly
 * (asyncio's `BufferedProtocol`): no copy and no allocation per read.
 *
 * @example A protocol that reads into one reusable buffer
 * ```ts
 * import type { BufferedProtocol } from "@plexus/net/transport";
 *
 * class Sink implements BufferedProtocol {
 *   #buffer = new Uint8Array(256 * 1024);
 *   received = 0;
 *   getBuffer(_sizeHint: number): Uint8Array {
 *     return this.#buffer;
 *   }
 *   bufferUpdated(nbytes: number): void {
 *     this.received += nbytes;
 *   }
 * }
 * const sink: BufferedProtocol = new Sink();
 * ```
 */
export interface BufferedProtocol
  extends BaseProtocol<Transport>, Partial<ShutdownHook>, Partial<PeerHold> {
  /**
   * Returns the buffer the next read fills (at least one byte long). It is called right before
   * each read, and the buffer must not be touched until `bufferUpdated()`.
   *
   * @param sizeHint The read size the transport would like; a smaller buffer is allowed.
   */
  getBuffer(sizeHint: number): Uint8Array;
  /** Called after a read put `nbytes` bytes at the start of the last buffer from `getBuffer()`. */
  bufferUpdated(nbytes: number): void;
  /** As {@linkcode Protocol.eofReceived}. */
  eofReceived?(): boolean | void;
}

/** Any protocol a stream transport can drive. */
export type StreamProtocolLike = Protocol | BufferedProtocol;

/**
 * A datagram protocol.
 *
 * Call order: `connectionMade -> [datagramReceived | errorReceived]* -> connectionLost`.
 *
 * @example Echo every datagram
 * ```ts
 * import type { DatagramProtocol, DatagramTransport } from "@plexus/net/transport";
 *
 * class Echo implements DatagramProtocol {
 *   transport?: DatagramTransport;
 *   connectionMade(transport: DatagramTransport): void {
 *     this.transport = transport;
 *   }
 *   datagramReceived(data: Uint8Array, addr: Deno.NetAddr): void {
 *     this.transport?.sendto(data, addr);
 *   }
 * }
 * const echo: DatagramProtocol = new Echo();
 * ```
 */
export interface DatagramProtocol extends BaseProtocol<DatagramTransport> {
  /** Called with each datagram (owned by the protocol) and the address it came from. */
  datagramReceived(data: Uint8Array, addr: Deno.NetAddr): void;
  /**
   * Called when a send or receive fails without closing the transport (for example a datagram
   * too large or an unreachable host).
   */
  errorReceived?(error: Error): void;
}
