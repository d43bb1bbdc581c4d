/**
 * Connection statistics: what a transport moved, how often it was held back, and why it ended.
 *
 * Every transport keeps its counters as plain number fields, updated on its one read path and
 * its one flush path; `stats()` copies them into a {@linkcode TransportStats} snapshot.
 *
 * @module
 */

import { DeadlineError, WriteBufferOverflowError } from "./errors.ts";

/**
 * Why a transport ended.
 *
 * | reason           | the transport ended because ...                                            |
 * | ---------------- | -------------------------------------------------------------------------- |
 * | `"close"`        | `close()` was called (and the write buffer was flushed)                    |
 * | `"abort"`        | `abort()` was called without an error (with one: the error's reason)      |
 * | `"peer-eof"`     | the peer ended its stream: `eofReceived()` let it close, or EOF both ways  |
 * | `"reset"`        | the peer reset the connection (`ConnectionReset`)                           |
 * | `"error"`        | a read or write failed, a protocol callback threw, a TLS upgrade failed    |
 * | `"idle-timeout"` | nothing moved for `idleTimeout` ms (a UDP tendril peer: its manager's)     |
 * | `"deadline"`     | a frame deadline ran out ({@linkcode DeadlineError}), also if `abort()` cut its close |
 * | `"overflow"`     | the write buffer passed `maxWriteBuffer` or the server's budget            |
 * | `"evicted"`      | a UDP tendril peer made room for a newcomer in a full peer table           |
 *
 * @example Tell a clean end from a failure
 * ```ts
 * import { type CloseReason, createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = createMemoryTransportPair({ dataReceived() {} }, { dataReceived() {} });
 * a.abort();
 * await Promise.all([a.closed, b.closed]);
 * const reason: CloseReason | undefined = a.stats().closeReason;
 * assertEquals(reason, "abort");
 * ```
 */
export type CloseReason =
  | "close"
  | "abort"
  | "peer-eof"
  | "reset"
  | "error"
  | "idle-timeout"
  | "deadline"
  | "overflow"
  | "evicted";

/**
 * The counters of a transport (or the sum over many, see {@linkcode addCounters}).
 *
 * "Reads" and "writes" are calls on the socket: `read()`/`receive()` calls that returned data,
 * `write()`/`send()` calls (a short write continued is a second write). Pause times are in
 * milliseconds and include a pause still running.
 *
 * @example Sum two transports' counters
 * ```ts
 * import { addCounters, type TransportCounters, zeroCounters } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const one: TransportCounters = { ...zeroCounters(), bytesSent: 3, writes: 1 };
 * const sum = addCounters(addCounters(zeroCounters(), one), one);
 * assertEquals([sum.bytesSent, sum.writes], [6, 2]);
 * ```
 */
export interface TransportCounters {
  /** Bytes received from the peer. */
  bytesReceived: number;
  /** Bytes handed to the socket. */
  bytesSent: number;
  /** Socket reads that returned data (datagrams received, for UDP). */
  reads: number;
  /** Socket writes (datagrams sent, for UDP). */
  writes: number;
  /** How many times reading was paused (`pauseReading()` while reading). */
  readPauses: number;
  /**
   * Milliseconds reading spent paused, in total: from `pauseReading()` to `resumeReading()`,
   * or to `close()` (which stops reading; the flush after it is not counted).
   */
  readPausedMs: number;
  /** How many times the protocol got `pauseWriting()`. */
  writePauses: number;
  /** Milliseconds writing spent paused (between `pauseWriting()` and `resumeWriting()`). */
  writePausedMs: number;
}

/**
 * A snapshot of one transport's statistics, from `transport.stats()`.
 *
 * @example Count what an echo moved
 * ```ts
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = createMemoryTransportPair({ dataReceived() {} }, { dataReceived() {} });
 * a.write(new Uint8Array(5));
 * a.close();
 * await Promise.all([a.closed, b.closed]);
 * const stats = a.stats();
 * assertEquals(stats.bytesSent, 5);
 * assertEquals(stats.closeReason, "close");
 * assertEquals(b.stats().closeReason, "peer-eof");
 * ```
 */
export interface TransportStats extends TransportCounters {
  /** When the transport was made, in milliseconds since the epoch (`Date.now()`). */
  openedAt: number;
  /** When it ended, in milliseconds since the epoch; `undefined` while it is open. */
  closedAt: number | undefined;
  /** Why it ended; `undefined` while it is open (or closing). */
  closeReason: CloseReason | undefined;
  /** The error it ended with, if any (what `connectionLost()` got). */
  error: Error | undefined;
}

/**
 * A snapshot of a framed connection's statistics, from `framed.stats()`: its transport's,
 * plus the frames decoded and sent.
 *
 * @example Count an echo's frames
 * ```ts
 * import { createMemoryChannelPair, type FramedStats, StreamTransport } from "@plexus/net/transport";
 * import { FramedProtocol, LineFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const echo = new FramedProtocol(new LineFramer(), {
 *   frameReceived: (line, framed) => framed.sendFrame(line),
 * });
 * const client = new FramedProtocol(new LineFramer(), {
 *   connectionMade: (framed) => framed.sendFrame(new TextEncoder().encode("hi")),
 *   frameReceived: (_line, framed) => framed.close(),
 * });
 * const [a, b] = createMemoryChannelPair();
 * new StreamTransport(a, echo);
 * new StreamTransport(b, client);
 * await Promise.all([echo.closed, client.closed]);
 * const stats: FramedStats = echo.stats();
 * assertEquals([stats.framesReceived, stats.framesSent, stats.bytesSent], [1, 1, 4]); // "hi\r\n"
 * ```
 */
