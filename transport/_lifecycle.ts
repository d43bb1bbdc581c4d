/**
 * The lifecycle every transport shares — stream, UDP and a UDP tendril's peer: the `closed`
 * promise, the error the connection was lost with, and `connectionLost()` called exactly once,
 * after the transport's loops have stopped, with a throw from it routed to `onError`.
 *
 * @module
 */

import { CallbackError, deliverError } from "./callback_error.ts";
import { Counters } from "./_stats.ts";
import { connectionChannel, publishClose, publishOpen } from "./_trace.ts";
import type { BaseTransport } from "./types.ts";
import { type CloseReason, closeReasonOf, type TransportStats } from "./stats.ts";

/**
 * Where a transport is in its life.
 *
 * | state        | entered by                                  | left for                          |
 * | ------------ | ------------------------------------------- | --------------------------------- |
 * | `"open"`     | the constructor                             | `"closing"`, `"finished"`         |
 * | `"closing"`  | `close()` while writes are still buffered   | `"finished"`                      |
 * | `"finished"` | the channel was closed (`finish()`)         | — (`connectionLost()` follows once) |
 */
export type LifecycleState = "open" | "closing" | "finished";

/**
 * Transport option key of a function called once the transport's `connectionLost()` has
 * returned (just as `closed` resolves), with the transport and its error: a `Server` tracks
 * its connections with one such function instead of a `closed.then` closure per connection.
 */
export const CLOSED_HOOK: unique symbol = Symbol("plexus.closedHook");

/**
 * Transport option key of a function called with the transport just before its protocol's
 * `connectionMade()`: a `Server` tracks the connection from there, so whatever that callback
 * does to the server's connections (`closeClients()`, say) includes its own.
 */
export const OPENING_HOOK: unique symbol = Symbol("plexus.openingHook");

/** Transport options that may carry a {@linkcode CLOSED_HOOK} and an {@linkcode OPENING_HOOK}. */
export interface LifecycleHookOptions {
  /** See {@linkcode CLOSED_HOOK}. */
  // deno-lint-ignore no-explicit-any
  [CLOSED_HOOK]?: (transport: any, error: Error | undefined) => void;
  /** See {@linkcode OPENING_HOOK}. */
  // deno-lint-ignore no-explicit-any
  [OPENING_HOOK]?: (transport: any) => void;
}

/** The shared end of a transport's life; see {@linkcode LifecycleState}. */
export class Lifecycle {
  #state: LifecycleState = "open";
  #error: Error | undefined;
  /** Made when first asked for: a connection nobody awaits costs no promise. */
  #closed: Promise<Error | undefined> | undefined;
  #resolveClosed: ((error: Error | undefined) => void) | undefined;
  /** Whether `connectionLost()` has run (and `closed` has resolved, or will at once). */
  #lost = false;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #onClosed: LifecycleHookOptions[typeof CLOSED_HOOK];
  readonly #onOpening: LifecycleHookOptions[typeof OPENING_HOOK];
  readonly #owner: BaseTransport;
  #reason: CloseReason | undefined;
  /** The transport's counters: its read and flush paths add to them. */
  readonly counters: Counters = new Counters();

  /**
   * @param onError Gets a throw from `connectionLost()`, as a {@linkcode CallbackError}.
   * @param owner The transport: named in its `plexus:connection` close event, and given to
   * `onClosed`.
   * @param onClosed Called with `owner` once `connectionLost()` has returned (see
   * {@linkcode CLOSED_HOOK}).
   * @param onOpening Called with `owner` just before `connectionMade()` (see
   * {@linkcode OPENING_HOOK}).
   */
  constructor(
    onError: ((error: Error) => void) | undefined,
    owner: BaseTransport,
    onClosed?: LifecycleHookOptions[typeof CLOSED_HOOK],
    onOpening?: LifecycleHookOptions[typeof OPENING_HOOK],
  ) {
    this.#onError = onError;
    this.#onClosed = onClosed;
    this.#onOpening = onOpening;
    this.#owner = owner;
  }

