/**
 * The cancellation of one submitted request: its caller's `signal` or its `timeout`, whichever
 * fires first, delivered to whatever phase the request is in (waiting for room, or awaiting
 * its response).
 *
 * @module
 */

import { checkDelay } from "../transport/_delay.ts";
import type { PacketCounters } from "./_stats.ts";

/**
 * Checks a request `timeout`: `undefined` or `Infinity` (none), or milliseconds from 0 to
 * 2147483647.
 *
 * @throws {RangeError} Naming the value otherwise.
 */
export function checkTimeout(timeout: unknown): void {
  if (timeout !== undefined) checkDelay("Cannot submit request: timeout", timeout, 0, true);
}

/** Fires once, on the caller's signal or the timeout; `dispose()` releases both. */
export class RequestAbort {
  readonly #signal: AbortSignal | undefined;
  readonly #counters: PacketCounters | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #handler: ((reason: unknown) => void) | undefined;
  #fired = false;
  #reason: unknown;

  /**
   * Arms the abort.
   *
   * @param signal The caller's signal.
   * @param timeout Milliseconds (checked by {@linkcode checkTimeout}), or `undefined` or
   * `Infinity` for none.
   * @param what Names the request in the timeout message, e.g. `Request rq_type 3`.
   * @param counters Counts the firing: `cancelled` or `timedOut`.
   */
  constructor(
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    what: string,
    counters?: PacketCounters,
  ) {
    this.#signal = signal;
    this.#counters = counters;
    if (signal?.aborted) {
      this.#fired = true;
      this.#reason = signal.reason;
      if (counters) counters.cancelled++;
      return;
    }
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (timeout !== undefined && timeout !== Infinity) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#fire(
          new DOMException(`${what} timed out after ${timeout} ms`, "TimeoutError"),
          true,
        );
      }, timeout);
    }
  }

  /** Whether it fired; {@linkcode RequestAbort.reason} is then the rejection reason. */
  get fired(): boolean {
    return this.#fired;
  }

  /** The signal's reason or the timeout error. */
  get reason(): unknown {
    return this.#reason;
  }

  /** Sets what firing does from now on (called at once when it already fired). */
  onFire(handler: (reason: unknown) => void): void {
    this.#handler = handler;
    if (this.#fired) handler(this.#reason);
  }

  /** Releases the timer and the listener. */
  dispose(): void {
    this.#handler = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }

  readonly #onAbort = (): void => this.#fire(this.#signal!.reason, false);

  #fire(reason: unknown, timedOut: boolean): void {
    if (this.#fired) return;
    this.#fired = true;
    const counters = this.#counters;
    if (counters) {
      if (timedOut) counters.timedOut++;
      else counters.cancelled++;
    }
    this.#reason = reason;
    const handler = this.#handler;
    this.dispose();
    handler?.(reason);
  }
}
