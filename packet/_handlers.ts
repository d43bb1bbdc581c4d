/**
 * The peer's requests being served: tags in use per channel, the request handler run up to
 * `maxConcurrentHandlers` at once with a bounded queue behind it, results mapped to responses,
 * failures to the original's refusal payloads.
 *
 * Reading never waits for a handler (a handler may be waiting for a response that only
 * reading brings), so every bound here is kept by refusing or holding back instead:
 *
 * | state                                             | a new request                       |
 * | ------------------------------------------------- | ----------------------------------- |
 * | a slot free, nothing queued, writing not paused   | its handler starts now              |
 * | otherwise, the queue has room                     | queued, started in order later      |
 * | the queue is full                                 | refused: `too many requests`        |
 *
 * A slot is held from the handler's start until its response is handed to the transport.
 * While the transport's write buffer is over its high watermark no handler starts, and
 * finished handlers' responses wait (in order, holding their slots) until it drains, so at
 * most `maxConcurrentHandlers` responses wait in memory.
 *
 * @module
 */

import { CallbackError, logCallbackError } from "../transport/callback_error.ts";
import { DeadlineError } from "../transport/errors.ts";
import type { PacketFields } from "./_codec.ts";
import { RequestDeadlines } from "./_request_deadlines.ts";
import { checkFlags, resultFlags, resultPayload } from "./_result.ts";
import { Serving } from "./_serving.ts";
import type { PacketCounters } from "./_stats.ts";
import type { PacketTelemetry } from "./_telemetry.ts";
import { type TagMap, TagTable } from "./_tag_table.ts";
import type { PacketWriter } from "./_writer.ts";
import type { Context } from "@opentelemetry/api";
import type { PacketConnection } from "./connection.ts";
import { ConnectionClosedError, PacketTooLongError, RemoteError } from "./errors.ts";
import type { PacketHandlerResult, PacketRequestContext, PacketRequestHandler } from "./types.ts";

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
const EXCEPTION_DURING_HANDLER = encoder.encode("exception during handler");
const REQUEST_CANCELLED = encoder.encode("request cancelled");
const TOO_MANY_REQUESTS = encoder.encode("too many requests");
const CLOSED_FIRST = "the connection closed before the response went out";

/** What the handlers need from their connection. */
export interface HandlersHost {
  /** Whether responses may be written now (the transport's write buffer is not full). */
  canWrite(): boolean;
  /** The connection's counters: served, failed, refused. */
  readonly counters: PacketCounters;
}

/** The limits of {@linkcode Handlers}. */
export interface HandlersLimits {
  /** Handlers running at once (their responses included until written). */
  maxConcurrent: number;
  /** Requests waiting for a slot. */
  maxQueued: number;
}

/** Runs the request handler for the peer's requests. */
export class Handlers {
  readonly #connection: PacketConnection;
  readonly #writer: PacketWriter;
  readonly #handler: PacketRequestHandler;
  readonly #max: number;
  readonly #maxQueued: number;
  readonly #onError: (error: unknown, context: PacketRequestContext) => void;
  readonly #host: HandlersHost;
  readonly #serving0: TagTable<Serving>;
  readonly #servingOther = new Map<number, Map<number, Serving>>();
  #queue: Serving[] = [];
  #queueHead = 0;
  /** Finished requests whose response waits for the transport to drain, in order. */
  #held: Serving[] = [];
  /** Slots taken: handlers running, and finished ones whose response waits in `#held`. */
  #slots = 0;
  /** Of the slots, those of handlers still running after their request expired (answered). */
  #expiredRunning = 0;
  #ended = false;
  #starting = false;
  #idle: PromiseWithResolvers<void> | undefined;
  /** The `requestTimeout` of the requests being served, once the connection set one. */
  #deadlines: RequestDeadlines | undefined;
  /** Spans and metrics, with the connection's `telemetry` option. */
  telemetry: PacketTelemetry | undefined;

  constructor(
    connection: PacketConnection,
    writer: PacketWriter,
    handler: PacketRequestHandler,
    limits: HandlersLimits,
    onError: (error: unknown, context: PacketRequestContext) => void,
    host: HandlersHost,
  ) {
    this.#connection = connection;
    this.#writer = writer;
    this.#handler = handler;
    this.#max = limits.maxConcurrent;
    this.#maxQueued = limits.maxQueued;
    this.#serving0 = new TagTable(Math.min(limits.maxConcurrent + limits.maxQueued, 8192));
    this.#onError = onError;
    this.#host = host;
  }

