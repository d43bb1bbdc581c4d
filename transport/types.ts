/**
 * The transport interfaces: what a protocol may ask of the byte channel that drives it.
 *
 * They follow PEP 3156 (asyncio) and gruvi: a transport owns a socket, reads from it and calls
 * its protocol, and buffers writes with byte-accurate flow control.
 *
 * @module
 */

import type { DeadlineClock } from "./deadline_clock.ts";
import type { SendBuffer } from "./send_buffer.ts";
import type { TransportStats } from "./stats.ts";
import type { StartTlsOptions } from "./tls_options.ts";

/** High and low watermarks of a transport's write buffer, in bytes. */
export interface WriteBufferLimits {
  /**
   * `pauseWriting()` is called when the buffered byte count goes strictly over this value.
   *
   * @default {65536}
   */
  high: number;
  /**
   * `resumeWriting()` is called when the buffered byte count drains to this value or below.
   *
   * @default {16384}
   */
  low: number;
}

/**
 * Optional facts about a transport, read with {@linkcode BaseTransport.getExtraInfo}.
 *
 * Keys follow asyncio's `get_extra_info()` names, in camelCase.
 */
export interface ExtraInfo {
  /** The local address of the socket. */
  sockname?: Deno.Addr;
  /** The remote address of the socket. */
  peername?: Deno.Addr;
  /** The TLS server name the client verified (TLS client transports). */
  serverHostname?: string;
  /** The ALPN protocol negotiated in the TLS handshake, or `null` when none was. */
  alpnProtocol?: string | null;
  /**
   * The server name the client sent in its TLS handshake (SNI), or `null` when it sent none
   * (clients send no name when they connect to an IP address). TLS server transports only:
   * listeners, the `tls` wrapper and server-side `startTls()`.
   */
  serverName?: string | null;
  /**
   * The negotiated TLS version: `"TLSv1.3"` or `"TLSv1.2"`. Server transports always have it;
   * client transports only when the handshake ran through `node:tls` (over a Unix socket, say),
   * since `Deno.connectTls` and `Deno.startTls` do not report it.
   */
  tlsVersion?: string;
  /** Whether the transport is encrypted with TLS. */
  tls?: boolean;
  /** The underlying connection object (a `Deno.Conn`, a `Deno.DatagramConn`, ...). */
  conn?: unknown;
  /**
   * The connection's name in trace events (see `subscribe`): the transport's `name` option,
   * else its protocol's `connectionName`, else the peer's `host:port` (or socket path).
   */
  name?: string;
}

/** What every transport offers: closing and introspection. */
export interface BaseTransport {
  /**
   * Closes the transport: stops reading, flushes buffered data, then closes the socket and
   * calls `connectionLost()` with no error. Calling it again does nothing.
   *
   * With `error` — a layer above closing *because of* it, such as a framing error its protocol
   * answered — the close is as graceful, but the transport ends with that error:
   * `connectionLost(error)`, `closed` resolves with it, and `stats().closeReason` is the
   * error's reason (as after `abort(error)`), so a server's hooks and statistics see it. Given
   * to a close already under way (or one that finished at once, before `connectionLost()`),
   * it becomes that close's error. A transport that cannot carry it (a UDP socket) closes as
   * without it.
   *
   * @param error Why the connection is closed, if not in order.
   */
  close(error?: Error): void;
  /** Whether the transport is closing or closed. */
  isClosing(): boolean;
  /**
   * Returns optional information about the transport.
   *
   * @param name One of the {@linkcode ExtraInfo} keys.
   * @param defaultValue Returned when the transport has no such information.
   */
  getExtraInfo<K extends keyof ExtraInfo>(
    name: K,
    defaultValue?: ExtraInfo[K],
  ): ExtraInfo[K] | undefined;
  /**
   * Resolves after `connectionLost()` has been called, with the error the connection was lost
   * with (or `undefined`). It never rejects.
   */
  readonly closed: Promise<Error | undefined>;
  /**
   * A snapshot of the transport's counters and, once it ended, why (see
   * {@linkcode TransportStats}). Every transport Plexus makes has it; a test double may not.
   */
  stats?(): TransportStats;
}

