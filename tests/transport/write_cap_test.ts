/**
 * The hard cap on a transport's buffered writes (`maxWriteBuffer`) and a budget shared by many
 * transports (a server's `maxTotalWriteBuffer`): a peer that does not read costs a bounded
 * amount of memory, and the write that passes a limit is refused with a typed error.
 */

import { assertEquals, assertThrows } from "@std/assert";
import {
  createMemoryChannelPair,
  StreamTransport,
  TransportError,
  WriteBufferOverflowError,
} from "@plexus/net/transport";
import { Server } from "@plexus/net/endpoints";
import { ServerWriteBudget, withWriteBudget } from "../../endpoints/_write_budget.ts";
import { WriteFlowControl } from "../../transport/_flow_control.ts";
import { assert, assertInstanceOf } from "../_assert.ts";
import { BACKENDS, channelPair } from "../_net.ts";
import { Recorder } from "../_recorder.ts";

for (const backend of BACKENDS) {
  Deno.test(`${backend}: a write past maxWriteBuffer is refused and aborts with the error`, async () => {
    const pair = await channelPair(backend, 1024);
    const writer = new Recorder();
    const deaf = new Recorder();
    const wt = new StreamTransport(pair.server, writer, { maxWriteBuffer: 256 * 1024 });
    const dt = new StreamTransport(pair.client, deaf);
    dt.pauseReading(); // the peer never reads
    const chunk = new Uint8Array(64 * 1024);
    // Ignores pauseWriting, as a careless protocol does: four chunks fit in the cap.
    for (let i = 0; i < 4; i++) wt.write(chunk);
    assertEquals(wt.getWriteBufferSize(), 4 * 64 * 1024);
    wt.write(chunk); // refused: dropped, and the transport aborts with the error
    const error = await wt.closed as WriteBufferOverflowError;
    assertInstanceOf(error, WriteBufferOverflowError);
    assertEquals(
      error.message,
      "Write buffer 327680 bytes exceeds maxWriteBuffer 262144; the peer is not reading",
    );
    assertEquals([error.size, error.limit], [327680, 262144]);
    assertInstanceOf(error, TransportError);
    assert(wt.isClosing(), "aborted at once");
    assertEquals(wt.getWriteBufferSize(), 0, "the buffer is dropped");
    // Later writes are dropped without a word; isClosing() tells a loop to stop.
    wt.write(chunk);
    assertEquals(wt.getWriteBufferSize(), 0);
    assertEquals(writer.lostWith, error);
    assertEquals(writer.count("connectionLost"), 1);
    dt.abort();
    await dt.closed;
    await pair.cleanup();
  });
}

Deno.test("one write bigger than maxWriteBuffer is refused on an empty buffer", async () => {
  const [a, b] = createMemoryChannelPair();
  const writer = new Recorder();
  const wt = new StreamTransport(a, writer, { maxWriteBuffer: 1000 });
  const other = new StreamTransport(b, new Recorder());
  wt.write(new Uint8Array(1000)); // exactly the cap fits
  wt.write(new Uint8Array(1));
  const error = await wt.closed;
  assertInstanceOf(error, WriteBufferOverflowError);
  assert(error.message.startsWith("Write buffer "), error.message);
  await other.closed;

  const [c, d] = createMemoryChannelPair();
  const big = new StreamTransport(c, new Recorder(), { maxWriteBuffer: 1000 });
  const peer = new Recorder();
  const pt = new StreamTransport(d, peer);
  big.write(new Uint8Array(1001));
  const refused = await big.closed;
  assertInstanceOf(refused, WriteBufferOverflowError);
  assert(refused.message.includes("1001 bytes"), refused.message);
  await pt.closed;
  assertEquals(peer.received, 0, "nothing of the refused write was sent");
});

Deno.test("setMaxWriteBuffer: the new cap applies to the very next write, quiet or not", async () => {
  const [a, b] = createMemoryChannelPair();
  const writer = new Recorder();
  const wt = new StreamTransport(a, writer);
  const other = new StreamTransport(b, new Recorder());
  assertEquals(wt.getMaxWriteBuffer(), 64 * 1024 * 1024);
  assertThrows(() => wt.setMaxWriteBuffer(0), RangeError, "maxWriteBuffer");
  wt.write(new Uint8Array(100)); // checked: leaves a quiet room for the commits that follow
  wt.write(new Uint8Array(100)); // a quiet commit
  wt.setMaxWriteBuffer(250);
  assertEquals(wt.getMaxWriteBuffer(), 250);
  wt.write(new Uint8Array(50)); // exactly the cap
  assertEquals(wt.isClosing(), false);
  wt.write(new Uint8Array(1)); // inside the old room, past the new cap
  const error = await wt.closed;
  assertInstanceOf(error, WriteBufferOverflowError);
  assertEquals([error.size, error.limit], [251, 250]);
  await other.closed;
});

