/**
 * The `requestTimeout` of the peer's requests on one connection: one timer, re-armed lazily,
 * over a list of the unanswered requests in order of arrival.
 *
 * Every request gets the same timeout and they arrive in order, so the oldest is always due
 * first: the list is ordered by deadline for free. A request leaves it in O(1) (it is linked
 * through its own fields) when its handler settles or it is cancelled; the timer is not
 * touched then, and when it fires it expires what is due and re-arms for the new oldest. So
 * there is no timer per request: at most one is set per `requestTimeout` period.
 *
 * @module
 */

import { checkDelay } from "../transport/_delay.ts";
import { type Clock, realClock } from "../transport/_idle_timer.ts";
import type { Serving } from "./_serving.ts";

/**
 * Checks a `requestTimeout` option: 1 to 2147483647 ms, or `Infinity` for none.
 *
 * @throws {RangeError} Naming the value otherwise.
 */
export function checkRequestTimeout(value: number): number {
  return checkDelay("Cannot create packet connection: requestTimeout", value, 1, true);
}

/** Calls `expire(request)` for each request still listed `timeout` ms after it was added. */
export class RequestDeadlines {
  /** The timeout, in milliseconds. */
  readonly timeout: number;
  readonly #expire: (request: Serving) => void;
  readonly #clock: Clock;
  /** The oldest listed request: the first due. */
  #head: Serving | undefined;
  #tail: Serving | undefined;
  #handle: unknown;
  #stopped = false;

  /**
   * Creates the (empty) list.
   *
   * @param timeout Milliseconds from a request's arrival to its deadline (1..2^31-1).
   * @param expire Called for each request whose deadline ran out; it is unlisted first.
   * @param clock The clock and timers (the real ones by default).
   */
  constructor(timeout: number, expire: (request: Serving) => void, clock: Clock = realClock) {
    this.timeout = timeout;
    this.#expire = expire;
    this.#clock = clock;
  }

  /** Lists a request that just arrived. */
  add(request: Serving): void {
    request.due = this.#clock.now() + this.timeout;
    request.prevDue = this.#tail;
    request.nextDue = undefined;
    if (this.#tail) this.#tail.nextDue = request;
    else this.#head = request;
    this.#tail = request;
    if (this.#handle === undefined && !this.#stopped) {
      this.#handle = this.#clock.set(this.#check, this.timeout);
    }
  }

  /** Unlists a request (answered or cancelled); does nothing if it is not listed. */
  remove(request: Serving): void {
    if (request.due === Infinity) return;
    request.due = Infinity;
    const { prevDue, nextDue } = request;
    if (prevDue) prevDue.nextDue = nextDue;
    else this.#head = nextDue;
    if (nextDue) nextDue.prevDue = prevDue;
    else this.#tail = prevDue;
    request.prevDue = request.nextDue = undefined;
  }

  /** Stops the timer for good (the connection ended). */
  stop(): void {
    this.#stopped = true;
    if (this.#handle !== undefined) this.#clock.clear(this.#handle);
    this.#handle = undefined;
    this.#head = this.#tail = undefined;
  }

  readonly #check = (): void => {
    this.#handle = undefined;
    const now = this.#clock.now();
    for (let head = this.#head; head && head.due <= now; head = this.#head) {
      this.remove(head);
      this.#expire(head);
    }
    const head = this.#head;
    if (head && this.#handle === undefined && !this.#stopped) {
      this.#handle = this.#clock.set(this.#check, head.due - now);
    }
  };
}
