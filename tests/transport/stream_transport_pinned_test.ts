/**
 * Edges of the stream transport's pieces that no other test pinned (found by a mutation
 * audit): the read slab's boundaries, the flow control's cap at exactly the limit, the close
 * reason only once finished, and the first error a transport was lost with.
 */

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  type BufferedProtocol,
  type ByteChannel,
  createMemoryChannelPair,
  StreamTransport,
  TransportError,
} from "@plexus/net/transport";
import { ReadSlab } from "../../transport/_read_slab.ts";
import { WriteFlowControl } from "../../transport/_flow_control.ts";
import { Recorder } from "../_recorder.ts";
import { FakeClock } from "./_fake_clock.ts";

Deno.test("read slab: a tail of exactly half a read is read into", () => {
  const slab = new ReadSlab(false);
  const first = slab.target(1024);
  slab.took(512);
  const tail = slab.target(1024);
  assertEquals(tail.buffer, first.buffer, "the 512-byte tail is half a read: read into");
  assertEquals(tail.byteLength, 512);
});

Deno.test("read slab: with 1-byte reads, a used-up slab is replaced, never an empty target", () => {
  const slab = new ReadSlab(false);
  for (let i = 0; i < 3; i++) {
    const target = slab.target(1);
    assertEquals(target.byteLength, 1);
    slab.took(1);
  }
});

Deno.test("read slab: a slab exactly four reads large is kept; reuse follows the read size down", () => {
  const slab = new ReadSlab(false);
  const big = slab.target(4096);
  slab.took(10);
  const next = slab.target(1024);
  assertEquals(next.buffer, big.buffer, "4 KiB is not more than four 1 KiB reads");

  const reused = new ReadSlab(true);
  assertEquals(reused.target(2048).byteLength, 2048);
  assertEquals(reused.target(1024).byteLength, 1024, "a smaller read size gets a smaller buffer");
});

Deno.test("flow control: refuse() lets bytes up to exactly the cap through", () => {
  const flow = new WriteFlowControl(undefined, { maxWriteBuffer: 100 });
  assertEquals(flow.refuse(100), undefined);
  assertEquals(flow.refuse(101)?.limit, 100);
  flow.add(60);
  assertEquals(flow.refuse(40), undefined);
  assertEquals(flow.refuse(41)?.size, 101);
});

Deno.test("stats(): no close reason while a close still flushes; 'close' once it ended", async () => {
  const [a, b] = createMemoryChannelPair({ capacity: 16 });
  const writer = new Recorder();
  const reader = new Recorder({ onConnect: (t) => t.pauseReading() });
  const wt = new StreamTransport(a, writer);
  const rt = new StreamTransport(b, reader);
  wt.write(new Uint8Array(100)); // more than the channel holds: the flush waits on the reader
  wt.close();
  assertEquals(wt.isClosing(), true);
  assertEquals(wt.stats().closeReason, undefined, "closing, not ended");
  assertEquals(wt.stats().closedAt, undefined);
  rt.resumeReading();
  assertEquals(await wt.closed, undefined);
  assertEquals(wt.stats().closeReason, "close");
  await rt.closed;
  assertEquals(reader.received, 100);
});

Deno.test("a callback that aborts with an error and then throws: connectionLost gets the first", async () => {
  const [a, b] = createMemoryChannelPair();
  const first = new Error("first");
  const protocol = new Recorder({
    onData: (_data, r) => {
      r.transport.abort(first);
      throw new Error("second");
    },
  });
  const t = new StreamTransport(a, protocol);
  const peer = new StreamTransport(b, new Recorder());
  peer.write(new Uint8Array([1]));
  assertEquals(await t.closed, first);
  assertEquals(protocol.lostWith, first);
  assertEquals(protocol.count("connectionLost"), 1);
  await peer.closed;
});

Deno.test("flow control: remove() (a datagram sent) frees its bytes under the cap too", () => {
  const flow = new WriteFlowControl(undefined, { maxWriteBuffer: 100 });
  flow.add(60);
  flow.remove(60);
  assertEquals([flow.size, flow.held], [0, 0]);
  assertEquals(flow.refuse(100), undefined);
});

