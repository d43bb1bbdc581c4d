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

import type { PacketFields } from "./_codec.ts";
import type { RequestAbort } from "./_request_abort.ts";
import { PacketCounters } from "./_stats.ts";
import type { RequestSpan } from "./_telemetry.ts";
import { type TagMap, TagTable } from "./_tag_table.ts";
import { WaitQueue } from "./_wait_queue.ts";
import type { PacketWriter } from "./_writer.ts";
import { ConnectionClosedError, PacketError, RemoteError } from "./errors.ts";
import { EXTENSION_RQ_TYPE, ExtensionOp } from "./extension.ts";

/**
 * How a request's promise settles on its response: `RESPONSE` to `{ ok, flags, payload }`
 * (`submit`; `decode` applied when ok), `PAYLOAD` to the payload or what `decode` makes of it,
 * a failure response rejecting with a `RemoteError` (`call`, `request`).
 */
export type Settle = typeof RESPONSE | typeof PAYLOAD;
/** See {@linkcode Settle}. */
export const RESPONSE = 0;
/** See {@linkcode Settle}. */
export const PAYLOAD = 1;

/**
 * One of our requests awaiting its response, and its promise's resolving functions: one
 * object per request besides the promise.
 */
class Pending {
  readonly tag: number;
  readonly rqType: number;
  /** The request's `label`, for errors. */
  readonly label: string | undefined;
  /** Whether it holds a `maxInFlight` slot (internal extension requests do not). */
  readonly counted: boolean;
  readonly settle: Settle;
  readonly decode: ((payload: Uint8Array, flags: number) => unknown) | undefined;
  abort: RequestAbort | undefined;
  /** Rejected already (cancelled locally); only its late response is awaited. */
  cancelled = false;
  /** `performance.now()` when it was sent, when it is timed (see `TIME_ALL_UNDER`); else -1. */
  sentAt = -1;
  /** Its span, with telemetry on. */
  span: RequestSpan | undefined;
  resolve!: (value: unknown) => void;
  reject!: (reason: unknown) => void;

  constructor(
    tag: number,
    rqType: number,
    label: string | undefined,
    counted: boolean,
    settle: Settle,
    decode: ((payload: Uint8Array, flags: number) => unknown) | undefined,
    abort: RequestAbort | undefined,
  ) {
    this.tag = tag;
    this.rqType = rqType;
    this.label = label;
    this.counted = counted;
    this.settle = settle;
    this.decode = decode;
    this.abort = abort;
  }
}

/**
 * With at most this many requests in flight every request is timed for the latency summary;
 * beyond it, one in 16 (by the count sent), so timing stays off the profile under load. Not a
 * uniform sample: requests sent while few were in flight are over-represented.
 */
const TIME_ALL_UNDER = 16;

/** The request whose promise is being made: {@linkcode capture} stores its resolvers there. */
let capturing: Pending | undefined;

