/**
 * Write flow control: the buffered byte count, the watermark rules and the caps, in one place
 * for every transport.
 *
 * The rules are asyncio's, where they bite, plus a hard cap that asyncio, Node and Netty lack:
 *
 * | event                                            | effect                                     |
 * | ------------------------------------------------ | ------------------------------------------ |
 * | `add()` takes the size strictly over high        | pause (the caller calls `pauseWriting()`)  |
 * | `remove()` takes the size to low or below        | resume (`resumeWriting()`)                 |
 * | `setLimits()`                                    | re-evaluates both at once                  |
 * | `refuse(n)`: size + n would pass `maxWriteBuffer` | the write is refused with a typed error    |
 * | `setMaxWriteBuffer()`                             | the new cap applies from the next write     |
 * | `add()` takes a shared budget's total over its limit | `enforceBudget()` cuts the largest members |
 * | `addQuiet(n)` within the last `quietRoom()`       | counted only: none of the above can follow  |
 *
 * A protocol that honours `pauseWriting()` stays near the high watermark and never meets the
 * cap; one that ignores it (or a peer that never reads what a protocol must answer) is cut off
 * there instead of growing without bound.
 *
 * @module
 */

import { WriteBufferOverflowError } from "./errors.ts";
import type { WriteBufferLimits } from "./types.ts";
import type { Counters } from "./_stats.ts";

/** asyncio's default high watermark: 64 KiB. */
export const DEFAULT_HIGH_WATER = 64 * 1024;

/**
 * The default cap on a transport's buffered writes: 64 MiB, a thousand times the high
 * watermark. A protocol that honours `pauseWriting()` never comes near it, and one write of a
 * large message (up to 64 MiB) still goes through; a protocol that ignores `pauseWriting()`
 * costs at most this much per connection instead of growing without bound. Servers use a
 * tighter default per connection plus a budget across all of them.
 */
export const DEFAULT_MAX_WRITE_BUFFER = 64 * 1024 * 1024;

/** What a change in the buffered size asks the transport to tell its protocol. */
export type FlowSignal = "pause" | "resume" | undefined;

/** The protocol side of a flow signal: its optional write-flow callbacks. */
export interface WriteFlowListener {
  pauseWriting?(): void;
  resumeWriting?(): void;
}

/**
 * Tells `protocol` of a flow signal (nothing for `undefined`) and counts the pause in
 * `counters`; what the callback throws goes to `fail`. Every transport signals this way.
 */
export function deliverFlowSignal(
  signal: FlowSignal,
  counters: Counters,
  protocol: WriteFlowListener,
  fail: (error: unknown) => void,
): void {
  if (signal === undefined) return;
  try {
    if (signal === "pause") {
      counters.pausedWriting();
      protocol.pauseWriting?.();
    } else {
      counters.resumedWriting();
      protocol.resumeWriting?.();
    }
  } catch (error) {
    fail(error);
  }
}

/**
 * A byte budget shared by the write buffers of many transports (a server's connections).
 * It counts what each member holds past its high watermark: a protocol that honours
 * `pauseWriting()` costs it (almost) nothing however many connections there are, while
 * protocols that keep writing to peers that do not read share it. Members add to and subtract
 * from `total` directly (a plain number: a few arithmetic operations per write); when `total`
 * passes `limit`, `cut()` aborts members, the largest buffers first, until it is back within
 * the limit.
 *
 * Only a transport that holds bytes past its high watermark is a member (it joins as it passes
 * the watermark and leaves as it drains back under it): only such a member adds to `total`,
 * so only its cut brings `total` down, and a connection within its watermark is never cut for
 * what others hold. A connection that never passes its watermark, nearly every one, costs the
 * budget nothing when it opens or closes.
 */
export interface WriteBudget {
  /** The bytes every member holds past its high watermark, together. */
  total: number;
  /** The most bytes `total` may hold. */
  readonly limit: number;
  /** Adds a member: its held bytes went past its high watermark. */
  join(member: WriteFlowControl): void;
  /** Removes a member: its held bytes are back at or under its high watermark, or it ended. */
  leave(member: WriteFlowControl): void;
  /** Cuts members, largest write buffer first, until `total <= limit`. */
  cut(): void;
}