Deno.test("write() on a closed transport drops what an encoder appended to out", async () => {
  const [a, b] = createMemoryChannelPair();
  const t = new StreamTransport(a, new Recorder());
  const peer = new StreamTransport(b, new Recorder());
  t.close();
  t.out.write(new Uint8Array(10)); // an encoder's bytes, never committed
  t.write(new Uint8Array(1));
  assertEquals(t.out.length, 0);
  await Promise.all([t.closed, peer.closed]);
});

Deno.test("a read that fails while close() flushes does not abort the close", async () => {
  const [inner, b] = createMemoryChannelPair({ capacity: 16 });
  let failRead: ((error: Error) => void) | undefined;
  const channel: ByteChannel = {
    read: (p) =>
      new Promise((resolve, reject) => {
        failRead = reject;
        inner.read(p).then(resolve, reject);
      }),
    write: (p) => inner.write(p),
    closeWrite: () => inner.closeWrite(),
    close: () => inner.close(),
  };
  const writer = new Recorder();
  const reader = new Recorder({ onConnect: (t) => t.pauseReading() });
  const wt = new StreamTransport(channel, writer);
  const rt = new StreamTransport(b, reader);
  wt.write(new Uint8Array(100)); // the flush waits on the reader
  wt.close(); // reading stops; the read in flight is left to the channel's close
  failRead!(new Deno.errors.ConnectionReset("reset"));
  rt.resumeReading();
  assertEquals(await wt.closed, undefined, "the close flushed and ended in order");
  assertEquals(wt.stats().closeReason, "close");
  await rt.closed;
  assertEquals(reader.received, 100);
});

/** Runs `fn` with setTimeout, clearTimeout and performance.now driven by a fake clock. */
async function withFakeTime(fn: (clock: FakeClock) => Promise<void>): Promise<void> {
  const clock = new FakeClock();
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  const { setTimeout, clearTimeout } = g;
  const now = performance.now;
  g.setTimeout = (fn: () => void, ms: number) => clock.set(fn, ms);
  g.clearTimeout = (handle: unknown) => clock.clear(handle);
  performance.now = () => clock.now();
  try {
    await fn(clock);
  } finally {
    g.setTimeout = setTimeout;
    g.clearTimeout = clearTimeout;
    performance.now = now;
  }
}

Deno.test("idleTimeout: time spent with reading paused does not count once reading resumes", async () => {
  await withFakeTime(async (clock) => {
    const [a, b] = createMemoryChannelPair();
    const protocol = new Recorder();
    const t = new StreamTransport(a, protocol, { idleTimeout: 100 });
    const peer = new StreamTransport(b, new Recorder());
    t.pauseReading();
    clock.advance(90);
    t.resumeReading(); // the idle clock starts again from here
    clock.advance(99); // the first check (at 100) finds 10 ms idle
    assertEquals(t.isClosing(), false, "only 99 ms idle since resuming");
    clock.advance(1);
    assertEquals(t.isClosing(), true);
    const error = await t.closed;
    assertEquals(error instanceof TransportError && error.message, "Connection idle for 100 ms");
    await peer.closed;
    assertEquals(clock.pending, 0);
  });
});

Deno.test("writeEof() while wrapChannel() waits for earlier bytes half-closes the new channel", async () => {
  const [a, b] = createMemoryChannelPair({ capacity: 16 });
  const reader = new Recorder({ onConnect: (t) => t.pauseReading() });
  const rt = new StreamTransport(b, reader);
  const wt = new StreamTransport(a, new Recorder({ onConnect: (t) => t.pauseReading() }));
  wt.write(new Uint8Array(100)); // leaves on the old channel first; waits on the reader
  let wrapperEofs = 0;
  const upgraded = wt.wrapChannel((inner) => ({
    read: (p) => inner.read(p),
    write: (p) => inner.write(p),
    closeWrite: () => {
      wrapperEofs++;
      return inner.closeWrite();
    },
    close: () => inner.close(),
  }));
  wt.writeEof(); // during the upgrade: waits for the new channel
  rt.resumeReading();
  await upgraded;
  await wt.flushed();
  assertEquals(wrapperEofs, 1, "the EOF went through the new channel");
  await reader.untilEvent("eof");
  assertEquals(reader.received, 100);
  wt.close();
  await Promise.all([wt.closed, rt.closed]);
});

