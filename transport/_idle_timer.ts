/**
 * The idle timeout of a connection: one timer, re-armed lazily, that fires when nothing has
 * moved for the whole timeout — no byte read, no byte written.
 *
 * The clock stops only while the application itself holds the connection still (its reading
 * is paused and nothing waits to be written): then the peer is not the one stalling. A peer
 * that stops reading our data does not stop the clock, even if we paused reading because of
 * it, so a flood-and-never-read client cannot hold a connection for ever.
 *
 * @module
 */

import { checkDelay } from "./_delay.ts";

/** A clock and timers, replaceable in tests. */
export interface Clock {
  /** Milliseconds since some fixed point. */
  now(): number;
  /** Runs `fn` after `ms` milliseconds; returns a handle for `clear`. */
  set(fn: () => void, ms: number): unknown;
  /** Cancels a timer from `set`. */
  clear(handle: unknown): void;
}

/** The real clock. */
export const realClock: Clock = {
  now: () => performance.now(),
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as number),
};

/** What the timer asks of its connection. */
export interface IdleTimerHooks {
  /** Whether the application holds the connection still (paused, nothing left to write). */
  waitingOnApplication(): boolean;
  /** Called once when the connection has been idle for the whole timeout. */
  expired(): void;
}

/**
 * The `idleTimeout` option, checked.
 *
 * @throws {RangeError} When it is not 1 to 2147483647 ms.
 */
export function checkIdleTimeout(timeout: number): number {
  return checkDelay("Cannot create transport: idleTimeout", timeout, 1, false);
}

/** Calls `expired()` after `timeout` ms without progress; see the module doc. */
export class IdleTimer {
  readonly #timeout: number;
  readonly #hooks: IdleTimerHooks;
  readonly #clock: Clock;
  #last: number;
  #handle: unknown;
  #stopped = false;

  /**
   * Starts the clock.
   *
   * @param timeout Milliseconds without progress allowed.
   * @param hooks The connection's state and what to do on expiry.
   * @param clock The clock (the real one by default).
   */
  constructor(timeout: number, hooks: IdleTimerHooks, clock: Clock = realClock) {
    this.#timeout = checkIdleTimeout(timeout);
    this.#hooks = hooks;
    this.#clock = clock;
    this.#last = clock.now();
    this.#handle = clock.set(() => this.#check(), timeout);
  }

  /** Records progress: the full timeout starts again. */
  touch(): void {
    this.#last = this.#clock.now();
  }

  /** Stops the timer for good. */
  stop(): void {
    this.#stopped = true;
    this.#clock.clear(this.#handle);
  }

  #check(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    const waiting = this.#hooks.waitingOnApplication();
    if (this.#stopped) return; // the hook closed the transport
    if (waiting) {
      // Not the peer's fault: the clock restarts once the application lets go.
      this.#last = now;
      this.#handle = this.#clock.set(() => this.#check(), this.#timeout);
      return;
    }
    const idle = now - this.#last;
    if (idle >= this.#timeout) {
      this.#stopped = true;
      this.#hooks.expired();
      return;
    }
    this.#handle = this.#clock.set(() => this.#check(), this.#timeout - idle);
  }
}
