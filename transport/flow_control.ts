/**
 * Write flow control: the buffered byte count and the watermark rules, in one place for every
 * transport.
 *
 * The rules are asyncio's, where they bite:
 *
 * | event                                   | effect                                    |
 * | --------------------------------------- | ----------------------------------------- |
 * | `add()` takes the size strictly over high | pause (the caller calls `pauseWriting()`) |
 * | `remove()` takes the size to low or below | resume (`resumeWriting()`)                |
 * | `setLimits()`                           | re-evaluates both at once                 |
 *
 * @module
 */

import type { WriteBufferLimits } from "./types.ts";

/** asyncio's default high watermark: 64 KiB. */
export const DEFAULT_HIGH_WATER = 64 * 1024;

/** What a change in the buffered size asks the transport to tell its protocol. */
export type FlowSignal = "pause" | "resume" | undefined;

/** Counts buffered bytes and decides when a protocol must pause or resume writing. */
export class WriteFlowControl {
  #size = 0;
  #high = DEFAULT_HIGH_WATER;
  #low = DEFAULT_HIGH_WATER / 4;
  #paused = false;

  constructor(limits?: Partial<WriteBufferLimits>) {
    if (limits) this.setLimits(limits);
  }

  /** Buffered bytes not yet written. */
  get size(): number {
    return this.#size;
  }

  /** Whether the protocol is currently paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /** The current watermarks. */
  get limits(): WriteBufferLimits {
    return { high: this.#high, low: this.#low };
  }

  /** Counts `n` more buffered bytes; says `"pause"` when the size first goes over high. */
  add(n: number): FlowSignal {
    this.#size += n;
    return this.#evaluate();
  }

  /** Counts `n` bytes as written; says `"resume"` when a paused size drains to low. */
  remove(n: number): FlowSignal {
    this.#size -= n;
    return this.#evaluate();
  }

  /** Forgets every buffered byte (on abort); never signals. */
  clear(): void {
    this.#size = 0;
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
