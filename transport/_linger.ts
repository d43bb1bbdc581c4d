/**
 * The lingering close: how a graceful close ends a channel whose peer may still be sending.
 *
 * Closing a TCP socket with unread bytes in its receive queue, or one that receives bytes
 * afterwards, makes Linux answer with a reset instead of a FIN, and drop what is still in
 * the socket's send queue: the peer loses the last answers the close meant to deliver (and
 * reads a reset or a short stream). So after the last byte is handed to the socket, the
 * write side is shut down (the FIN follows the data) and what the peer still sends is read
 * and dropped until its EOF; then the channel is closed — as nginx's `lingering_close`
 * does. A timeout bounds it against a peer that never stops or never closes.
 *
 * @module
 */

import { addressKind, type ByteChannel, socketKind } from "./byte_channel.ts";
import { checkDelay } from "./_delay.ts";

/**
 * The `lingerTimeout` option, checked: 0 (no lingering) when not given.
 *
 * @throws {RangeError} When it is not 0 to 2147483647 ms.
 */
export function lingerTimeoutOf(value: number | undefined): number {
  return value === undefined
    ? 0
    : checkDelay("Cannot create transport: lingerTimeout", value, 0, false);
}

/**
 * The key under which an owner that accepted or dialled a socket (a `Server`,
 * `createConnection`) records its local address in the `extra` it gives the transport, for
 * the lingering decision: a wrapper's channel over the socket need not report it. Not the
 * user-writable `sockname`, which may name anything (a memory pair's label).
 */
export const SOCKET_ADDRESS: unique symbol = Symbol("plexus.socketAddress");

/** An `extra` that may carry the {@linkcode SOCKET_ADDRESS}. */
export type SocketAddressExtra = { [SOCKET_ADDRESS]?: Deno.Addr };

/**
 * Whether closing `channel` with unread bytes can cost the peer data: a TCP socket (plain or
 * TLS) resets; a Unix socket makes the peer's last read fail (`ECONNRESET`) instead of ending.
 * In-memory and stream channels end in order whatever is unread: they close at once.
 * `socket`: the address its owner recorded of the socket under it ({@linkcode SOCKET_ADDRESS}).
 */
export function canReset(channel: ByteChannel, socket: Deno.Addr | undefined): boolean {
  return socketKind(channel) !== undefined || addressKind(socket) !== undefined;
}

/**
 * Where the bytes read while lingering go: one buffer for every channel, never read (reads
 * complete one at a time on the event loop, so sharing it costs nothing but its contents).
 */
const DISCARD = new Uint8Array(16 * 1024);

/**
 * One lingering close in progress:
 *
 * ```
 * start ─> closeWrite() (unless sent) ─> await the read loop ─> read, drop ... EOF ─> close()
 *                 └─ fails ─┐                                        └─ a read fails ─┤
 *                           └────────── close() <───────────────────────────────────────┘
 * cut() (the transport's abort(), the timeout) ─> abort() (or close()) at once
 * ```
 */
export class LingeringClose {
  readonly #channel: ByteChannel;
  readonly #timer: ReturnType<typeof setTimeout>;
  #done = false;
  /** Settles once the channel is closed. */
  readonly finished: Promise<void>;

  /**
   * Starts lingering on `channel`.
   *
   * @param channel The channel to end; nothing else reads or writes it any more, except
   * the read loop's last read, which `readLoop` settles after.
   * @param eofSent Whether the write side is shut down already (`writeEof()`).
   * @param readLoop Settles once no read of the transport's is pending.
   * @param timeout The most milliseconds to wait for the peer's EOF.
   */
  constructor(channel: ByteChannel, eofSent: boolean, readLoop: Promise<unknown>, timeout: number) {
    this.#channel = channel;
    this.#timer = setTimeout(() => this.cut(), timeout);
    this.finished = this.#run(eofSent, readLoop);
  }

  /**
   * Stops lingering: aborts the channel now (pending reads fail and end the loop). Aborted,
   * not closed: a TLS channel over `node:tls` would wait for its end to be written first.
   */
  cut(): void {
    this.#close(true);
  }

  async #run(eofSent: boolean, readLoop: Promise<unknown>): Promise<void> {
    try {
      if (!eofSent) await this.#channel.closeWrite();
      await readLoop;
      while (!this.#done && await this.#channel.read(DISCARD) !== null) {
        // dropped: the protocol is gone
      }
    } catch {
      // A reset, a closed channel: nothing left to wait for.
    }
    this.#close();
  }

  #close(abort = false): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    const channel = this.#channel;
    try {
      if (abort && channel.abort) channel.abort();
      else channel.close();
    } catch {
      // Closed already.
    }
  }
}
