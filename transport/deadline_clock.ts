/**
 * The deadlines of a framed connection: how long a frame may take once its first byte
 * arrived, and how long the first frame may take after connecting. They stop slowloris, which
 * an idle timeout cannot: a peer that trickles one byte a second is never idle.
 *
 * One timer per connection, re-armed lazily (as the idle timer is): the framed layer reports
 * progress once per read, which only records times, and the timer checks them when it fires.
 *
 * @module
 */

import { checkDelay } from "./_delay.ts";
import { DeadlineError } from "./errors.ts";
import { type Clock, realClock } from "./_idle_timer.ts";

/**
 * The deadlines of a connection, in milliseconds; `Infinity` turns one off. Plain transports
 * have none unless given; `Server` connections get the defaults below for each one left out.
 */
export interface Deadlines {
  /**
   * How long the first frame may take to complete after the connection is made (nginx's
   * `client_header_timeout` for the first request). Past it the connection closes with a
   * {@linkcode DeadlineError} (`No complete frame 30000 ms after connecting
   * (firstFrameTimeout)`). It runs only under a framed protocol (a plain `Protocol` reports no
   * frames), and it also cuts a silent peer: set `Infinity` where our side speaks first and
   * the peer may rightly wait.
   *
   * @default {Infinity; 30000 for Server connections}
   */
  firstFrameTimeout?: number;
  /**
   * How long a frame may take once its first byte arrived (Node's `headersTimeout`). Past it
   * the connection closes with a {@linkcode DeadlineError} (`Frame incomplete 30000 ms after
   * its first byte (frameTimeout)`). Between frames it does not run: `idleTimeout` bounds
   * silence. The Server default lets an 8 MiB frame through at 280 KB/s.
   *
   * @default {Infinity; 30000 for Server connections}
   */
  frameTimeout?: number;
  /**
   * How long a request from the peer may take, from its arrival to its response (Node's
   * `requestTimeout`); used by request/response protocols over the transport
   * (`PacketConnection`, unless its own `requestTimeout` option is set). Past it the
   * handler's signal aborts with a {@linkcode DeadlineError} and the peer gets a failure
   * response naming the limit; the connection stays open.
   *
   * @default {Infinity; 300000 for Server connections}
   */
  requestTimeout?: number;
}

/** The deadlines a `Server` gives its connections unless told otherwise. */
export const SERVER_DEADLINES: Readonly<Required<Deadlines>> = Object.freeze({
  firstFrameTimeout: 30_000,
  frameTimeout: 30_000,
  requestTimeout: 300_000,
});

/**
 * `deadlines` with the {@linkcode SERVER_DEADLINES} filled in where left out.
 *
 * @param deadlines The user's deadlines, if any.
 * @returns Every deadline set.
 * @throws {RangeError} When a deadline is not 1 to 2147483647 ms or `Infinity`, naming it.
 */
export function withServerDeadlines(
  deadlines: Deadlines | undefined,
): Readonly<Required<Deadlines>> {
  const d = SERVER_DEADLINES;
  return checkDeadlines({
    firstFrameTimeout: deadlines?.firstFrameTimeout ?? d.firstFrameTimeout,
    frameTimeout: deadlines?.frameTimeout ?? d.frameTimeout,
    requestTimeout: deadlines?.requestTimeout ?? d.requestTimeout,
  });
}

/** Deadlines {@linkcode checkDeadlines} made: a server's, shared by all its connections. */
const checkedDeadlines = new WeakSet<object>();

/**
 * `deadlines` checked, with `Infinity` where left out, frozen. A result given back is
 * returned as it is: a `Server` checks its deadlines once, not once per connection.
 *
 * @throws {RangeError} When a deadline is not 1 to 2147483647 ms or `Infinity`, naming it.
 */
export function checkDeadlines(deadlines: Deadlines): Readonly<Required<Deadlines>> {
  if (checkedDeadlines.has(deadlines)) return deadlines as Readonly<Required<Deadlines>>;
  const checked = Object.freeze({
    firstFrameTimeout: check("firstFrameTimeout", deadlines.firstFrameTimeout),
    frameTimeout: check("frameTimeout", deadlines.frameTimeout),
    requestTimeout: check("requestTimeout", deadlines.requestTimeout),
  });
  checkedDeadlines.add(checked);
  return checked;
}

/**
 * How long, after a deadline closed the connection gracefully, its last bytes (a frame from
 * `limitExceeded`, say) get to leave before the connection is aborted: 1 s. Once they are out,
 * a lingering close (`lingerTimeout`) waits for the peer's EOF on its own bound.
 */
