import { assertEquals, assertThrows } from "@std/assert";
import { type Clock, IdleTimer } from "../../transport/idle_timer.ts";

/** A clock that moves only when told, running due timers in order. */
class FakeClock implements Clock {
  time = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 0;
  now(): number {
    return this.time;
  }
  set(fn: () => void, ms: number): unknown {
    const id = this.#next++;
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
  get pending(): number {
    return this.#timers.length;
  }
}

function setup(
  timeout = 100,
): {
  clock: FakeClock;
  timer: IdleTimer;
  state: { paused: boolean; buffered: boolean; expiredAt?: number };
} {
  const clock = new FakeClock();
  const state: { paused: boolean; buffered: boolean; expiredAt?: number } = {
    paused: false,
    buffered: false,
  };
  const timer = new IdleTimer(timeout, {
    waitingOnApplication: () => state.paused && !state.buffered,
    expired: () => state.expiredAt = clock.now(),
  }, clock);
  return { clock, timer, state };
}

Deno.test("IdleTimer expires after the timeout without progress", () => {
  const { clock, state } = setup();
  clock.advance(99);
  assertEquals(state.expiredAt, undefined);
  clock.advance(1);
  assertEquals(state.expiredAt, 100);
  assertEquals(clock.pending, 0, "no timer left after expiry");
});

Deno.test("IdleTimer: progress starts the full timeout again", () => {
  const { clock, timer, state } = setup();
  clock.advance(80);
  timer.touch();
  clock.advance(99);
  assertEquals(state.expiredAt, undefined);
  clock.advance(1);
  assertEquals(state.expiredAt, 180);
});

Deno.test("IdleTimer: the clock stops while the application holds the connection", () => {
  const { clock, timer, state } = setup();
  state.paused = true;
  clock.advance(1000);
  assertEquals(state.expiredAt, undefined, "paused with nothing to write: not the peer's fault");
  state.paused = false;
  timer.touch(); // resumeReading() touches the clock
  clock.advance(99);
  assertEquals(state.expiredAt, undefined, "a full timeout after resuming, not at once");
  clock.advance(1);
  assertEquals(state.expiredAt, 1100);
});

Deno.test("IdleTimer: a peer that stops reading our data does not stop the clock", () => {
  const { clock, state } = setup();
  state.paused = true; // we paused reading because of backpressure...
  state.buffered = true; // ...and our data waits for the peer
  clock.advance(100);
  assertEquals(state.expiredAt, 100);
});

Deno.test("IdleTimer: stop() clears its timer; bad timeouts are refused", () => {
  const { clock, timer, state } = setup();
  timer.stop();
  assertEquals(clock.pending, 0);
  clock.advance(1000);
  assertEquals(state.expiredAt, undefined);
  for (const bad of [0, -1, NaN, 2 ** 31]) {
    assertThrows(
      () => new IdleTimer(bad, { waitingOnApplication: () => false, expired: () => {} }),
      RangeError,
      "idleTimeout",
    );
  }
});