Deno.test("flushed() rejects after an abort that dropped one unwritten byte or an unsent EOF", async () => {
  for (const end of ["byte", "eof"]) {
    const [a, b] = createMemoryChannelPair();
    const t = new StreamTransport(a, new Recorder());
    const peer = new StreamTransport(b, new Recorder());
    if (end === "byte") t.write(new Uint8Array(1));
    else t.writeEof();
    t.abort(); // before the flush's first step
    await assertRejects(() => t.flushed(), TransportError, "aborted with data buffered");
    await peer.closed;
  }
});

Deno.test("close() with writes to flush stops reading at once", async () => {
  const [a, b] = createMemoryChannelPair({ capacity: 16 });
  const writer = new Recorder();
  const reader = new Recorder({ onConnect: (t) => t.pauseReading() });
  const wt = new StreamTransport(a, writer);
  const rt = new StreamTransport(b, reader);
  wt.write(new Uint8Array(100));
  wt.close();
  assertEquals(wt.isReading(), false);
  rt.write(new Uint8Array([1, 2, 3])); // arrives while the close still flushes: not delivered
  rt.resumeReading();
  await Promise.all([wt.closed, rt.closed]);
  assertEquals(writer.count("data"), 0);
});

Deno.test("after the peer's EOF kept open by eofReceived(), an upgrade is refused as half-closed", async () => {
  const [a, b] = createMemoryChannelPair();
  const protocol = new Recorder({ keepOpenOnEof: true });
  const t = new StreamTransport(a, protocol);
  const peer = new StreamTransport(b, new Recorder({ keepOpenOnEof: true }));
  peer.writeEof();
  await protocol.untilEvent("eof");
  assertThrows(() => t.wrapChannel((c) => c), TransportError, "half-closed");
  t.close();
  await Promise.all([t.closed, peer.closed]);
});

Deno.test("a BufferedProtocol whose getBuffer() returns an empty buffer fails the transport", async () => {
  const [a, b] = createMemoryChannelPair();
  const lost: (Error | undefined)[] = [];
  const protocol: BufferedProtocol = {
    getBuffer: () => new Uint8Array(0),
    bufferUpdated() {},
    connectionLost: (e) => lost.push(e),
  };
  const t = new StreamTransport(a, protocol);
  const peer = new StreamTransport(b, new Recorder());
  const error = await t.closed;
  assertEquals(
    error instanceof RangeError && error.message,
    "getBuffer() returned an empty buffer",
  );
  assertEquals(lost, [error]);
  await peer.closed;
});

Deno.test("flushed() during a wrapChannel() waits for it, and a close() there lets it go", async () => {
  const [a, b] = createMemoryChannelPair();
  const peer = new Recorder();
  const pt = new StreamTransport(b, peer);
  const t = new StreamTransport(a, new Recorder({ onConnect: (tr) => tr.pauseReading() }));
  let wrapperWrites = 0;
  const upgraded = t.wrapChannel(async (inner) => {
    await new Promise((resolve) => setTimeout(resolve, 0)); // a wrap slower than a microtask
    return {
      read: (p) => inner.read(p),
      write: (p) => {
        wrapperWrites++;
        return inner.write(p);
      },
      closeWrite: () => inner.closeWrite(),
      close: () => inner.close(),
    };
  });
  t.write(new Uint8Array([7])); // held for the new channel
  await t.flushed();
  assertEquals(wrapperWrites, 1, "flushed() resolved once the held byte left on the new channel");
  await upgraded;

  // A wrap that never ends: close() gives it up, and a flushed() waiting on it goes on.
  const stuck = t.wrapChannel(() => new Promise<ByteChannel>(() => {}));
  const waiting = t.flushed();
  t.close();
  await waiting;
  await assertRejects(() => stuck, TransportError);
  await Promise.all([t.closed, pt.closed]);
  assertEquals(peer.received, 1);
});

