/**
 * A FIFO of callers waiting for room to send (the `maxInFlight` bound, a paused transport, a
 * connection not made yet). Room is handed out one waiter at a time, in order.
 *
 * @module
 */

import type { RequestAbort } from "./_request_abort.ts";

interface Waiter {
  resolve(): void;
  reject(reason: unknown): void;
}

/** Waiters for room, served in order. */
export class WaitQueue {
  #waiters: Waiter[] = [];
  #head = 0;

  /** How many callers wait. */
  get length(): number {
    return this.#waiters.length - this.#head;
  }

  /**
   * Waits until {@linkcode WaitQueue.wakeOne} picks this caller, or `abort` fires (then the
   * promise rejects with its reason and the caller leaves the queue).
   */
  wait(abort: RequestAbort | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      this.#waiters.push(waiter);
      abort?.onFire((reason) => {
        const i = this.#waiters.indexOf(waiter, this.#head);
        if (i < 0) return;
        this.#waiters.splice(i, 1);
        reject(reason);
      });
    });
  }

  /** Lets the first waiter go; returns whether there was one. */
  wakeOne(): boolean {
    if (this.#head === this.#waiters.length) return false;
    const waiter = this.#waiters[this.#head++];
    if (this.#head === this.#waiters.length) {
      this.#waiters = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#head);
      this.#head = 0;
    }
    waiter.resolve();
    return true;
  }

  /** Rejects every waiter with `reason`. */
  rejectAll(reason: unknown): void {
    const waiters = this.#waiters.slice(this.#head);
    this.#waiters = [];
    this.#head = 0;
    for (const waiter of waiters) waiter.reject(reason);
  }
}