export const DEADLINE_CLOSE_GRACE = 1000;

/** What the clock asks of its transport. */
export interface DeadlineClockHooks {
  /** Whether the application holds the connection still (paused, nothing left to write). */
  waitingOnApplication(): boolean;
  /**
   * A deadline ran out, before the framed layer's hook runs: the transport takes `error` as
   * its close reason now, so a `close()` or `abort()` from that hook ends with it too.
   */
  expiring?(error: DeadlineError): void;
  /** A deadline ran out: flush, then close with `error`. */
  close(error: DeadlineError): void;
  /** The close did not finish within the grace, or the framed layer's hook threw. */
  abort(error: Error): void;
}

/**
 * The clock's states:
 *
 * | state      | meaning                                         | next                    |
 * | ---------- | ----------------------------------------------- | ----------------------- |
 * | `detached` | no framed layer attached: no deadline runs      | `running` on `start()`  |
 * | `running`  | the deadlines run; progress moves them          | `closing`, `stopped`    |
 * | `closing`  | one ran out; the close has a grace to finish    | `stopped`               |
 * | `stopped`  | the connection is closed: nothing runs          | —                       |
 */
type ClockState = "detached" | "running" | "closing" | "stopped";

/**
 * The frame deadlines of one connection, kept by its transport and driven by the framed layer
 * on top: it calls {@linkcode DeadlineClock.start} once when it attaches and
 * {@linkcode DeadlineClock.progress} once per read. A protocol that never attaches is never
 * cut by them.
 *
 * - The first-frame deadline runs from `start()` until a read completes a frame.
 * - A frame's deadline runs from the read that brought its first byte. When a read completes
 *   frames and leaves part of the next, that part's deadline starts at this read. With no
 *   partial frame buffered, no frame deadline runs.
 * - While the application holds the connection still (reading paused, nothing left to write),
 *   the peer is not the one stalling: a check that finds it so restarts the running deadlines.
 * - When one runs out, the framed layer's `onExpired` hook is called (it may send a last frame
 *   to tell the peer why), then the transport closes gracefully with the
 *   {@linkcode DeadlineError}, and aborts if its flush takes over
 *   {@linkcode DEADLINE_CLOSE_GRACE} (a lingering close that follows has `lingerTimeout`).
 *
 * Cost: one timer, armed at most every `frameTimeout` ms while the connection lives, and a few
 * comparisons per read; nothing is allocated per read or frame.
 *
 * @example A frame that never completes
 * ```ts
 * import { DeadlineClock, type DeadlineError } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const { promise, resolve } = Promise.withResolvers<DeadlineError>();
 * const clock = new DeadlineClock({ frameTimeout: 50 }, {
 *   waitingOnApplication: () => false,
 *   close: resolve,
 *   abort: () => {},
 * });
 * clock.start();
 * clock.progress(false, true); // a read brought part of a frame
 * const error = await promise;
 * clock.stop();
 * assertEquals(error.limit, "frameTimeout");
 * ```
 */
export class DeadlineClock {
  /** The deadlines, each set (`Infinity` for none). */
  readonly deadlines: Readonly<Required<Deadlines>>;
  readonly #hooks: DeadlineClockHooks;
  readonly #clock: Clock;
  #state: ClockState = "detached";
  #onExpired: ((error: DeadlineError) => void) | undefined;
  /** When the first-frame deadline runs out; `Infinity` once a frame completed. */
  #firstDue = Infinity;
  /** When the buffered partial frame's deadline runs out; `Infinity` with none buffered. */
  #frameDue = Infinity;
  #handle: unknown;

  /**
   * Creates the clock, detached: no deadline runs until {@linkcode DeadlineClock.start}.
   *
   * @param deadlines The deadlines; left out or `Infinity`: none.
   * @param hooks The transport's state, and how it closes.
   * @param clock The clock and timers (the real ones by default).
   * @throws {RangeError} When a deadline is not 1 to 2147483647 ms or `Infinity`, naming it.
   */
  constructor(deadlines: Deadlines, hooks: DeadlineClockHooks, clock: Clock = realClock) {
    this.deadlines = checkDeadlines(deadlines);
    this.#hooks = hooks;
    this.#clock = clock;
  }