/** The executor of every request's promise: no closure is made per request. */
function capture(resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
  capturing!.resolve = resolve;
  capturing!.reject = reject;
  capturing = undefined;
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
  readonly #writer: PacketWriter;
  readonly #host: RequestsHost;
  readonly #maxInFlight: number;
  readonly #counters: PacketCounters;
  #tag0 = 2;
  readonly #tags = new Map<number, number>();
  readonly #pending0: TagTable<Pending>;
  readonly #pendingOther = new Map<number, Map<number, Pending>>();
  readonly #room = new WaitQueue();
  #inFlight = 0;
  /** Whether a waiter was let in and has not sent yet. */
  #admitting = false;
  /** `performance.now()` at the current read's first timed response; -1: none yet. */
  #readAt = -1;

  constructor(
    writer: PacketWriter,
    host: RequestsHost,
    maxInFlight: number,
    counters: PacketCounters = new PacketCounters(),
  ) {
    this.#writer = writer;
    this.#counters = counters;
    this.#host = host;
    this.#maxInFlight = maxInFlight;
    this.#pending0 = new TagTable(Math.min(maxInFlight, 8192));
  }

  /** A new read from the peer begins: its responses get a new clock reading. */
  newRead(): void {
    this.#readAt = -1;
  }

  /** The slots taken: requests sent and not answered, and waiters let in. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Takes a slot when one is free and nobody waits; returns whether it did. */
  tryTake(): boolean {
    // A waiter let in but not yet sent (`#admitting`) goes first, as the queued ones do.
    if (
      !this.#host.canSend() || this.#inFlight >= this.#maxInFlight || this.#room.length > 0 ||
      this.#admitting
    ) {
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
   * Sends a request and registers it; a `counted` one already holds its slot. Throws before
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
    settle: Settle = RESPONSE,
    decode?: (payload: Uint8Array, flags: number) => unknown,
    span?: RequestSpan,
  ): Promise<unknown> {
    const tag = channel === 0 ? this.#tag0 : this.#tags.get(channel) ?? 0;
    if (span?.propagating) {
      // The peer agreed to take trace context: the request goes wrapped with it.
      const wrapped = span.wrap(rqType, flags, payload);
      this.#writer.request(tag, EXTENSION_RQ_TYPE, ExtensionOp.traced, channel, wrapped);
    } else {
      this.#writer.request(tag, rqType, flags, channel, payload);
    }
    if (channel === 0) this.#tag0++;
    else this.#tags.set(channel, tag + 1);
    const pending = new Pending(tag, rqType, label, counted, settle, decode, abort);
    if (counted) {
      const sent = ++this.#counters.requestsSent;
      // A clock read costs about 0.1 µs: under load, one request in 16 is timed.
      if (this.#inFlight <= TIME_ALL_UNDER || (sent & 15) === 0) pending.sentAt = performance.now();
    }
    pending.span = span;
    capturing = pending;
    const promise = new Promise<unknown>(capture);
    this.#map(channel).set(tag, pending);
    abort?.onFire((reason) => this.#cancel(channel, tag, pending, reason));
    return promise;
  }

  /**
   * Settles the request a response answers; a response to no pending request is ignored, and
   * so is the late response to a cancelled one (which frees its slot).
   */
  answer(packet: PacketFields): void {
    const { channel, tag } = packet;
    const map: TagMap<Pending> | undefined = channel === 0
      ? this.#pending0
      : this.#pendingOther.get(channel);
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
    const wire = packet.flags;
    if (pending.counted) {
      const counters = this.#counters;
      counters.responses++;
      if (wire % 2 !== 1) counters.notOk++;
      if (pending.sentAt >= 0) {
        // The responses of one read share one clock reading, taken at the first of them.
        if (this.#readAt < 0) this.#readAt = performance.now();
        counters.latency.record(this.#readAt - pending.sentAt);
      }
    }
    if (!Number.isSafeInteger(wire)) {
      // Legal for a Python peer (unbounded integers), but not representable here: this
      // request fails, the connection goes on.
      const error = new PacketError(
        `${describeRequest(pending.rqType, pending.label, channel, tag)} failed: the ` +
          `response flags (about ${wire / 2}) exceed Number.MAX_SAFE_INTEGER`,
      );
      pending.span?.responded(wire % 2 === 1, packet.payload, error);
      pending.reject(error);
      return;
    }
    const ok = wire % 2 === 1;
    const flags = (wire - (ok ? 1 : 0)) / 2;
    const payload = packet.payload;
    const decode = pending.decode;
    try {
      if (pending.settle === PAYLOAD) {
        if (!ok) {
          pending.reject(
            new RemoteError(flags, payload, {
              label: pending.label,
              request: describeRequest(pending.rqType, pending.label, channel, pending.tag),
            }),
          );
        } else pending.resolve(decode ? decode(payload, flags) : payload);
      } else {
        pending.resolve({ ok, flags, payload: ok && decode ? decode(payload, flags) : payload });
      }
    } catch (error) {
      // `decode` threw: the call fails, and so does its span.
      pending.span?.responded(ok, payload, error);
      pending.reject(error);
      return;
    }
    pending.span?.responded(ok, payload);
  }

  /**
   * Rejects every request awaiting a response with a {@linkcode ConnectionClosedError} that
   * names it: `Request rq_type 3 (channel 0, tag 7) failed: ${why}`.
   */
  rejectPending(why: string, cause?: Error): void {
    const tables: [number, TagMap<Pending>][] = [[0, this.#pending0], ...this.#pendingOther];
    for (const [channel, map] of tables) {
      const all = [...map.values()];
      map.clear();
      for (const pending of all) {
        const tag = pending.tag;
        if (pending.counted) this.#inFlight--;
        if (pending.cancelled) continue;
        if (pending.counted) this.#counters.lost++;
        pending.abort?.dispose();
        const error = new ConnectionClosedError(
          `${describeRequest(pending.rqType, pending.label, channel, tag)} failed: ${why}`,
          { cause },
        );
        pending.span?.failed(error);
        pending.reject(error);
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

  #map(channel: number): TagMap<Pending> {
    if (channel === 0) return this.#pending0;
    let map = this.#pendingOther.get(channel);
    if (!map) this.#pendingOther.set(channel, map = new Map());
    return map;
  }

  #cancel(channel: number, tag: number, pending: Pending, reason: unknown): void {
    const map: TagMap<Pending> | undefined = channel === 0
      ? this.#pending0
      : this.#pendingOther.get(channel);
    if (map?.get(tag) !== pending || pending.cancelled) return;
    pending.cancelled = true;
    pending.abort = undefined;
    pending.span?.failed(reason);
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