Deno.test("a protocol that honours pauseWriting never meets the cap", async () => {
  const [a, b] = createMemoryChannelPair({ capacity: 4096 });
  let paused = false;
  let written = 0;
  const total = 4 * 1024 * 1024;
  const chunk = new Uint8Array(16 * 1024);
  const done = Promise.withResolvers<void>();
  const pump = (t: StreamTransport): void => {
    while (!paused && written < total) {
      t.write(chunk);
      written += chunk.byteLength;
    }
    if (written >= total) done.resolve();
  };
  const writer = {
    dataReceived() {},
    pauseWriting: () => paused = true,
    resumeWriting: () => {
      paused = false;
      pump(wt);
    },
  };
  // It holds at most the high watermark plus the chunk being written (joined up to 1 MiB).
  const wt = new StreamTransport(a, writer, { maxWriteBuffer: 2 * 1024 * 1024 });
  const reader = new Recorder();
  const rt = new StreamTransport(b, reader);
  pump(wt);
  await done.promise;
  await reader.until(() => reader.received === total);
  wt.close();
  assertEquals(await wt.closed, undefined);
  await rt.closed;
});

Deno.test("maxWriteBuffer must be a number > 0", () => {
  const [a, b] = createMemoryChannelPair();
  for (const bad of [0, -1, NaN]) {
    assertThrows(
      () => new StreamTransport(a, new Recorder(), { maxWriteBuffer: bad }),
      RangeError,
      `Cannot set maxWriteBuffer: need a number > 0, got ${bad}`,
    );
  }
  a.close();
  b.close();
});

/** A transport whose peer never reads, sharing `budget`, holding `size` buffered bytes. */
function deafMember(budget: ServerWriteBudget, name: string, lost: Map<string, Error>) {
  const [a, b] = createMemoryChannelPair({ capacity: 1 });
  const recorder = new Recorder();
  // High watermark 0: every buffered byte counts against the budget.
  const transport = new StreamTransport(
    a,
    recorder,
    withWriteBudget({ writeBufferLimits: { high: 0 } }, budget),
  );
  const peer = new StreamTransport(b, new Recorder());
  peer.pauseReading();
  transport.closed.then((error) => lost.set(name, error!));
  return { transport, peer };
}

Deno.test("a budget across transports cuts the largest buffers first, until back within it", async () => {
  const budget = new ServerWriteBudget(1_000_000);
  const lost = new Map<string, Error>();
  const small = deafMember(budget, "small", lost);
  const large = deafMember(budget, "large", lost);
  const medium = deafMember(budget, "medium", lost);
  // Members are the transports holding bytes past their high watermarks: none yet.
  assertEquals(budget.size, 0);
  small.transport.write(new Uint8Array(100_000));
  large.transport.write(new Uint8Array(500_000));
  medium.transport.write(new Uint8Array(300_000));
  assertEquals([budget.total, budget.size], [900_000, 3]);
  // The small one's write passes the budget: the large one goes, the writer stays.
  small.transport.write(new Uint8Array(200_000));
  assert(large.transport.isClosing(), "the largest is cut");
  assert(!medium.transport.isClosing() && !small.transport.isClosing(), "the rest stay");
  assertEquals(budget.total, 600_000);
  assertEquals(budget.size, 2);
  // Passing it again by a lot cuts as many as needed, largest first: here the writer itself,
  // which aborts with the budget's error.
  small.transport.write(new Uint8Array(600_000));
  const error = await small.transport.closed as WriteBufferOverflowError;
  assertInstanceOf(error, WriteBufferOverflowError);
  assertEquals(
    error.message,
    "Write buffers of 2 connections hold 1200000 bytes past their high watermarks, over " +
      "maxTotalWriteBuffer 1000000; cut the largest, 900000 bytes: the peer is not reading",
  );
  assertEquals([error.size, error.limit], [1_200_000, 1_000_000]);
  assert(!medium.transport.isClosing(), "one cut was enough");
  assertEquals(budget.total, 300_000);
  medium.transport.abort();
  for (const m of [small, large, medium]) {
    m.peer.abort();
    await m.transport.closed;
    await m.peer.closed;
  }
  assertEquals(budget.total, 0);
  assertEquals(budget.size, 0);
  const largeError = lost.get("large");
  assertInstanceOf(largeError, WriteBufferOverflowError);
  assert(largeError.message.includes("cut the largest, 500000 bytes"), largeError.message);
  assertEquals(lost.get("small"), error);
  assertEquals(lost.get("medium"), undefined);
});

