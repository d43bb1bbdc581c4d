/**
 * Our requests to the peer: tag allocation per channel, the table of requests awaiting a
 * response, the `maxInFlight` bound with its FIFO of waiting submits, and local cancellation.
 *
 * @module
 */

import type { Outbox } from "./_outbox.ts";
import type { RequestAbort } from "./_request_abort.ts";
import { WaitQueue } from "./_wait_queue.ts";
import { ConnectionClosedError } from "./errors.ts";
import { Packet } from "./packet.ts";
import type { PacketResponse } from "./types.ts";

/** One of our requests awaiting its response. */
interface Pending {
  rqType: number;
  resolve(response: PacketResponse): void;
  reject(reason: unknown): void;
  /** Whether it holds a `maxInFlight` slot (internal extension requests do not). */
  counted: boolean;
  abort: RequestAbort | undefined;
}

/** What the requests need from their connection. */
export interface RequestsHost {
  /** Whether requests may be written now (connected, and the transport not paused). */
  canSend(): boolean;
  /** A request was cancelled locally (after it was sent). */
  cancelled(channel: number, tag: number): void;
}

/** The table of our outstanding requests. */
export class Requests {
  readonly #outbox: Outbox;
  readonly #host: RequestsHost;
  readonly #maxInFlight: number;
  #tag0 = 2;
  readonly #tags = new Map<number, number>();
  readonly #pending0 = new Map<number, Pending>();
  readonly #pendingOther = new Map<number, Map<number, Pending>>();
  readonly #room = new WaitQueue();
  #inFlight = 0;

  constructor(outbox: Outbox, host: RequestsHost, maxInFlight: number) {
    this.#outbox = outbox;
    this.#host = host;
    this.#maxInFlight = maxInFlight;
  }

  /** The slots taken: requests sent and not answered, and waiters let in. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Takes a slot when one is free and nobody waits; returns whether it did. */
  tryTake(): boolean {
    if (!this.#host.canSend() || this.#inFlight >= this.#maxInFlight || this.#room.length > 0) {
      return false;
    }
    this.#inFlight++;
    return true;
  }

  /** Waits for a slot (taken for the caller when this resolves), in order. */
  waitForSlot(abort: RequestAbort | undefined): Promise<void> {
    return this.#room.wait(abort);
  }

  /** Gives a slot back and lets the next waiter in. */
  release(): void {
    this.#inFlight--;
    this.wake();
  }

  /** Lets waiters in while there are free slots and requests may be written. */
  wake(): void {
    while (this.#room.length > 0 && this.#host.canSend() && this.#inFlight < this.#maxInFlight) {
      this.#inFlight++;
      this.#room.wakeOne();
    }
  }

  /**
   * Queues a request and registers it; a `counted` one already holds its slot. Throws before
   * registering when the packet cannot be encoded.
   */
  send(
    rqType: number,
    flags: number,
    channel: number,
    payload: Uint8Array,
    counted: boolean,
    abort: RequestAbort | undefined,
  ): Promise<PacketResponse> {
    const tag = this.#nextTag(channel);
    this.#outbox.queue(Packet.request(tag, rqType, { flags, payload, channel }));
    const { promise, resolve, reject } = Promise.withResolvers<PacketResponse>();
    const pending: Pending = { rqType, resolve, reject, counted, abort };
    this.#map(channel).set(tag, pending);
    abort?.onFire((reason) => this.#cancel(channel, tag, pending, reason));
    return promise;
  }

  /** Settles the request a response answers; a response to no pending request is ignored. */
  answer(packet: Packet): void {
    const { channel, tag } = packet;
    const map = channel === 0 ? this.#pending0 : this.#pendingOther.get(channel);
    const pending = map?.get(tag);
    if (!pending) return;
    map!.delete(tag);
    pending.abort?.dispose();
    if (pending.counted) this.release();
    const flags = packet.flags;
    pending.resolve({ ok: flags % 2 === 1, flags: Math.floor(flags / 2), payload: packet.payload });
  }

  /**
   * Rejects every request awaiting a response with a {@linkcode ConnectionClosedError} that
   * names it: `Request rq_type 3 (channel 0, tag 7) failed: ${why}`.
   */
  rejectPending(why: string, cause?: Error): void {
    for (const [channel, map] of [[0, this.#pending0] as const, ...this.#pendingOther]) {
      const all = [...map];
      map.clear();
      for (const [tag, pending] of all) {
        pending.abort?.dispose();
        if (pending.counted) this.#inFlight--;
        pending.reject(
          new ConnectionClosedError(
            `Request rq_type ${pending.rqType} (channel ${channel}, tag ${tag}) failed: ${why}`,
            { cause },
          ),
        );
      }
    }
  }

  /** Rejects every submit waiting for a slot. */
  rejectWaiting(reason: unknown): void {
    this.#room.rejectAll(reason);
  }

  #nextTag(channel: number): number {
    if (channel === 0) return this.#tag0++;
    const tag = this.#tags.get(channel) ?? 0;
    this.#tags.set(channel, tag + 1);
    return tag;
  }

  #map(channel: number): Map<number, Pending> {
    if (channel === 0) return this.#pending0;
    let map = this.#pendingOther.get(channel);
    if (!map) this.#pendingOther.set(channel, map = new Map());
    return map;
  }

  #cancel(channel: number, tag: number, pending: Pending, reason: unknown): void {
    const map = this.#map(channel);
    if (map.get(tag) !== pending) return;
    map.delete(tag);
    if (pending.counted) this.release();
    pending.reject(reason);
    this.#host.cancelled(channel, tag);
  }
}
