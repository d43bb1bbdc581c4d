/** A clock for timer tests: time moves only when told, running due timers in order. */

import type { Clock } from "../../transport/_idle_timer.ts";

/** A {@linkcode Clock} that moves only on `advance()`, and counts the timers it set. */
export class FakeClock implements Clock {
  time = 0;
  /** How many timers were ever set. */
  sets = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 0;
  now(): number {
    return this.time;
  }
  set(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.sets++;
    this.#timers.push({ at: this.time + ms, fn, id });
    return id;
  }
  clear(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const due = this.#timers[0];
      if (!due || due.at > end) break;
      this.#timers.shift();
      this.time = due.at;
      due.fn();
    }
    this.time = end;
  }
  /** Timers set and not yet run or cleared. */
  get pending(): number {
    return this.#timers.length;
  }
}
