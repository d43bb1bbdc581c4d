/**
 * The send side of a packet connection: packets are encoded into one send buffer and written
 * to the transport together, at the end of the current job or after the grace period, or at
 * once when 64 KiB are waiting (so the transport's flow control sees a large batch while it is
 * being made, and `pauseWriting` stops the requests and handlers that would add to it).
 *
 * @module
 */

import { SendBuffer } from "../framing/send_buffer.ts";
import type { Transport } from "../transport/types.ts";
import type { PacketFramer } from "./framer.ts";
import type { Packet } from "./packet.ts";

/** The most bytes of packets held for one write before they are written anyway. */
const BATCH_LIMIT = 64 * 1024;

/** Encodes packets and writes them to the transport in batches. */
export class Outbox {
  readonly #framer: PacketFramer;
  readonly #grace: number;
  readonly #out = new SendBuffer();
  #scheduled = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #flushNow = (): void => this.flush();
  readonly #written: () => void;
  /** Called with each packet once encoded (the connection's `trace` hook), when set. */
  trace: ((packet: Packet) => void) | undefined;
  /** Where the bytes go; nothing is written before it is set or after `close()`. */
  transport: Transport | undefined;
  #closed = false;

  /**
   * @param framer Encodes the packets (and checks their size).
   * @param grace Milliseconds to hold the first unsent packet for others to join; 0 writes
   * at the end of the current job.
   * @param written Called after each write to the transport.
   */
  constructor(framer: PacketFramer, grace: number, written: () => void) {
    this.#framer = framer;
    this.#grace = grace;
    this.#written = written;
  }

  /**
   * Encodes `packet` and schedules the write.
   *
   * @throws {PacketTooLongError} When it exceeds `maxPacketSize` (nothing is queued).
   * @throws {RangeError} When a field is out of range (nothing is queued).
   */
  queue(packet: Packet): void {
    this.#framer.encode(packet, this.#out);
    this.trace?.(packet);
    if (this.#out.length >= BATCH_LIMIT && this.transport) {
      this.flush();
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (this.#grace > 0) this.#timer = setTimeout(this.#flushNow, this.#grace);
    else queueMicrotask(this.#flushNow);
  }

  /** Writes everything queued now, in one write. */
  flush(): void {
    this.#scheduled = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#out.length === 0) return;
    const bytes = this.#out.take();
    const transport = this.transport;
    if (transport && !this.#closed && !transport.isClosing()) {
      // Past maxWriteBuffer or the server's budget, write() drops the bytes and the transport
      // aborts: connectionLost() brings the error, nothing is thrown into this microtask.
      transport.write(bytes);
      this.#written();
    }
  }

  /** Drops what is queued and writes nothing more. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