  /**
   * The start of the transport's life: publishes its `plexus:connection` open event, tells the
   * owner's opening hook, then calls `connectionMade`.
   *
   * @param connectionMade The protocol's callback, bound to the transport.
   * @param fail Gets what `connectionMade` threw (the transport fails with it).
   * @returns False when `connectionMade` threw.
   */
  open(connectionMade: () => void, fail: (error: unknown) => void): boolean {
    if (connectionChannel.hasSubscribers) publishOpen(this.#owner);
    this.#onOpening?.(this.#owner);
    try {
      connectionMade();
    } catch (error) {
      fail(error);
      return false;
    }
    return true;
  }

  /** The current state. */
  get state(): LifecycleState {
    return this.#state;
  }

  /** Whether the transport is closing or finished (what `isClosing()` says). */
  get closing(): boolean {
    return this.#state !== "open";
  }

  /** Whether the channel is closed; `connectionLost()` follows or has been called. */
  get finished(): boolean {
    return this.#state === "finished";
  }

  /** The error the transport was lost with, once finished. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Resolves after `connectionLost()`, with its error; never rejects. */
  get closed(): Promise<Error | undefined> {
    if (this.#closed === undefined) {
      if (this.#lost) this.#closed = Promise.resolve(this.#error);
      else {
        const { promise, resolve } = Promise.withResolvers<Error | undefined>();
        this.#closed = promise;
        this.#resolveClosed = resolve;
      }
    }
    return this.#closed;
  }

  /** Why the transport ended, once finished. */
  get reason(): CloseReason | undefined {
    return this.#state === "finished" ? this.#reason : undefined;
  }

  /** The transport's statistics now (see {@linkcode TransportStats}). */
  stats(): TransportStats {
    return this.counters.snapshot(this.reason, this.#error);
  }

  /**
   * `"open"` → `"closing"`; false when it was not open. The transport stops reading: a read
   * pause still running ends now (the flush that follows is not time spent paused).
   *
   * @param reason Why: `"close"`, or `"peer-eof"` when the peer's EOF closes it.
   */
  beginClose(reason: CloseReason = "close"): boolean {
    if (this.#state !== "open") return false;
    this.#state = "closing";
    this.#reason = reason;
    // A close stops reading at once: a read pause running ends here, not after the flush.
    this.counters.resumedReading();
    return true;
  }

  /**
   * A callback threw after `finish()` (a `close()` it made finished the transport at once)
   * but before `connectionLost()`: that call receives `error`, as a throw receives it anywhere
   * else.
   * @returns False, doing nothing, when not finished, already lost, or lost with an error.
   */
  failLate(error: Error): boolean {
    if (this.#state !== "finished" || this.#lost || this.#error !== undefined) return false;
    this.#error = error;
    this.#reason = closeReasonOf(error);
    return true;
  }

  /**
   * → `"finished"`, then, once every promise of `loops` has settled, calls `connectionLost`
   * with `error` (a throw goes to `onError`, naming `peer()`) and resolves `closed`.
   *
   * The close reason is `reason` when given; else the error's kind (overflow, deadline, reset,
   * error), else the one `beginClose()` recorded, else `"close"`.
   *
   * @returns False, doing nothing, when already finished.
   */
  finish(
    error: Error | undefined,
    loops: readonly (Promise<unknown> | undefined)[],
    connectionLost: ((error: Error | undefined) => void) | undefined,
    peer: () => string,
    reason?: CloseReason,
  ): boolean {
    if (this.#state === "finished") return false;
    this.#state = "finished";
    this.#error = error;
    this.#reason = reason ?? (error ? closeReasonOf(error) : this.#reason ?? "close");
    this.counters.end();
    const after = (): void => {
      error = this.#error; // failLate() may have set it since
      try {
        connectionLost?.(error);
      } catch (callbackError) {
        deliverError(this.#onError, new CallbackError("connectionLost", peer(), callbackError));
      }
      // The one place a transport's close is traced, after its protocol heard of it.
      if (connectionChannel.hasSubscribers) publishClose(this.#owner, this.#reason, error);
      this.#lost = true;
      this.#resolveClosed?.(error);
      this.#onClosed?.(this.#owner, error);
    };
    // One loop to wait for (or none) is the common case: a reaction on it costs far less than
    // Promise.allSettled's arrays and per-promise reactions (measured: about 2 KiB of garbage
    // per connection).
    const only = loops.length === 1 ? loops[0] : undefined;
    if (only !== undefined) only.then(after, after);
    else if (loops.length <= 1) queueMicrotask(after);
    else Promise.allSettled(loops).then(after);
    return true;
  }
}
