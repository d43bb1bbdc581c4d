import { assertEquals, assertThrows } from "@std/assert";
import { IdleTimer } from "../../transport/_idle_timer.ts";
import { FakeClock } from "./_fake_clock.ts";

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

Deno.test("IdleTimer: a hook that stops the timer (its transport closed) leaves no timer armed", () => {
  const clock = new FakeClock();
  let expired = 0;
  const timers: IdleTimer[] = [];
  timers.push(
    new IdleTimer(100, {
      waitingOnApplication: () => {
        timers[0].stop();
        return true;
      },
      expired: () => expired++,
    }, clock),
  );
  clock.advance(100);
  assertEquals(expired, 0);
  assertEquals(clock.pending, 0, "stopped from the hook: nothing re-armed");
});