Deno.test("connectionLost() waits for a write still in flight when the transport is aborted", async () => {
  const [inner, b] = createMemoryChannelPair();
  const order: string[] = [];
  const write = Promise.withResolvers<number>();
  const channel: ByteChannel = {
    read: (p) => inner.read(p),
    write: () => write.promise, // a write the channel settles late
    closeWrite: () => inner.closeWrite(),
    close: () => inner.close(),
  };
  const t = new StreamTransport(channel, {
    dataReceived() {},
    connectionLost: () => order.push("lost"),
  });
  const peer = new StreamTransport(b, new Recorder());
  t.write(new Uint8Array(10));
  await Promise.resolve(); // the flush's first step hands the write to the channel
  t.abort();
  await new Promise((resolve) => setTimeout(resolve, 0)); // a turn for connectionLost to run early
  order.push("write settled");
  write.resolve(10);
  await t.closed;
  assertEquals(order, ["write settled", "lost"]);
  await peer.closed;
});

Deno.test("idleTimeout: a read, or a write that completes, is progress; pending writes are not", async () => {
  await withFakeTime(async (clock) => {
    // A read at 90 ms: the check at 100 finds 10 ms idle.
    const [a, b] = createMemoryChannelPair();
    const reader = new Recorder();
    const t = new StreamTransport(a, reader, { idleTimeout: 100 });
    const peer = new StreamTransport(b, new Recorder());
    clock.advance(90);
    peer.write(new Uint8Array([1]));
    await reader.untilReceived(1);
    clock.advance(99);
    assertEquals(t.isClosing(), false, "read at 90: idle 99 ms at 189");
    clock.advance(1);
    assertEquals(t.isClosing(), true);
    await Promise.all([t.closed, peer.closed]);

    // A write that completes at 90 ms: likewise.
    const [c, d] = createMemoryChannelPair();
    const w = new StreamTransport(c, new Recorder(), { idleTimeout: 100 });
    const other = new StreamTransport(d, new Recorder());
    clock.advance(90);
    w.write(new Uint8Array([1]));
    await w.flushed();
    clock.advance(99);
    assertEquals(w.isClosing(), false, "wrote at 90: idle 99 ms at 189");
    clock.advance(1);
    assertEquals(w.isClosing(), true);
    await Promise.all([w.closed, other.closed]);

    // Reading paused with writes the peer does not take: the clock runs (not the app's hold).
    const [e, f] = createMemoryChannelPair({ capacity: 16 });
    const held = new StreamTransport(e, new Recorder(), { idleTimeout: 100 });
    const deaf = new StreamTransport(f, new Recorder({ onConnect: (tr) => tr.pauseReading() }));
    held.pauseReading();
    held.write(new Uint8Array(100));
    await Promise.resolve();
    clock.advance(100);
    assertEquals(held.isClosing(), true, "idle with writes stuck on the peer");
    deaf.abort();
    await Promise.all([held.closed, deaf.closed]);
    assertEquals(clock.pending, 0);
  });
});

Deno.test("deadlineClock asked for after the transport ended is stopped: start() arms nothing", async () => {
  await withFakeTime(async (clock) => {
    const [a, b] = createMemoryChannelPair();
    const t = new StreamTransport(a, new Recorder(), { deadlines: { firstFrameTimeout: 100 } });
    const peer = new StreamTransport(b, new Recorder());
    t.close();
    await Promise.all([t.closed, peer.closed]);
    t.deadlineClock!.start();
    assertEquals(clock.pending, 0);
  });
});

Deno.test("a protocol's isHoldingPeer() that throws (asked from the idle timer) aborts the transport", async () => {
  const [a, b] = createMemoryChannelPair();
  const transport = new StreamTransport(a, {
    dataReceived() {},
    isHoldingPeer(): boolean {
      throw new Error("hold check failed");
    },
  }, { idleTimeout: 20 });
  const peer = new StreamTransport(b, { dataReceived() {} });
  const error = await transport.closed;
  assertEquals(error?.message, "hold check failed");
  await peer.closed;
});
