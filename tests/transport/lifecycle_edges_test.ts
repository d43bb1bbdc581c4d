// Regression tests for lifecycle edges of StreamTransport: the idle timer around connectionMade()
// and a first read that fails, flushed() after an abort with a chunk in flight, and no
// resumeWriting() after connectionLost(). sanitizeOps is set here too, not only by `deno task
// test`: Deno 2.9.6 leaves it off by default, and a leaked timer is what some of these catch.
import { assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import { createMemoryChannelPair, StreamTransport, TransportError } from "@plexus/net/transport";

Deno.test({
  name: "a first read that fails (getBuffer throws) leaves no idle timer behind",
  sanitizeOps: true,
  async fn() {
    const [a, b] = createMemoryChannelPair();
    const lost: (Error | undefined)[] = [];
    const t = new StreamTransport(a, {
      getBuffer() {
        throw new Error("no buffer");
      },
      bufferUpdated() {},
      connectionLost: (e) => lost.push(e),
    }, { idleTimeout: 60_000 });
    assertInstanceOf(await t.closed, Error);
    assertEquals(lost.length, 1);
    b.close();
  },
});

Deno.test({
  name: "a bad idleTimeout throws before connectionMade() and before any read",
  sanitizeOps: true,
  fn() {
    const [a, b] = createMemoryChannelPair();
    let made = 0;
    assertThrows(
      () =>
        new StreamTransport(a, { connectionMade: () => made++, dataReceived() {} }, {
          idleTimeout: 0,
        }),
      RangeError,
      "idleTimeout",
    );
    assertEquals(made, 0);
    a.close();
    b.close();
  },
});

Deno.test({
  name: "idleTimeout still ends a close() from connectionMade() whose data the peer never reads",
  sanitizeOps: true,
  async fn() {
    const [a, b] = createMemoryChannelPair({ capacity: 16 });
    const t = new StreamTransport(a, {
      connectionMade(transport) {
        transport.write(new Uint8Array(1000));
        transport.close();
      },
      dataReceived() {},
    }, { idleTimeout: 20 });
    // A guard, not a wait for the event: without the idle timer the close never finishes.
    let guard: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      t.closed,
      new Promise<"hung">((resolve) => guard = setTimeout(() => resolve("hung"), 5000)),
    ]);
    clearTimeout(guard);
    if (result === "hung") {
      t.abort();
      await t.closed;
    }
    b.close();
    assertEquals(result === "hung" ? "hung" : result?.message, "Connection idle for 20 ms");
  },
});

Deno.test({
  name: "flushed() rejects after abort() while a written chunk is only partly sent",
  sanitizeOps: true,
  async fn() {
    const [a, b] = createMemoryChannelPair({ capacity: 16 });
    const t = new StreamTransport(a, { dataReceived() {} });
    t.write(new Uint8Array(100)); // one chunk: 16 bytes go out, the rest waits for the peer
    const flushed = t.flushed();
    // The flush starts a microtask later; its first (short) write completes one more later.
    for (let i = 0; i < 3; i++) await Promise.resolve();
    assertEquals(t.getWriteBufferSize(), 84);
    t.abort();
    await assertRejects(() => flushed, TransportError, "aborted with data buffered");
    await t.closed;
    b.close();
  },
});

Deno.test({
  name: "changing the watermarks after connectionLost() calls no resumeWriting()",
  sanitizeOps: true,
  async fn() {
    const [a, b] = createMemoryChannelPair({ capacity: 16 });
    const calls: string[] = [];
    const t = new StreamTransport(a, {
      dataReceived() {},
      pauseWriting: () => calls.push("pause"),
      resumeWriting: () => calls.push("resume"),
      connectionLost: () => calls.push("lost"),
    }, { writeBufferLimits: { high: 10 } });
    t.write(new Uint8Array(100));
    t.abort();
    await t.closed;
    t.setWriteBufferLimits({ high: 1000 });
    assertEquals(calls, ["pause", "lost"]);
    b.close();
  },
});