/** Where a transport passes a shared {@linkcode WriteBudget}: a key its options may carry. */
export const WRITE_BUDGET: unique symbol = Symbol("plexus.writeBudget");

/** Transport options that may carry a shared budget under {@linkcode WRITE_BUDGET}. */
export interface BudgetOption {
  /** The budget to join. */
  [WRITE_BUDGET]?: WriteBudget;
}

/** The caps of a {@linkcode WriteFlowControl}. */
export interface WriteCapOptions {
  /** The most bytes buffered at once (`Infinity`: no cap). */
  maxWriteBuffer?: number;
  /** A budget shared with other transports. */
  budget?: WriteBudget;
  /** Aborts the owning transport when a budget cuts it. */
  abort?: (error: Error) => void;
}

/** Counts buffered bytes and decides when a protocol must pause or resume writing. */
export class WriteFlowControl {
  /** Bytes not yet written: what the watermarks and `getWriteBufferSize()` go by. */
  #size = 0;
  /**
   * Bytes held in memory for writing: the unwritten ones plus the written part of the chunk
   * being written, which stays alive until all of it is. What the cap and the budget go by.
   */
  #held = 0;
  /** What this member adds to its budget's total: the held bytes past the high watermark. */
  #excess = 0;
  #high = DEFAULT_HIGH_WATER;
  #low = DEFAULT_HIGH_WATER / 4;
  #paused = false;
  #max: number;
  readonly #budget: WriteBudget | undefined;
  readonly #abort: ((error: Error) => void) | undefined;
  #cutError: Error | undefined;

  constructor(limits?: Partial<WriteBufferLimits>, caps: WriteCapOptions = {}) {
    if (limits) this.setLimits(limits);
    this.#max = checkedCap(caps.maxWriteBuffer ?? DEFAULT_MAX_WRITE_BUFFER);
    this.#budget = caps.budget;
    this.#abort = caps.abort;
  }

  /** Buffered bytes not yet written. */
  get size(): number {
    return this.#size;
  }

  /** Bytes held in memory for writing (unwritten, plus the written part of the chunk in flight). */
  get held(): number {
    return this.#held;
  }