/** The read half of a transport. */
export interface ReadTransport extends BaseTransport {
  /** Whether the transport is receiving data (not paused and not closing). */
  isReading(): boolean;
  /**
   * Stops delivering data to the protocol until {@linkcode ReadTransport.resumeReading} is
   * called. No read is issued while paused, so the kernel applies backpressure to the peer.
   * Calling it when already paused does nothing.
   */
  pauseReading(): void;
  /** Resumes delivering data after {@linkcode ReadTransport.pauseReading}. */
  resumeReading(): void;
}

/** The write half of a transport, with byte-accurate write flow control. */
export interface WriteTransport extends BaseTransport {
  /**
   * The transport's one write buffer. Encoders append bytes straight into it (`write`,
   * `writeUint`, `reserve`/`advance`, `append`); nothing appended is sent or counted until
   * {@linkcode WriteTransport.commit}. Do not `take()` or `shift()` from it: the transport
   * drains it.
   */
  readonly out: SendBuffer;
  /**
   * Accounts for everything appended to {@linkcode WriteTransport.out} since the last commit,
   * exactly as `write()` does for its data: flow control (`pauseWriting()` is called before
   * `commit()` returns when the buffered byte count goes strictly over the high watermark),
   * `maxWriteBuffer`, a server's write budget. Everything committed in one turn leaves in one
   * write on the socket (sooner once about 256 KiB are pending). Write order across `write()`
   * and `commit()` is call order.
   *
   * On a closing or lost transport what was appended since the last commit is discarded, as
   * `write()` drops its data; commit() never throws for that.
   *
   * @throws {TransportError} After `writeEof()`, when bytes were appended.
   */
  commit(): void;
  /**
   * Queues `data` to be written. It never blocks: when the buffered byte count goes strictly
   * over the high watermark, the protocol's `pauseWriting()` is called before `write()` returns.
   * The transport keeps a reference to `data` until it is written: do not modify it afterwards.
   *
   * Once the transport is closing or lost (`close()`, `abort()`, an error, a peer that stopped
   * reading past `maxWriteBuffer`), writes are dropped without a word, as asyncio drops them:
   * `connectionLost()` is how the protocol learns, and a late reply sent from a timer or a
   * promise cannot throw into code that outlived its connection. Check `isClosing()` to stop
   * a loop early.
   *
   * When `data` would take the buffer past its cap (`maxWriteBuffer`), or a server's budget
   * across connections cuts this connection, the transport aborts with a
   * `WriteBufferOverflowError` (given to `connectionLost()`) and `data` is dropped.
   *
   * @throws {TransportError} After `writeEof()` (a bug in the caller, not the peer's doing).
   * @throws {TypeError} When `data` is not a `Uint8Array`.
   */
  write(data: Uint8Array): void;
  /** Queues every chunk of `chunks`, as `write()` does for one. */
  writeLines(chunks: Iterable<Uint8Array>): void;
  /**
   * Closes the write end after buffered data is flushed (a TCP half-close). Reading goes on.
   * Calling it again does nothing.
   */
  writeEof(): void;
  /** Whether {@linkcode WriteTransport.writeEof} is supported. */
  canWriteEof(): boolean;
  /**
   * Closes the transport at once, dropping buffered data. `connectionLost()` is still called,
   * with `error` when one is given (a protocol aborting for a reason of its own).
   */
  abort(error?: Error): void;
  /** The number of bytes buffered and not yet written to the socket. */
  getWriteBufferSize(): number;
  /** The current high and low watermarks. */
  getWriteBufferLimits(): WriteBufferLimits;
  /**
   * Sets the watermarks and re-evaluates the paused state at once. With only `high`, `low` is
   * `high / 4`; with only `low`, `high` is `low * 4` (asyncio's rule).
   *
   * @throws {RangeError} When a limit is negative or `low > high`.
   */
  setWriteBufferLimits(limits?: Partial<WriteBufferLimits>): void;
  /**
   * The cap on the bytes held for writing (`maxWriteBuffer`): those waiting, and the chunk being
   * written until all of it is. A write that would take them past it aborts the transport with
   * a `WriteBufferOverflowError`. Every stream transport Plexus makes has it; a UDP tendril's
   * peer, whose writes go to a socket shared with other peers, does not.
   */
  getMaxWriteBuffer?(): number;
  /**
   * Sets the cap on buffered bytes, for a protocol that knows how much it may leave unsent
   * (packet RPC sets it from its own `maxWriteBuffer`). It applies from the next write; bytes
   * already buffered are not cut for it. Stream transports have it, as `getMaxWriteBuffer()`.
   *
   * @throws {RangeError} When `max` is not a number > 0.
   */
  setMaxWriteBuffer?(max: number): void;
  /**
   * Resolves once everything written so far has been handed to the socket — and, after
   * `writeEof()`, once the write side is shut down; rejects with the transport's error when
   * the connection is lost first. Every stream transport Plexus makes has it; a transport
   * whose writes leave at once (a UDP tendril's peer) may not.
   */
  flushed?(): Promise<void>;
}

