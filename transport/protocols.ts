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
 * the error. An error thrown by `connectionLost` itself has nowhere left to go: it is reported
 * with `reportError()`, which ends a Deno program unless a `globalThis` "error" listener calls
 * `preventDefault()`.
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
export interface Protocol extends BaseProtocol<Transport> {
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
export interface BufferedProtocol extends BaseProtocol<Transport> {
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