  /** Whether the protocol is currently paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /** The current watermarks. */
  get limits(): WriteBufferLimits {
    return { high: this.#high, low: this.#low };
  }

  /** The cap on buffered bytes. */
  get maxWriteBuffer(): number {
    return this.#max;
  }

  /**
   * Sets the cap; it applies from the next `fits()` or `refuse()` (bytes already held are not
   * cut for it). The caller ends any quiet room it was given.
   *
   * @throws {RangeError} When `max` is not a number > 0.
   */
  setMaxWriteBuffer(max: number): void {
    this.#max = checkedCap(max);
  }

  /** Whether `n` more bytes fit under the cap. */
  fits(n: number): boolean {
    return this.#held + n <= this.#max;
  }

  /** Whether this member shares a budget (then call `enforceBudget()` after each `add()`). */
  get budgeted(): boolean {
    return this.#budget !== undefined;
  }

  /**
   * Says whether `n` more bytes would pass the cap: the error to abort with, or `undefined`
   * when they fit. Counts nothing.
   */
  refuse(n: number): WriteBufferOverflowError | undefined {
    const size = this.#held + n;
    if (size <= this.#max) return undefined;
    return new WriteBufferOverflowError(
      `Write buffer ${size} bytes exceeds maxWriteBuffer ${this.#max}; the peer is not reading`,
      { size, limit: this.#max },
    );
  }

  /** Counts `n` more buffered bytes; says `"pause"` when the size first goes over high. */
  add(n: number): FlowSignal {
    this.#size += n;
    this.#held += n;
    if (this.#budget) this.#account(this.#budget);
    return this.#evaluate();
  }

  /**
   * Counts `n` bytes as written and no longer held (whole chunks: datagrams); says
   * `"resume"` when a paused size drains to low.
   */
  remove(n: number): FlowSignal {
    this.#size -= n;
    this.#held -= n;
    if (this.#budget) this.#account(this.#budget);
    return this.#evaluate();
  }

  /**
   * How many more bytes {@linkcode WriteFlowControl.addQuiet} may count from now on: those that
   * keep the held bytes at or under the cap and, unless paused, the size at or under the high
   * watermark, so that no signal or refusal can follow (while paused, adding bytes cannot
   * signal: only a drain to the low watermark resumes, and the caller ends the room then). In a
   * budget, also the held bytes at or under the high watermark: such bytes add nothing to the
   * budget's total, so no cut can follow either.
   */
  quietRoom(): number {
    let room = this.#max - this.#held;
    if (!this.#paused) room = Math.min(room, this.#high - this.#size);
    if (this.#budget !== undefined) room = Math.min(room, this.#high - this.#held);
    return room > 0 ? room : 0;
  }

  /**
   * Counts `n` more buffered bytes; all of them since the last {@linkcode WriteFlowControl.quietRoom}
   * fit what it said, with no `add()` or `setLimits()` since.
   */
  addQuiet(n: number): void {
    this.#size += n;
    this.#held += n;
  }

  /**
   * Counts `n` bytes of a chunk as written; they stay held until {@linkcode release} of the
   * whole chunk. Says `"resume"` when a paused size drains to low.
   */
  written(n: number): FlowSignal {
    this.#size -= n;
    return this.#evaluate();
  }

  /** Counts a chunk of `n` bytes, all of it `written()`, as no longer held in memory. */
  release(n: number): void {
    this.#held -= n;
    if (this.#budget) this.#account(this.#budget);
  }

  /**
   * Brings the budget's total up to date with this member's excess over the high watermark;
   * joins the budget as the excess appears and leaves it as the excess goes.
   */
  #account(budget: WriteBudget): void {
    const excess = this.#held > this.#high ? this.#held - this.#high : 0;
    const before = this.#excess;
    if (excess === before) return;
    budget.total += excess - before;
    this.#excess = excess;
    if (before === 0) budget.join(this);
    else if (excess === 0) budget.leave(this);
  }

  /**
   * After an `add()`: when the shared budget is over its limit, cuts its largest members.
   * Returns the error this member was cut with, if it was one of them.
   */
  enforceBudget(): Error | undefined {
    const budget = this.#budget;
    if (budget === undefined || budget.total <= budget.limit) return undefined;
    budget.cut();
    return this.#cutError;
  }

  /** Called by the budget: aborts the owning transport with `error`. */
  cut(error: Error): void {
    this.#cutError = error;
    if (this.#abort) this.#abort(error);
    else this.clear();
  }

  /**
   * Forgets every buffered byte and a pause, and leaves the budget (on abort); never signals,
   * and a later `setLimits()` finds nothing to resume (no `resumeWriting()` after the end).
   */
  clear(): void {
    this.#size = 0;
    this.#held = 0;
    this.#paused = false;
    if (this.#budget) this.#account(this.#budget);
  }

  /** Sets the watermarks (asyncio's defaulting rule) and re-evaluates. */
  setLimits(limits: Partial<WriteBufferLimits> = {}): FlowSignal {
    let { high, low } = limits;
    if (high === undefined) high = low === undefined ? DEFAULT_HIGH_WATER : low * 4;
    if (low === undefined) low = Math.floor(high / 4);
    if (!(high >= low && low >= 0)) {
      throw new RangeError(
        `Cannot set write buffer limits: need high >= low >= 0, got high ${high}, low ${low}`,
      );
    }
    this.#high = high;
    this.#low = low;
    if (this.#budget) this.#account(this.#budget);
    return this.#evaluate();
  }

  #evaluate(): FlowSignal {
    if (!this.#paused && this.#size > this.#high) {
      this.#paused = true;
      return "pause";
    }
    if (this.#paused && this.#size <= this.#low) {
      this.#paused = false;
      return "resume";
    }
    return undefined;
  }
}

function checkedCap(max: number): number {
  if (!(max > 0)) {
    throw new RangeError(`Cannot set maxWriteBuffer: need a number > 0, got ${max}`);
  }
  return max;
}
