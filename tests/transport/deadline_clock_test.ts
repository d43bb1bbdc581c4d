import { assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import {
  DEADLINE_CLOSE_GRACE,
  DeadlineClock,
  type Deadlines,
} from "../../transport/deadline_clock.ts";
import { DeadlineError } from "../../transport/errors.ts";
import { FakeClock } from "./_fake_clock.ts";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { bytes, text } from "../_shared.ts";

interface Probe {
  clock: FakeClock;
  deadlines: DeadlineClock;
  state: {
    paused: boolean;
    closedAt?: number;
    closedWith?: DeadlineError;
    abortedAt?: number;
    abortedWith?: Error;
    events: string[];
  };
}

/** A clock over a fake time, recording what it asks of its transport. */
function probe(deadlines: Deadlines, closeAtOnce = false): Probe {
  const clock = new FakeClock();
  const state: Probe["state"] = { paused: false, events: [] };
  const clockUnderTest: DeadlineClock = new DeadlineClock(deadlines, {
    waitingOnApplication: () => state.paused,
    close(error) {
      state.events.push("close");
      state.closedAt = clock.now();
      state.closedWith = error;
      if (closeAtOnce) clockUnderTest.stop(); // as a transport with nothing to flush does
    },
    abort(error) {
      state.events.push("abort");
      state.abortedAt = clock.now();
      state.abortedWith = error;
    },
  }, clock);
  return { clock, deadlines: clockUnderTest, state };
}

Deno.test("DeadlineClock runs nothing until a framed layer starts it", () => {
  const { clock, deadlines, state } = probe({ firstFrameTimeout: 100, frameTimeout: 100 });
  deadlines.progress(false, true); // ignored: detached
  clock.advance(10_000);
  assertEquals(clock.sets, 0, "no timer for a protocol that never attaches");
  assertEquals(state.closedAt, undefined);
});

Deno.test("DeadlineClock: firstFrameTimeout cuts a connection that completes no frame", () => {
  const { clock, deadlines, state } = probe({ firstFrameTimeout: 300, frameTimeout: 100 });
  deadlines.start();
  clock.advance(299);
  assertEquals(state.closedAt, undefined);
  clock.advance(1);
  assertEquals(state.closedAt, 300);
  assertEquals(state.closedWith?.limit, "firstFrameTimeout");
  assertEquals(
    state.closedWith?.message,
    "No complete frame 300 ms after connecting (firstFrameTimeout)",
  );
});

Deno.test("DeadlineClock: a completed frame ends the first-frame deadline", () => {
  const { clock, deadlines, state } = probe({ firstFrameTimeout: 300 });
  deadlines.start();
  clock.advance(200);
  deadlines.progress(true, false);
  clock.advance(100_000);
  assertEquals(state.closedAt, undefined);
  assertEquals(clock.pending, 0, "nothing left to watch: no timer");
});

Deno.test("DeadlineClock: a trickled frame is cut frameTimeout after its first byte", () => {
  const { clock, deadlines, state } = probe({ frameTimeout: 1000 });
  deadlines.start();
  clock.advance(500);
  deadlines.progress(false, true); // first byte at 500
  for (let i = 0; i < 9; i++) {
    clock.advance(100);
    deadlines.progress(false, true); // one more byte, still no frame: no reset
  }
  assertEquals(state.closedAt, undefined);
  clock.advance(100);
  assertEquals(state.closedAt, 1500);
  assertEquals(state.closedWith?.limit, "frameTimeout");
  assertEquals(state.closedWith?.timeout, 1000);
});

Deno.test("DeadlineClock: a partial tail after complete frames starts its clock at that read", () => {
  const { clock, deadlines, state } = probe({ frameTimeout: 1000 });
  deadlines.start();
  deadlines.progress(false, true); // frame 1 begins at 0
  clock.advance(900);
  deadlines.progress(true, true); // frame 1 done at 900, frame 2 begun
  clock.advance(999);
  assertEquals(state.closedAt, undefined, "frame 2 is only 999 ms old");
  clock.advance(1);
  assertEquals(state.closedAt, 1900);
});

Deno.test("DeadlineClock: no partial frame buffered, no frame deadline", () => {
  const { clock, deadlines, state } = probe({ frameTimeout: 100 });
  deadlines.start();
  deadlines.progress(false, true);
  clock.advance(50);
  deadlines.progress(true, false); // done, nothing left
  clock.advance(10_000); // silence between frames is idleTimeout's business
  assertEquals(state.closedAt, undefined);
  deadlines.progress(false, true);
  clock.advance(100);
  assertEquals(state.closedAt, 10_150);
});

Deno.test("DeadlineClock sets no timer per read or frame", () => {
  const { clock, deadlines, state } = probe({ firstFrameTimeout: 5000, frameTimeout: 1000 });
  deadlines.start();
  for (let i = 0; i < 10_000; i++) {
    clock.advance(3);
    deadlines.progress(i % 3 === 0, i % 2 === 0);
  }
  assertEquals(state.closedAt, undefined);
  // 30 s of traffic: the timer fired about once per frameTimeout, never per read.
  assertEquals(clock.sets <= 31 + 1, true, `${clock.sets} timers set`);
});

Deno.test("DeadlineClock: the deadlines wait while the application holds the connection", () => {
  const { clock, deadlines, state } = probe({ firstFrameTimeout: 100, frameTimeout: 100 });
  deadlines.start();
  deadlines.progress(false, true);
  state.paused = true;
  clock.advance(10_000);
  assertEquals(state.closedAt, undefined, "paused by us: not the peer's fault");
  state.paused = false;
  clock.advance(200);
  assertEquals(state.closedWith?.limit, "frameTimeout");
});

Deno.test("DeadlineClock calls the framed layer's hook, then closes, then aborts after the grace", () => {
  const { clock, deadlines, state } = probe({ frameTimeout: 100 });
  deadlines.start((error) => state.events.push(`hook ${error.limit}`));
  deadlines.progress(false, true);
  clock.advance(100);
  assertEquals(state.events, ["hook frameTimeout", "close"]);
  clock.advance(DEADLINE_CLOSE_GRACE - 1);
  assertEquals(state.abortedAt, undefined);
  clock.advance(1);
  assertEquals(state.events, ["hook frameTimeout", "close", "abort"]);
  assertInstanceOf(state.abortedWith, DeadlineError);
  assertEquals(clock.pending, 0);
});

Deno.test("DeadlineClock: no abort when the close finishes in time", () => {
  const { clock, deadlines, state } = probe({ frameTimeout: 100 }, true);
  deadlines.start();
  deadlines.progress(false, true);
  clock.advance(100 + DEADLINE_CLOSE_GRACE * 2);
  assertEquals(state.events, ["close"]);
  assertEquals(clock.pending, 0);
});

Deno.test("DeadlineClock: a hook that throws aborts with its error", () => {
  const { clock, deadlines, state } = probe({ firstFrameTimeout: 100 });
  const boom = new Error("boom");
  deadlines.start(() => {
    throw boom;
  });
  clock.advance(100);
  assertEquals(state.events, ["abort"]);
  assertEquals(state.abortedWith, boom);
});

Deno.test("DeadlineClock checks its deadlines, naming the bad one", () => {
  const hooks = { waitingOnApplication: () => false, close() {}, abort() {} };
  for (const bad of [0, -1, NaN, 2 ** 31]) {
    assertThrows(
      () => new DeadlineClock({ frameTimeout: bad }, hooks),
      RangeError,
      `Cannot set deadlines: frameTimeout must be a number of milliseconds from 1 to 2147483647 (or Infinity for none), got ${bad}`,
    );
  }
  const clock = new DeadlineClock({ firstFrameTimeout: Infinity, requestTimeout: 5 }, hooks);
  assertEquals(clock.deadlines, {
    firstFrameTimeout: Infinity,
    frameTimeout: Infinity,
    requestTimeout: 5,
  });
});

// ---- Over transports: the framed layers attach and report -------------------------------------

Deno.test("a stalled frame closes the transport, after limitExceeded tells the peer why", async () => {
  const events: string[] = [];
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived: (line, framed) => framed.sendFrame(line),
    limitExceeded(error, framed) {
      events.push(`limitExceeded ${error.limit}`);
      framed.sendFrame(bytes(`ERR ${error.message}`));
    },
  });
  let got = "";
  const [serverTransport, client] = createMemoryTransportPair(server, {
    dataReceived: (data) => got += text(data),
  }, { transport: { deadlines: { frameTimeout: 150 } } });
  client.write(bytes("ping\r\npar")); // one line, then part of one that never ends
  const error = await server.closed;
  assertInstanceOf(error, DeadlineError);
  assertEquals((error as DeadlineError).limit, "frameTimeout");
  assertEquals(await serverTransport.closed, error);
  assertEquals(await client.closed, undefined, "the client sees an orderly end");
  assertEquals(events, ["limitExceeded frameTimeout"]);
  assertEquals(got, "ping\r\nERR Frame incomplete 150 ms after its first byte (frameTimeout)\r\n");
});

Deno.test("a plain Protocol is never cut by the frame deadlines; a framed one is", async () => {
  const deadlines = { firstFrameTimeout: 100, frameTimeout: 100 };
  const plain = createMemoryTransportPair({ dataReceived() {} }, { dataReceived() {} }, {
    transport: { deadlines },
  });
  const framed = new FramedProtocol(new LineFramer(), { frameReceived() {} });
  const [, silent] = createMemoryTransportPair(framed, { dataReceived() {} }, {
    transport: { deadlines },
  });
  const error = await framed.closed; // started after the plain pair, so it is older still
  assertEquals((error as DeadlineError).limit, "firstFrameTimeout");
  assertEquals(plain[0].isClosing() || plain[1].isClosing(), false);
  await silent.closed;
  for (const t of plain) t.close();
  await Promise.all(plain.map((t) => t.closed));
});