  /** How many channels other than 0 have requests being served (for tests). */
  get channels(): number {
    return this.#servingOther.size;
  }

  /**
   * Sets the `requestTimeout` of the requests that arrive from now on (called once, when the
   * connection is made; `Infinity` or `undefined`: none).
   */
  useRequestTimeout(timeout: number | undefined): void {
    if (timeout === undefined || timeout === Infinity || this.#deadlines) return;
    this.#deadlines = new RequestDeadlines(timeout, (request) => this.#expire(request));
  }

  /** Requests waiting for a slot. */
  get #queued(): number {
    return this.#queue.length - this.#queueHead;
  }

  /**
   * Takes a request: refused when its tag is in use or the queue is full, else run now or
   * queued.
   *
   * @param parent The trace context the request carried (telemetry on and agreed).
   */
  accept(packet: PacketFields, parent?: Context): void {
    const { channel, tag } = packet;
    const existing: TagMap<Serving> | undefined = channel === 0
      ? this.#serving0
      : this.#servingOther.get(channel);
    if (existing?.has(tag)) {
      this.#host.counters.refused++;
      refuse(this.#writer, channel, tag, `channel ${channel}: tag already in use: ${tag}`);
      return;
    }
    const startNow = this.#slots < this.#max && this.#queued === 0 && this.#host.canWrite();
    if (!startNow && this.#queued >= this.#maxQueued) {
      this.#host.counters.refused++;
      this.#writer.response(tag, false, 0, channel, TOO_MANY_REQUESTS);
      return;
    }
    const request = new Serving(
      this.#connection,
      channel,
      tag,
      packet.rqType - 1,
      packet.flags,
      packet.payload,
    );
    if (this.telemetry) {
      const size = packet.payload.byteLength;
      request.span = this.telemetry.server(request.rqType, channel, size, parent);
    }
    let serving = existing;
    if (!serving) this.#servingOther.set(channel, serving = new Map());
    serving.set(tag, request);
    this.#deadlines?.add(request);
    if (startNow) this.#run(request);
    else this.#queue.push(request);
  }

  /**
   * The peer cancelled a request: a running handler's signal aborts; a queued request is
   * answered `request cancelled` at once and never runs. Unknown tags are ignored.
   */
  cancel(channel: number, tag: number, reason: unknown): void {
    const map: TagMap<Serving> | undefined = channel === 0
      ? this.#serving0
      : this.#servingOther.get(channel);
    const request = map?.get(tag);
    if (!request) return;
    request.abort(reason);
    if (request.state !== "queued") return;
    const i = this.#queue.indexOf(request, this.#queueHead);
    if (i >= 0) this.#queue.splice(i, 1);
    this.#forget(request);
    this.#deadlines?.remove(request);
    this.#host.counters.refused++;
    this.#writer.response(tag, false, 0, channel, REQUEST_CANCELLED);
    request.span?.responded(false, REQUEST_CANCELLED);
    this.#checkIdle();
  }

  /** Resolves when no handler runs, waits or holds a response, or the connection ended. */
  idle(): Promise<void> {
    if ((this.#slots === this.#expiredRunning && this.#queued === 0) || this.#ended) {
      return Promise.resolve();
    }
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  /** The transport drained: held responses go out in order, then queued requests start. */
  resumeWriting(): void {
    let i = 0;
    while (i < this.#held.length && this.#host.canWrite() && !this.#ended) {
      this.#release(this.#held[i++]);
    }
    this.#held = i === this.#held.length ? [] : this.#held.slice(i);
    this.#next();
  }

  /**
   * The connection gives up on the requests it serves (its owner's drain timeout ran out):
   * finished responses still held go out now, and every request queued or running is answered
   * with a failure whose payload is `reason`. Then `end()`, which aborts their handlers'
   * signals; what a handler returns later is dropped.
   */
  answerAll(reason: string): void {
    for (const request of this.#held) this.#release(request);
    this.#held = [];
    const payload = encoder.encode(reason);
    const tables: TagMap<Serving>[] = [this.#serving0, ...this.#servingOther.values()];
    for (const map of tables) {
      for (const request of map.values()) {
        this.#host.counters.failed++;
        refuse(this.#writer, request.channel, request.tag, payload);
      }
    }
  }

  /** The connection ended: every handler's signal aborts, queued requests are dropped. */
  end(reason: unknown): void {
    this.#ended = true;
    this.#deadlines?.stop();
    const tables: TagMap<Serving>[] = [this.#serving0, ...this.#servingOther.values()];
    for (const map of tables) {
      for (const request of map.values()) {
        request.abort(reason);
        request.span?.failed(reason);
      }
    }
    this.#queue = [];
    this.#queueHead = 0;
    this.#slots -= this.#held.length;
    this.#held = [];
    this.#idle?.resolve();
    this.#idle = undefined;
  }

  #run(request: Serving): void {
    this.#slots++;
    request.state = "running";
    let result: PacketHandlerResult | Promise<PacketHandlerResult>;
    try {
      result = request.span
        ? request.span.run(() =>
          this.#handler(request.rqType, request.flags, request.payload, request)
        )
        : this.#handler(request.rqType, request.flags, request.payload, request);
    } catch (error) {
      this.#finish(request, undefined, error, true);
      return;
    }
    let promise: Promise<PacketHandlerResult> | undefined;
    try {
      // Reading `then` or the prototype runs user code too (a getter, a revoked Proxy): a throw
      // there fails this request, as a throw from the handler does.
      if (isPromiseLike(result)) {
        // Any other thenable goes through a promise: its callbacks may run twice, or its then()
        // throw (out of a promise callback when started from the queue: an unhandled rejection).
        promise = result instanceof Promise ? result : Promise.resolve(result);
      }
    } catch (error) {
      this.#finish(request, undefined, error, true);
      return;
    }
    if (promise) {
      promise.then(
        (value) => this.#finish(request, value, undefined, false),
        (error) => this.#finish(request, undefined, error, true),
      );
    } else {
      this.#finish(request, result as PacketHandlerResult, undefined, false);
    }
  }

  /** A handler finished: its response goes out (or waits for the transport to drain). */
  #finish(request: Serving, result: PacketHandlerResult, error: unknown, failed: boolean): void {
    if (request.state === "expired") {
      // Answered when its deadline ran out: what it returns is dropped; its slot is free now.
      this.#slots--;
      this.#expiredRunning--;
      if (!this.#ended) this.#next();
      return;
    }
    this.#deadlines?.remove(request);
    if (!failed) {
      try {
        request.respond(true, resultFlags(result), resultPayload(result), false);
      } catch (resultError) {
        failed = true;
        error = resultError;
      }
    }
    if (failed) this.#fail(request, error);
    if (this.#ended) {
      // The connection is gone: the response is dropped (a failure was still reported).
      this.#forget(request);
      this.#slots--;
    } else if (this.#host.canWrite()) {
      this.#release(request);
      this.#next();
    } else {
      this.#held.push(request);
    }
  }

  /**
   * A request's `requestTimeout` ran out: its signal aborts, the peer gets a failure response
   * naming the limit, and its tag is free again. A queued request never runs; a running
   * handler keeps its slot until it settles (what it returns is dropped).
   */
  #expire(request: Serving): void {
    if (this.#ended) return;
    const error = new DeadlineError("requestTimeout", this.#deadlines!.timeout);
    request.abort(error);
    const queued = request.state === "queued";
    if (queued) {
      const i = this.#queue.indexOf(request, this.#queueHead);
      if (i >= 0) this.#queue.splice(i, 1);
    } else {
      request.state = "expired";
      this.#expiredRunning++;
    }
    this.#forget(request);
    this.#host.counters.failed++;
    try {
      refuse(this.#writer, request.channel, request.tag, error.message);
    } catch {
      // The transport takes no more writes (a writeEof() under the connection).
    }
    request.span?.failed(error);
    this.#checkIdle();
  }

  /** Sets the failure response for `error`: a `RemoteError`'s own, else `exception during handler`. */
  #fail(request: Serving, error: unknown): void {
    error = inspectable(error);
    if (error instanceof RemoteError) {
      try {
        request.respond(false, checkFlags(error.flags), error.payload, true);
        return;
      } catch (flagsError) {
        error = flagsError;
      }
    }
    this.#report(request, error);
    if (error instanceof Error) request.span?.span.recordException(error);
    request.respond(false, 0, EXCEPTION_DURING_HANDLER, true);
  }

  /** Sends a finished request's response and frees its slot and tag. */
  #release(request: Serving): void {
    this.#forget(request);
    this.#slots--;
    const { tag, channel } = request;
    try {
      const sent = this.#writer.response(
        tag,
        request.ok,
        request.responseFlags,
        channel,
        request.response,
      );
      if (!sent) {
        // The transport closed under the connection first: the answer never goes out.
        request.span?.failed(new ConnectionClosedError(CLOSED_FIRST));
      } else {
        if (request.response === EXCEPTION_DURING_HANDLER) this.#host.counters.failed++;
        else this.#host.counters.requestsServed++;
        request.span?.responded(request.ok, request.response);
      }
    } catch (encodeError) {
      // Over maxPacketSize, for example: the peer gets the generic failure instead.
      if (!request.failure) this.#report(request, encodeError);
      this.#host.counters.failed++;
      try {
        refuse(this.#writer, channel, tag, EXCEPTION_DURING_HANDLER);
      } catch {
        // The transport takes no more writes (after a writeEof() under the connection, say):
        // nothing can be answered. Thrown on, it would end the process from an async handler.
      }
      request.span?.responded(false, EXCEPTION_DURING_HANDLER);
    }
    request.response = EMPTY; // the request may be kept by the handler: drop the bytes
  }

  #report(request: Serving, error: unknown): void {
    if (request.isAbortReason(error)) return;
    try {
      this.#onError(error, request);
    } catch (callbackError) {
      // Never reportError(): an uncaught error ends the process, and one bad handler must not.
      logCallbackError(
        new CallbackError("onHandlerError", `channel ${request.channel}`, callbackError),
      );
    }
  }

  /** Frees a request's tag (and its channel's map once empty). */
  #forget(request: Serving): void {
    const { channel, tag } = request;
    if (channel === 0) {
      if (this.#serving0.get(tag) === request) this.#serving0.delete(tag);
      return;
    }
    const map = this.#servingOther.get(channel);
    if (map?.get(tag) !== request) return;
    map.delete(tag);
    if (map.size === 0) this.#servingOther.delete(channel);
  }

  /** Starts queued requests while slots are free and writing is not paused. */
  #next(): void {
    // Handlers that finish at once call back in here: the outer loop goes on instead, so the
    // stack stays flat however long the queue.
    if (this.#starting) return;
    this.#starting = true;
    try {
      while (
        this.#slots < this.#max && this.#queued > 0 && !this.#ended && this.#host.canWrite()
      ) {
        const request = this.#queue[this.#queueHead++];
        if (this.#queueHead === this.#queue.length) {
          this.#queue = [];
          this.#queueHead = 0;
        } else if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#queueHead);
          this.#queueHead = 0;
        }
        this.#run(request);
      }
    } finally {
      this.#starting = false;
    }
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#slots === this.#expiredRunning && this.#queued === 0) {
      this.#idle?.resolve();
      this.#idle = undefined;
    }
  }
}

/**
 * Sends a failure response with one of the original's refusal payloads; with an empty payload
 * when the reason would exceed `maxPacketSize` (the peer still gets its answer, and a refusal
 * from a timer or a promise callback never throws).
 */
export function refuse(
  writer: PacketWriter,
  channel: number,
  tag: number,
  reason: string | Uint8Array,
): void {
  const payload = typeof reason === "string" ? encoder.encode(reason) : reason;
  try {
    writer.response(tag, false, 0, channel, payload);
  } catch (error) {
    if (!(error instanceof PacketTooLongError) || payload.byteLength === 0) throw error;
    writer.response(tag, false, 0, channel, EMPTY);
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<PacketHandlerResult> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/**
 * `error`, or a TypeError in its place when it cannot even be inspected (a revoked Proxy throws
 * from `instanceof`): the request still fails with the generic response, and nothing throws
 * out of a promise callback.
 */
function inspectable(error: unknown): unknown {
  try {
    void (error instanceof Error);
    return error;
  } catch (inspectError) {
    return new TypeError("The handler failed with a value that cannot be inspected", {
      cause: inspectError,
    });
  }
}