/**
 * A bidirectional byte-stream transport (TCP, Unix, TLS, in-memory).
 *
 * @example Upgrade to TLS from a protocol (STARTTLS), without a cast
 * ```ts
 * import type { Protocol, Transport } from "@plexus/net/transport";
 *
 * const tls = { cert: "-----BEGIN CERTIFICATE-----...", key: "-----BEGIN PRIVATE KEY-----..." };
 * class StartTls implements Protocol {
 *   transport: Transport | undefined;
 *   connectionMade(transport: Transport): void {
 *     this.transport = transport;
 *   }
 *   dataReceived(data: Uint8Array): void {
 *     if (new TextDecoder().decode(data).trim() !== "STARTTLS") return;
 *     const transport = this.transport!;
 *     if (!transport.startTls) throw new TypeError("This transport cannot upgrade to TLS");
 *     transport.write(new TextEncoder().encode("220 go ahead\r\n"));
 *     transport.startTls({ serverSide: true, ...tls });
 *   }
 * }
 * ```
 */
export interface Transport extends ReadTransport, WriteTransport {
  /**
   * Upgrades the connection to TLS in the middle of the conversation (STARTTLS); see
   * `StreamTransport.startTls` for the rules. Every stream transport Plexus makes (TCP, Unix,
   * in-memory) has it; a UDP tendril's peer, which has no byte stream to upgrade, does not.
   */
  startTls?(options: StartTlsOptions): Promise<void>;
  /**
   * Whether a `startTls()` or `wrapChannel()` upgrade is in progress. A framed protocol
   * delivers no frame meanwhile: bytes after the frame that began a STARTTLS came in
   * plaintext, and must not be taken as commands (CVE-2011-0411).
   */
  isUpgrading?(): boolean;
  /**
   * The connection's frame deadlines, when it has any (the `deadlines` option): a framed
   * protocol starts the clock when it attaches and reports each read's progress to it.
   * Transports without deadlines leave it out.
   */
  readonly deadlineClock?: DeadlineClock;
}

/** A datagram transport (UDP). */
export interface DatagramTransport extends BaseTransport {
  /**
   * Queues one datagram for `addr`, or for the default remote address when `addr` is omitted.
   * The transport keeps a reference to `data` until it is sent: do not modify it afterwards.
   *
   * Once the transport is closing, datagrams are dropped without a word, as stream writes are
   * (see {@linkcode WriteTransport.write}).
   *
   * @throws {TypeError} When no address is given and there is no default remote address, or
   * when `addr` differs from the default remote address.
   */
  sendto(data: Uint8Array, addr?: Deno.NetAddr): void;
  /** Closes the transport at once, dropping queued datagrams; `error` goes to `connectionLost()`. */
  abort(error?: Error): void;
  /** Whether datagrams are being received (not paused and not closing). */
  isReading(): boolean;
  /** Stops receiving datagrams; the kernel drops what overflows its buffer. */
  pauseReading(): void;
  /** Resumes receiving datagrams. */
  resumeReading(): void;
  /** The number of bytes queued and not yet sent. */
  getWriteBufferSize(): number;
  /** The current high and low watermarks. */
  getWriteBufferLimits(): WriteBufferLimits;
  /** Sets the watermarks, as {@linkcode WriteTransport.setWriteBufferLimits} does. */
  setWriteBufferLimits(limits?: Partial<WriteBufferLimits>): void;
}
