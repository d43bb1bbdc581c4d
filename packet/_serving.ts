/**
 * One request from the peer while it is queued or being served: its packet fields and the
 * context its handler gets (the cancellation signal is made only when asked for).
 *
 * @module
 */

import type { RequestSpan } from "./_telemetry.ts";
import type { PacketConnection } from "./connection.ts";
import type { PacketRequestContext } from "./types.ts";

const EMPTY = new Uint8Array(0);

/**
 * Where a peer request is: waiting for a handler slot, its handler running, or already
 * answered with a failure because its `requestTimeout` ran out (its handler, if it started,
 * may still be running; what it returns is dropped).
 */
export type ServingState = "queued" | "running" | "expired";

/** A peer request being served, and the handler's context. */
export class Serving implements PacketRequestContext {
  readonly connection: PacketConnection;
  readonly channel: number;
  readonly tag: number;
  /** The user rq_type. */
  readonly rqType: number;
  /** The request flags. */
  readonly flags: number;
  /** The request payload. */
  readonly payload: Uint8Array;
  /** See {@linkcode ServingState}. */
  state: ServingState = "queued";
  /** When its `requestTimeout` runs out (`RequestDeadlines` keeps it). */
  due = Infinity;
  /** The previous request in its connection's deadline list (older). */
  prevDue: Serving | undefined;
  /** The next request in its connection's deadline list (newer). */
  nextDue: Serving | undefined;
  /** The response, once the handler finished: ok or not. */
  ok = false;
  /** The response's user flags. */
  responseFlags = 0;
  /** The response payload. */
  response: Uint8Array = EMPTY;
  /** Whether the response reports a handler failure already (its encoding is not retried). */
  failure = false;
  /** Its span, with telemetry on. */
  span: RequestSpan | undefined;
  #controller: AbortController | undefined;

  constructor(
    connection: PacketConnection,
    channel: number,
    tag: number,
    rqType: number,
    flags: number,
    payload: Uint8Array,
  ) {
    this.connection = connection;
    this.channel = channel;
    this.tag = tag;
    this.rqType = rqType;
    this.flags = flags;
    this.payload = payload;
  }

  /** Sets the response (sent now, or held while the transport's write buffer is full). */
  respond(ok: boolean, flags: number, payload: Uint8Array, failure: boolean): void {
    this.ok = ok;
    this.responseFlags = flags;
    this.response = payload;
    this.failure = failure;
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  /** Whether the request was cancelled. */
  get aborted(): boolean {
    return this.#controller?.signal.aborted ?? false;
  }

  /** Whether `error` is the reason the request was cancelled with. */
  isAbortReason(error: unknown): boolean {
    return this.aborted && this.#controller!.signal.reason === error;
  }

  /** Cancels the request: the handler's signal aborts with `reason`. */
  abort(reason: unknown): void {
    (this.#controller ??= new AbortController()).abort(reason);
  }
}