  /**
   * Attaches the framed layer: the first-frame deadline starts now. Called again (a second
   * framed layer taking over), it only replaces the hook.
   *
   * @param onExpired Called when a deadline runs out, before the connection closes; it may
   * write a last frame. If it throws, the connection is aborted with its error.
   */
  start(onExpired?: (error: DeadlineError) => void): void {
    this.#onExpired = onExpired;
    if (this.#state !== "detached") return;
    this.#state = "running";
    const now = this.#clock.now();
    this.#firstDue = now + this.deadlines.firstFrameTimeout;
    this.#arm(now);
  }

  /**
   * Reports one read's worth of decoding. Call it once per read, after decoding.
   *
   * @param completed Whether the read completed at least one frame.
   * @param partial Whether part of a frame is left buffered.
   */
  progress(completed: boolean, partial: boolean): void {
    if (this.#state !== "running") return;
    const frameTimeout = this.deadlines.frameTimeout;
    if (completed) {
      this.#firstDue = Infinity;
      this.#frameDue = partial && frameTimeout !== Infinity
        ? this.#clock.now() + frameTimeout
        : Infinity;
    } else if (!partial) {
      this.#frameDue = Infinity;
    } else if (this.#frameDue === Infinity && frameTimeout !== Infinity) {
      this.#frameDue = this.#clock.now() + frameTimeout;
    }
    // No timer to arm: #arm keeps the timer due within frameTimeout, before any new deadline.
  }

  /** The application let go of the connection (reading resumed): what runs starts again. */
  resumed(): void {
    if (this.#state !== "running") return;
    const now = this.#clock.now();
    if (this.#firstDue !== Infinity) this.#firstDue = now + this.deadlines.firstFrameTimeout;
    if (this.#frameDue !== Infinity) this.#frameDue = now + this.deadlines.frameTimeout;
  }

  /**
   * Reading stopped (a graceful close, or the peer's EOF): no frame of the peer's can complete
   * any more, so none is timed.
   */
  readingStopped(): void {
    if (this.#state === "running") this.stop();
  }

  /** Stops the clock for good (the connection closed). */
  stop(): void {
    this.#state = "stopped";
    this.#clear();
  }

  /**
   * Arms the timer for the next deadline, and never later than `frameTimeout` from now: a
   * frame that starts before it fires is due no earlier than that, so `progress()` never needs
   * to re-arm.
   */
  #arm(now: number): void {
    const due = Math.min(this.#firstDue, this.#frameDue);
    const delay = Math.min(due - now, this.deadlines.frameTimeout);
    if (delay === Infinity) return; // only a first frame was awaited, and it came
    this.#handle = this.#clock.set(this.#check, Math.max(0, delay));
  }

  #clear(): void {
    if (this.#handle === undefined) return;
    this.#clock.clear(this.#handle);
    this.#handle = undefined;
  }

  readonly #check = (): void => {
    this.#handle = undefined;
    if (this.#state !== "running") return;
    const now = this.#clock.now();
    const { firstFrameTimeout, frameTimeout } = this.deadlines;
    const waiting = this.#hooks.waitingOnApplication();
    if (this.#state as ClockState !== "running") return; // the hook closed the transport
    if (waiting) {
      // Not the peer's fault: what runs starts again.
      if (this.#firstDue !== Infinity) this.#firstDue = now + firstFrameTimeout;
      if (this.#frameDue !== Infinity) this.#frameDue = now + frameTimeout;
    } else if (this.#frameDue <= now) {
      this.#expire(new DeadlineError("frameTimeout", frameTimeout));
      return;
    } else if (this.#firstDue <= now) {
      this.#expire(new DeadlineError("firstFrameTimeout", firstFrameTimeout));
      return;
    }
    this.#arm(now);
  };

  #expire(error: DeadlineError): void {
    this.#state = "closing";
    this.#hooks.expiring?.(error);
    try {
      this.#onExpired?.(error);
    } catch (hookError) {
      this.#state = "stopped";
      this.#hooks.abort(hookError instanceof Error ? hookError : new Error(String(hookError)));
      return;
    }
    this.#hooks.close(error);
    if (this.#state !== "closing") return; // closed at once
    this.#handle = this.#clock.set(() => {
      this.#handle = undefined;
      if (this.#state !== "closing") return;
      this.#state = "stopped";
      this.#hooks.abort(error);
    }, DEADLINE_CLOSE_GRACE);
  }
}

function check(name: string, value: number | undefined): number {
  return value === undefined
    ? Infinity
    : checkDelay(`Cannot set deadlines: ${name}`, value, 1, true);
}
