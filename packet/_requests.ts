/**
 * Our requests to the peer: tag allocation per channel, the table of requests awaiting a
 * response, the `maxInFlight` bound with its FIFO of waiting submits, and local cancellation.
 *
 * A cancelled request rejects at once but stays in the table, holding its `maxInFlight` slot,
 * until the peer's late response comes (which is then dropped): the peer is still working on
 * it, and a cs.packetstream peer cannot be told to stop. Channels other than 0 keep a tag
 * counter and a table only while a request on them is outstanding.
 *
 * @module
 */

import type { Outbox } from "./_outbox.ts";
import type { RequestAbort } from "./_request_abort.ts";
import { WaitQueue } from "./_wait_queue.ts";
import { ConnectionClosedError, PacketError } from "./errors.ts";
import { Packet } from "./packet.ts";
import type { PacketResponse } from "./types.ts";

/** One of our requests awaiting its response. */
interface Pending {
  rqType: number;
  /** The request's `label`, for errors. */
  label: string | undefined;
  resolve(response: PacketResponse): void;
  reject(reason: unknown): void;
  /** Whether it holds a `maxInFlight` slot (internal extension requests do not). */
  counted: boolean;
  abort: RequestAbort | undefined;
  /** Rejected already (cancelled locally); only its late response is awaited. */
  cancelled: boolean;
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
  /** Whether a waiter was let in and has not sent yet. */
  #admitting = false;

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

  /**
   * Waits for a slot, in order. When this resolves the slot is the caller's, and the caller
   * must call {@linkcode Requests.admitted} once it has sent its request (or given up).
   */
  waitForSlot(abort: RequestAbort | undefined): Promise<void> {
    return this.#room.wait(abort);
  }

  /** Gives a slot back and lets the next waiter in. */
  release(): void {
    this.#inFlight--;
    this.wake();
  }

  /** The waiter let in last has sent its request (or given up): the next may come. */
  admitted(): void {
    this.#admitting = false;
    this.wake();
  }

  /**
   * Lets the next waiter in when there is a free slot and requests may be written. Waiters come
   * in one at a time, each once the one before has sent: a waiter sends a microtask after it
   * is let in, so letting many in at once would let them all past a transport that the first
   * one's bytes make pause.
   */
  wake(): void {
    if (
      this.#admitting || this.#room.length === 0 || !this.#host.canSend() ||
      this.#inFlight >= this.#maxInFlight
    ) {
      return;
    }
    this.#inFlight++;
    this.#admitting = true;
    this.#room.wakeOne();
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
    label?: string,
  ): Promise<PacketResponse> {
    const tag = this.#nextTag(channel);
    this.#outbox.queue(Packet.request(tag, rqType, { flags, payload, channel }));
    const { promise, resolve, reject } = Promise.withResolvers<PacketResponse>();
    const pending: Pending = { rqType, label, resolve, reject, counted, abort, cancelled: false };
    this.#map(channel).set(tag, pending);
    abort?.onFire((reason) => this.#cancel(channel, tag, pending, reason));
    return promise;
  }

  /**
   * Settles the request a response answers; a response to no pending request is ignored, and
   * so is the late response to a cancelled one (which frees its slot).
   */
  answer(packet: Packet): void {
    const { channel, tag } = packet;
    const map = channel === 0 ? this.#pending0 : this.#pendingOther.get(channel);
    const pending = map?.get(tag);
    if (!pending) return;
    map!.delete(tag);
    if (channel !== 0 && map!.size === 0) {
      this.#pendingOther.delete(channel);
      this.#tags.delete(channel);
    }
    if (pending.counted) this.release();
    if (pending.cancelled) return;
    pending.abort?.dispose();
    const flags = packet.flags;
    if (!Number.isSafeInteger(flags)) {
      // Legal for a Python peer (unbounded integers), but not representable here: this
      // request fails, the connection goes on.
      pending.reject(
        new PacketError(
          `${describeRequest(pending.rqType, pending.label, channel, tag)} failed: the ` +
            `response flags (about ${flags / 2}) exceed Number.MAX_SAFE_INTEGER`,
        ),
      );
      return;
    }
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
        if (pending.counted) this.#inFlight--;
        if (pending.cancelled) continue;
        pending.abort?.dispose();
        pending.reject(
          new ConnectionClosedError(
            `${describeRequest(pending.rqType, pending.label, channel, tag)} failed: ${why}`,
            { cause },
          ),
        );
      }
    }
    this.#pendingOther.clear();
    this.#tags.clear();
  }

  /** How many channels other than 0 have requests outstanding (for tests). */
  get channels(): number {
    return this.#pendingOther.size;
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
    const map = channel === 0 ? this.#pending0 : this.#pendingOther.get(channel);
    if (map?.get(tag) !== pending || pending.cancelled) return;
    pending.cancelled = true;
    pending.abort = undefined;
    pending.reject(reason);
    this.#host.cancelled(channel, tag);
  }
}

/**
 * Names a request in messages: `Request rq_type 3 (channel 0, tag 7)`, or with a label
 * `Request "fetch user" (rq_type 3, channel 0, tag 7)`; without a tag, just the type.
 */
export function describeRequest(
  rqType: number,
  label: string | undefined,
  channel?: number,
  tag?: number,
): string {
  const where = tag === undefined ? "" : `channel ${channel}, tag ${tag}`;
  if (label === undefined) return `Request rq_type ${rqType}${where && ` (${where})`}`;
  return `Request ${JSON.stringify(label)} (rq_type ${rqType}${where && `, ${where}`})`;
}