export interface FramedStats extends TransportStats {
  /** Frames decoded and delivered to the handler. */
  framesReceived: number;
  /** Frames encoded with `sendFrame()`. */
  framesSent: number;
}

/**
 * A server's statistics, from `server.stats()` (and the Tendril managers' and tinyproto
 * server's `stats()`).
 *
 * @example One line per server
 * ```ts
 * import { type ServerStats, zeroCounters } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const line = (s: ServerStats) =>
 *   `${s.active} live, ${s.accepted} accepted, ${s.rejected} rejected, ` +
 *   `${s.total.bytesReceived} bytes in`;
 * const idle: ServerStats = {
 *   accepted: 0,
 *   active: 0,
 *   rejected: 0,
 *   closed: 0,
 *   closedByIdleTimeout: 0,
 *   closedByDeadline: 0,
 *   live: zeroCounters(),
 *   total: zeroCounters(),
 * };
 * assertEquals(line(idle), "0 live, 0 accepted, 0 rejected, 0 bytes in");
 * ```
 */
export interface ServerStats {
  /** Connections accepted and given a protocol. */
  accepted: number;
  /** Connections live now. */
  active: number;
  /**
   * Connections refused: closed at once because `maxConnections` was reached, or refused by
   * their protocol (a Tendril acceptor, the tinyproto server's connection limit). They count
   * in neither `accepted`, `active` (while their close runs, or lingers) nor `closed`.
   */
  rejected: number;
  /** Connections accepted that ended, by any reason. */
  closed: number;
  /** Of those, closed by `idleTimeout`. */
  closedByIdleTimeout: number;
  /** Of those, closed by a frame deadline. */
  closedByDeadline: number;
  /** The sum of the live connections' counters. */
  live: TransportCounters;
  /** The sum over every connection, live and ended: only ever grows. */
  total: TransportCounters;
}

/**
 * The statistics of a UDP tendril manager: a {@linkcode ServerStats} over its peers.
 *
 * @example What was lost to limits
 * ```ts
 * import type { UdpManagerStats } from "@plexus/net/transport";
 *
 * const lost = (s: UdpManagerStats) => s.peersDropped + s.peersEvicted + s.datagramsDropped;
 * console.log(lost);
 * ```
 */
export interface UdpManagerStats extends ServerStats {
  /** Peers made (a datagram from a new address admitted, or `connect()`). */
  peersCreated: number;
  /** Peers closed after the manager's idle timeout. */
  peersExpired: number;
  /** New peers turned away (backlog, filter, full table) before being made. */
  peersDropped: number;
  /** Unproven peers closed to make room for a newcomer. */
  peersEvicted: number;
  /** Datagrams dropped (a paused peer's queue was full, or no acceptor). */
  datagramsDropped: number;
}

/**
 * New zeroed counters.
 *
 * @example
 * ```ts
 * import { zeroCounters } from "@plexus/net/transport";
 *
 * console.assert(zeroCounters().bytesSent === 0);
 * ```
 */
export function zeroCounters(): TransportCounters {
  return {
    bytesReceived: 0,
    bytesSent: 0,
    reads: 0,
    writes: 0,
    readPauses: 0,
    readPausedMs: 0,
    writePauses: 0,
    writePausedMs: 0,
  };
}

/**
 * The stats of a protocol not connected yet: zero counters, opened now, not closed. What
 * `FramedProtocol.stats()` and `TinyprotoProtocol.stats()` give before `connectionMade`.
 *
 * @returns A fresh snapshot.
 *
 * @example
 * ```ts
 * import { statsBeforeConnected } from "@plexus/net/transport";
 *
 * console.assert(statsBeforeConnected().closeReason === undefined);
 * ```
 */
export function statsBeforeConnected(): TransportStats {
  return {
    ...zeroCounters(),
    openedAt: Date.now(),
    closedAt: undefined,
    closeReason: undefined,
    error: undefined,
  };
}

/**
 * Adds `from`'s counters into `into` (for totals over many connections).
 *
 * @param into The running sum; changed in place.
 * @param from The counters (or stats) to add.
 * @returns `into`.
 *
 * @example Sum two connections
 * ```ts
 * import { addCounters, zeroCounters } from "@plexus/net/transport";
 *
 * const one = { ...zeroCounters(), bytesSent: 3 };
 * const sum = addCounters(addCounters(zeroCounters(), one), one);
 * console.assert(sum.bytesSent === 6);
 * ```
 */
export function addCounters(into: TransportCounters, from: TransportCounters): TransportCounters {
  into.bytesReceived += from.bytesReceived;
  into.bytesSent += from.bytesSent;
  into.reads += from.reads;
  into.writes += from.writes;
  into.readPauses += from.readPauses;
  into.readPausedMs += from.readPausedMs;
  into.writePauses += from.writePauses;
  into.writePausedMs += from.writePausedMs;
  return into;
}

/**
 * The reason an error ends a transport with: an overflow, a deadline, a reset, else `"error"`.
 *
 * @param error The error the transport ended with.
 */
export function closeReasonOf(error: Error): CloseReason {
  if (error instanceof WriteBufferOverflowError) return "overflow";
  if (error instanceof DeadlineError) return "deadline";
  if (error.cause instanceof Deno.errors.ConnectionReset) return "reset";
  return "error";
}