Deno.test("the budget counts only what members hold past their high watermarks", async () => {
  const budget = new ServerWriteBudget(100_000);
  const members = Array.from({ length: 20 }, () => {
    const [a, b] = createMemoryChannelPair({ capacity: 1 });
    const transport = new StreamTransport(a, new Recorder(), withWriteBudget({}, budget));
    const peer = new StreamTransport(b, new Recorder());
    peer.pauseReading();
    return { transport, peer };
  });
  // 20 well-behaved connections at their 64 KiB high watermark: 1.3 MB buffered, none cut.
  for (const { transport } of members) transport.write(new Uint8Array(64 * 1024));
  assertEquals(budget.total, 0);
  members[3].transport.write(new Uint8Array(60_000));
  assertEquals(budget.total, 60_000);
  members[3].transport.setWriteBufferLimits({ high: 100_000 });
  assertEquals(budget.total, 64 * 1024 + 60_000 - 100_000);
  // The writer now holds the most: its own write cuts it.
  members[7].transport.write(new Uint8Array(120_000));
  const cut = await members[7].transport.closed;
  assertInstanceOf(cut, WriteBufferOverflowError);
  assert(cut.message.includes("cut the largest, 185536 bytes"), cut.message);
  assert(members[7].transport.isClosing(), "the largest past the budget is cut");
  assert(members.every((m, i) => i === 7 || !m.transport.isClosing()), "the others stay");
  for (const { transport, peer } of members) {
    transport.abort();
    peer.abort();
    await transport.closed;
    await peer.closed;
  }
  assertEquals([budget.total, budget.size], [0, 0]);
});

Deno.test("a cut spares a larger buffer that is within its high watermark", async () => {
  const budget = new ServerWriteBudget(100_000);
  const deaf = (high: number) => {
    const [a, b] = createMemoryChannelPair({ capacity: 1 });
    const transport = new StreamTransport(
      a,
      new Recorder(),
      withWriteBudget({ writeBufferLimits: { high } }, budget),
    );
    const peer = new StreamTransport(b, new Recorder());
    peer.pauseReading();
    return { transport, peer };
  };
  // 900 000 bytes under a 1 MB watermark: nothing past it, so not a member; cutting it would
  // not bring the total down.
  const patient = deaf(1_000_000);
  const flooding = deaf(0);
  patient.transport.write(new Uint8Array(900_000));
  assertEquals([budget.total, budget.size], [0, 0]);
  flooding.transport.write(new Uint8Array(150_000));
  assertInstanceOf(await flooding.transport.closed, WriteBufferOverflowError);
  assert(!patient.transport.isClosing(), "the connection within its watermark stays");
  assertEquals([budget.total, budget.size], [0, 0]);
  for (const { transport, peer } of [patient, flooding]) {
    transport.abort();
    peer.abort();
    await transport.closed;
    await peer.closed;
  }
});

Deno.test("written bytes leave the budget as they drain", async () => {
  const budget = new ServerWriteBudget(10_000_000);
  const [a, b] = createMemoryChannelPair({ capacity: 4096 });
  const writer = new StreamTransport(
    a,
    new Recorder(),
    withWriteBudget({ writeBufferLimits: { high: 0 } }, budget),
  );
  const reader = new Recorder();
  const rt = new StreamTransport(b, reader);
  writer.write(new Uint8Array(1_000_000));
  assertEquals([budget.total, budget.size], [1_000_000, 1]);
  await reader.until(() => reader.received === 1_000_000);
  await writer.flushed();
  // Drained: no longer a member, before its transport ends.
  assertEquals([budget.total, budget.size], [0, 0]);
  writer.close();
  await writer.closed;
  await rt.closed;
  assertEquals(budget.size, 0);
});

Deno.test("a flow control with no owner to abort still leaves the budget when cut", () => {
  const budget = new ServerWriteBudget(10);
  const flow = new WriteFlowControl({ high: 0 }, { budget });
  flow.add(20);
  assertEquals(flow.enforceBudget() instanceof WriteBufferOverflowError, true);
  assertEquals([budget.total, budget.size, flow.size], [0, 0, 0]);
  assertThrows(() => new ServerWriteBudget(0), RangeError, "maxTotalWriteBuffer");
});

Deno.test("a Server with a bad maxTotalWriteBuffer fails when made, not per connection", () => {
  for (const bad of [0, -1, Number.NaN]) {
    assertThrows(
      () => new Server(() => new Recorder(), { maxTotalWriteBuffer: bad }),
      RangeError,
      "maxTotalWriteBuffer",
    );
  }
});

Deno.test("a budget member's quiet commits never add to the budget unseen", async () => {
  // Half of a 100-byte chunk is written: 50 bytes are still to write, all 100 still held. The
  // room under high for the unwritten bytes (50) is not room in the budget, which counts the
  // held bytes past high.
  const budget = new ServerWriteBudget(1_000_000);
  const [a, b] = createMemoryChannelPair({ capacity: 50 });
  const transport = new StreamTransport(
    a,
    new Recorder(),
    withWriteBudget({ writeBufferLimits: { high: 100, low: 10 } }, budget),
  );
  const peer = new StreamTransport(b, new Recorder());
  peer.pauseReading();
  transport.write(new Uint8Array(100));
  for (let turn = 0; turn < 20 && transport.getWriteBufferSize() !== 50; turn++) {
    await Promise.resolve(); // the first 50 bytes' write completes within a few microtasks
  }
  assertEquals(transport.getWriteBufferSize(), 50);
  transport.write(new Uint8Array(1));
  assertEquals(budget.total, 1);
  transport.write(new Uint8Array(49));
  assertEquals(budget.total, 50, "every held byte past high is counted");
  transport.abort();
  peer.abort();
  await transport.closed;
  await peer.closed;
  assertEquals(budget.total, 0);
});
