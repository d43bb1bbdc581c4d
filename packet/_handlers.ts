/**
 * The peer's requests being served: tags in use per channel, the request handler run up to
 * `maxConcurrentHandlers` at once with a queue behind it (reading pauses when that is full
 * too), results mapped to responses, failures to the original's refusal payloads.
 *
 * @module
 */

import type { Outbox } from "./_outbox.ts";
import { checkFlags, responseParts } from "./_result.ts";
import { Serving } from "./_serving.ts";
import type { PacketConnection } from "./connection.ts";
import { RemoteError } from "./errors.ts";
import { Packet } from "./packet.ts";
import type { PacketHandlerResult, PacketRequestContext, PacketRequestHandler } from "./types.ts";

const encoder = new TextEncoder();
const EXCEPTION_DURING_HANDLER = encoder.encode("exception during handler");
const REQUEST_CANCELLED = encoder.encode("request cancelled");

/** What the handlers need from their connection. */
export interface HandlersHost {
  /** Stop reading packets (the queue is full). */
  pauseReading(): void;
  /** Read packets again. */
  resumeReading(): void;
}

/** Runs the request handler for the peer's requests. */
export class Handlers {
  readonly #connection: PacketConnection;
  readonly #outbox: Outbox;
  readonly #handler: PacketRequestHandler;
  readonly #max: number;
  readonly #onError: (error: unknown, context: PacketRequestContext) => void;
  readonly #host: HandlersHost;
  readonly #serving0 = new Map<number, Serving>();
  readonly #servingOther = new Map<number, Map<number, Serving>>();
  #queue: Serving[] = [];
  #running = 0;
  #readPaused = false;
  #ended = false;
  #idle: PromiseWithResolvers<void> | undefined;

  constructor(
    connection: PacketConnection,
    outbox: Outbox,
    handler: PacketRequestHandler,
    maxHandlers: number,
    onError: (error: unknown, context: PacketRequestContext) => void,
    host: HandlersHost,
  ) {
    this.#connection = connection;
    this.#outbox = outbox;
    this.#handler = handler;
    this.#max = maxHandlers;
    this.#onError = onError;
    this.#host = host;
  }

  /** Takes a request: refused when its tag is in use, else run now or queued. */
  accept(packet: Packet): void {
    const { channel, tag } = packet;
    const serving = this.#map(channel);
    if (serving.has(tag)) {
      refuse(this.#outbox, channel, tag, `channel ${channel}: tag already in use: ${tag}`);
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
    serving.set(tag, request);
    if (this.#running < this.#max && this.#queue.length === 0) {
      this.#run(request);
      return;
    }
    this.#queue.push(request);
    if (this.#queue.length >= this.#max && !this.#readPaused) {
      this.#readPaused = true;
      this.#host.pauseReading();
    }
  }

  /** The peer cancelled a request: its handler's signal aborts (a queued one never runs). */
  cancel(channel: number, tag: number, reason: unknown): void {
    this.#map(channel).get(tag)?.abort(reason);
  }

  /** Resolves when no handler runs or waits, or the connection ended. */
  idle(): Promise<void> {
    if ((this.#running === 0 && this.#queue.length === 0) || this.#ended) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  /** The connection ended: every handler's signal aborts, queued requests are dropped. */
  end(reason: unknown): void {
    this.#ended = true;
    for (const map of [this.#serving0, ...this.#servingOther.values()]) {
      for (const request of map.values()) request.abort(reason);
    }
    this.#queue = [];
    this.#idle?.resolve();
    this.#idle = undefined;
  }

  #map(channel: number): Map<number, Serving> {
    if (channel === 0) return this.#serving0;
    let map = this.#servingOther.get(channel);
    if (!map) this.#servingOther.set(channel, map = new Map());
    return map;
  }

  #run(request: Serving): void {
    this.#running++;
    let result: PacketHandlerResult | Promise<PacketHandlerResult>;
    try {
      result = this.#handler(request.rqType, request.flags, request.payload, request);
    } catch (error) {
      this.#finish(request, undefined, error, true);
      return;
    }
    if (isPromiseLike(result)) {
      result.then(
        (value) => this.#finish(request, value, undefined, false),
        (error) => this.#finish(request, undefined, error, true),
      );
    } else {
      this.#finish(request, result, undefined, false);
    }
  }

  /** A handler finished: its response goes out, then the next queued request starts. */
  #finish(request: Serving, result: PacketHandlerResult, error: unknown, failed: boolean): void {
    this.#running--;
    const serving = this.#map(request.channel);
    if (serving.get(request.tag) === request) serving.delete(request.tag);
    if (!failed) {
      try {
        const { flags, payload } = responseParts(result);
        if (!this.#ended) {
          this.#outbox.queue(
            Packet.response(request.tag, true, { flags, payload, channel: request.channel }),
          );
        }
      } catch (resultError) {
        failed = true;
        error = resultError;
      }
    }
    if (failed) this.#fail(request, error);
    this.#next();
  }

  /** Sends a failure response: a `RemoteError`'s own, else `exception during handler`. */
  #fail(request: Serving, error: unknown): void {
    const { tag, channel } = request;
    if (error instanceof RemoteError) {
      try {
        checkFlags(error.flags);
        if (!this.#ended) {
          this.#outbox.queue(
            Packet.response(tag, false, { flags: error.flags, payload: error.payload, channel }),
          );
        }
        return;
      } catch (encodeError) {
        error = encodeError;
      }
    }
    if (!request.isAbortReason(error)) {
      try {
        this.#onError(error, request);
      } catch (callbackError) {
        reportError(callbackError);
      }
    }
    if (!this.#ended) {
      this.#outbox.queue(
        Packet.response(tag, false, { payload: EXCEPTION_DURING_HANDLER, channel }),
      );
    }
  }

  /** Starts queued requests while slots are free; resumes reading once the queue has room. */
  #next(): void {
    while (this.#running < this.#max && this.#queue.length > 0 && !this.#ended) {
      const request = this.#queue.shift()!;
      if (!request.aborted) {
        this.#run(request);
        continue;
      }
      // Cancelled by the peer before it started: answered without running.
      this.#map(request.channel).delete(request.tag);
      this.#outbox.queue(
        Packet.response(request.tag, false, {
          channel: request.channel,
          payload: REQUEST_CANCELLED,
        }),
      );
    }
    if (this.#readPaused && this.#queue.length < this.#max && !this.#ended) {
      this.#readPaused = false;
      this.#host.resumeReading();
    }
    if (this.#running === 0 && this.#queue.length === 0) {
      this.#idle?.resolve();
      this.#idle = undefined;
    }
  }
}

/** Queues a failure response with one of the original's refusal payloads. */
export function refuse(outbox: Outbox, channel: number, tag: number, reason: string): void {
  outbox.queue(Packet.response(tag, false, { channel, payload: encoder.encode(reason) }));
}

function isPromiseLike(value: unknown): value is PromiseLike<PacketHandlerResult> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}
