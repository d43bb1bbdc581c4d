import { assertEquals, assertLess, assertRejects, assertThrows } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import {
  type BufferedProtocol,
  StreamTransport,
  type Transport,
  TransportError,
} from "@plexus/net/transport";
import { CountingChannel } from "../_counting_channel.ts";
import { BACKENDS, channelPair } from "../_net.ts";
import { Recorder } from "../_recorder.ts";
import { bytes, concat } from "../_shared.ts";

/** A deterministic byte pattern, so corruption or reordering shows. */
function pattern(size: number, seed = 0): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

for (const backend of BACKENDS) {
  Deno.test(`${backend}: echo, then EOF closes both ends with connectionLost once`, async () => {
    const pair = await channelPair(backend);
    const server = new Recorder({ onData: (data, r) => r.transport.write(data) });
    const client = new Recorder();
    const st = new StreamTransport(pair.server, server);
    const ct = new StreamTransport(pair.client, client);
    ct.write(bytes("hello "));
    ct.writeLines([bytes("over "), bytes(backend)]);
    await client.until(() => client.text === `hello over ${backend}`);
    ct.writeEof();
    assertEquals(await ct.closed, undefined);
    assertEquals(await st.closed, undefined);
    assertEquals(server.events.at(-2), "eof");
    assertEquals(server.count("connectionLost"), 1);
    assertEquals(client.events.at(-1), "connectionLost");
    assertEquals(client.count("connectionLost"), 1);
    assertEquals(client.events[0], "connectionMade");
    await pair.cleanup();
  });

  Deno.test(`${backend}: writeEof half-closes while the peer still answers`, async () => {
    const pair = await channelPair(backend);
    const server = new Recorder({ keepOpenOnEof: true });
    const client = new Recorder({ keepOpenOnEof: true });
    const st = new StreamTransport(pair.server, server);
    const ct = new StreamTransport(pair.client, client);
    ct.write(bytes("question"));
    ct.writeEof();
    assertThrows(() => ct.write(bytes("more")), TransportError, "after writeEof()");
    await server.untilEvent("eof");
    assertEquals(server.text, "question");
    assert(!ct.isClosing() && !st.isClosing(), "half-closed, not closing");
    st.write(bytes("answer after your EOF"));
    st.writeEof();
    await ct.closed;
    await st.closed;
    assertEquals(client.text, "answer after your EOF");
    assertEquals(client.events.slice(-2), ["eof", "connectionLost"]);
    assertEquals(server.count("connectionLost"), 1);
    await pair.cleanup();
  });

  Deno.test(`${backend}: close() flushes everything queued before closing`, async () => {
    const pair = await channelPair(backend);
    const server = new Recorder();
    const client = new Recorder();
    const st = new StreamTransport(pair.server, server);
    const ct = new StreamTransport(pair.client, client);
    const data = pattern(3 * 1024 * 1024 + 7);
    for (let i = 0; i < data.length; i += 100_000) ct.write(data.subarray(i, i + 100_000));
    ct.close();
    ct.write(bytes("x")); // dropped: the transport is closing (asyncio's rule)
    assert(ct.isClosing());
    await ct.closed;
    await st.closed;
    assertEquals(concat(server.chunks), data);
    assertEquals(client.count("connectionLost"), 1);
    await pair.cleanup();
  });

  Deno.test(`${backend}: abort() drops the write buffer and closes at once`, async () => {
    const pair = await channelPair(backend);
    const server = new Recorder({ onConnect: (t) => t.pauseReading() });
    const client = new Recorder();
    const clientChannel = new CountingChannel(pair.client);
    const st = new StreamTransport(pair.server, server);
    const ct = new StreamTransport(clientChannel, client);
    const total = 64 * 1024 * 1024;
    const chunk = pattern(1024 * 1024);
    for (let sent = 0; sent < total; sent += chunk.length) ct.write(chunk);
    // Some bytes reach the socket (the kernel holds a few MiB at most); the rest stays queued.
    await clientChannel.untilWritten(1);
    assert(ct.getWriteBufferSize() > 0);
    ct.abort();
    assertEquals(ct.getWriteBufferSize(), 0);
    assertEquals(await ct.closed, undefined);
    st.resumeReading();
    await st.closed;
    assertLess(server.received, total);
    assertEquals(client.events.at(-1), "connectionLost");
    assertEquals(client.count("connectionLost"), 1);
    await pair.cleanup();
  });

  Deno.test(`${backend}: a close() awaited after the last answer finds no read pending`, async () => {
    // A client that closes once its answer came (through a promise the callback resolved)
    // must not make the channel cancel a read: Deno builds an Interrupted error for that.
    const pair = await channelPair(backend);
    const server = new Recorder({ onData: (data, r) => r.transport.write(data) });
    const answered = Promise.withResolvers<void>();
    const client = new Recorder({ onData: () => answered.resolve() });
    const clientChannel = new CountingChannel(pair.client);
    const st = new StreamTransport(pair.server, server);
    const ct = new StreamTransport(clientChannel, client);
    ct.write(bytes("ping"));
    await answered.promise;
    ct.close();
    assertEquals(clientChannel.readsPendingAtClose, 0);
    assertEquals(clientChannel.reads, 1);
    await ct.closed;
    await st.closed;
    await pair.cleanup();
  });

  Deno.test(`${backend}: pauseReading issues no read and delivers nothing until resumed`, async () => {
    const pair = await channelPair(backend);
    const counted = new CountingChannel(pair.server);
    const server = new Recorder({ onConnect: (t) => t.pauseReading() });
    const client = new Recorder();
    const clientChannel = new CountingChannel(pair.client);
    const st = new StreamTransport(counted, server);
    const ct = new StreamTransport(clientChannel, client);
    assert(!st.isReading());
    ct.write(bytes("held back"));
    await clientChannel.untilWritten(9);
    assertEquals(counted.reads, 0, "no read was issued while paused");
    assertEquals(server.count("data"), 0);
    st.resumeReading();
    assert(st.isReading());
    await server.until(() => server.text === "held back");
    ct.close();
    await ct.closed;
    await st.closed;
    await pair.cleanup();
  });

  Deno.test(`${backend}: a stalled reader pauses the writer; draining resumes it`, async () => {
    const pair = await channelPair(backend);
    const chunkSize = 16 * 1024;
    const total = 48 * 1024 * 1024;
    let sent = 0;
    let maxBuffered = 0;
    const produce = (t: Transport, r: Recorder): void => {
      while (sent < total && r.count("pauseWriting") === r.count("resumeWriting")) {
        t.write(pattern(chunkSize, sent));
        sent += chunkSize;
        maxBuffered = Math.max(maxBuffered, t.getWriteBufferSize());
      }
      if (sent >= total) t.writeEof();
    };
    const server = new Recorder({ onConnect: (t) => t.pauseReading() });
    const client = new Recorder({
      onConnect: (t, r) => queueMicrotask(() => produce(t, r)),
      onResume: (r) => produce(r.transport, r),
    });
    const st = new StreamTransport(pair.server, server);
    const ct = new StreamTransport(pair.client, client);
    await client.untilEvent("pauseWriting");
    const { high, low } = ct.getWriteBufferLimits();
    assertEquals([high, low], [64 * 1024, 16 * 1024]);
    assert(ct.getWriteBufferSize() > high, "paused only strictly over high");
    assert(maxBuffered <= high + chunkSize, `buffer grew to ${maxBuffered}`);
    assertLess(sent, total, "the producer stopped at the pause");
    st.resumeReading();
    await client.untilEvent("resumeWriting");
    await st.closed;
    await ct.closed;
    assertEquals(server.received, total);
    assert(maxBuffered <= high + chunkSize, `buffer grew to ${maxBuffered}`);
    assertEquals(client.count("pauseWriting"), client.count("resumeWriting"));
    await pair.cleanup();
  });

  Deno.test(`${backend}: a throwing dataReceived aborts with that error`, async () => {
    const pair = await channelPair(backend);
    const boom = new Error("boom");
    const server = new Recorder({
      onData: () => {
        throw boom;
      },
    });
    const client = new Recorder();
    const st = new StreamTransport(pair.server, server);
    const ct = new StreamTransport(pair.client, client);
    ct.write(bytes("x"));
    assertEquals(await st.closed, boom);
    assertEquals(server.lostWith, boom);
    assertEquals(server.count("connectionLost"), 1);
    ct.abort();
    await ct.closed;
    await pair.cleanup();
  });
}

Deno.test("memory: short writes are continued, never dropped", async () => {
  const pair = await channelPair("memory", 7);
  const server = new Recorder();
  const st = new StreamTransport(pair.server, server);
  const ct = new StreamTransport(pair.client, new Recorder());
  const data = pattern(100_003);
  ct.write(data);
  ct.close();
  await ct.closed;
  await st.closed;
  assertEquals(concat(server.chunks), data);
  await pair.cleanup();
});

Deno.test("writes made in one turn leave in one channel write", async () => {
  const pair = await channelPair("memory", 1 << 20);
  const counted = new CountingChannel(pair.client);
  const server = new Recorder();
  const st = new StreamTransport(pair.server, server);
  const ct = new StreamTransport(counted, new Recorder());
  for (let i = 0; i < 1000; i++) ct.write(bytes(`${i % 10}`));
  await counted.untilWritten(1000);
  assertEquals(counted.writes, 1);
  ct.close();
  await st.closed;
  assertEquals(server.received, 1000);
});

Deno.test("setWriteBufferLimits re-evaluates pause and resume at once", async () => {
  const pair = await channelPair("memory", 1);
  const server = new Recorder({ onConnect: (t) => t.pauseReading() });
  const client = new Recorder();
  const st = new StreamTransport(pair.server, server);
  const ct = new StreamTransport(pair.client, client);
  ct.write(new Uint8Array(1000));
  assertEquals(client.count("pauseWriting"), 0);
  ct.setWriteBufferLimits({ high: 500 });
  assertEquals(ct.getWriteBufferLimits(), { high: 500, low: 125 });
  assertEquals(client.events.at(-1), "pauseWriting", "paused synchronously");
  ct.setWriteBufferLimits({ low: 2000 });
  assertEquals(ct.getWriteBufferLimits(), { high: 8000, low: 2000 });
  assertEquals(client.events.at(-1), "resumeWriting", "resumed synchronously");
  assertThrows(() => ct.setWriteBufferLimits({ high: 1, low: 2 }), RangeError, "high >= low");
  ct.abort();
  st.abort();
  await ct.closed;
  await st.closed;
});

Deno.test("pauseWriting is called inside write() when the buffer goes strictly over high", async () => {
  const pair = await channelPair("memory", 1);
  const client = new Recorder();
  const st = new StreamTransport(pair.server, new Recorder({ onConnect: (t) => t.pauseReading() }));
  const ct = new StreamTransport(pair.client, client, { writeBufferLimits: { high: 10, low: 0 } });
  ct.write(new Uint8Array(10));
  assertEquals(client.count("pauseWriting"), 0, "exactly at high is not over it");
  ct.write(new Uint8Array(1));
  assertEquals(client.count("pauseWriting"), 1);
  ct.write(new Uint8Array(1));
  assertEquals(client.count("pauseWriting"), 1, "called once per pause");
  ct.abort();
  st.abort();
  await Promise.all([ct.closed, st.closed]);
});

Deno.test("a BufferedProtocol is read into directly", async () => {
  const pair = await channelPair("tcp");
  const buffer = new Uint8Array(5);
  const hints: number[] = [];
  const received: number[] = [];
  let lost = 0;
  const protocol: BufferedProtocol = {
    getBuffer: (hint) => {
      hints.push(hint);
      return buffer;
    },
    bufferUpdated: (n) => received.push(...buffer.subarray(0, n)),
    connectionLost: () => lost++,
  };
  const st = new StreamTransport(pair.server, protocol, { readSize: 999 });
  const ct = new StreamTransport(pair.client, new Recorder());
  ct.write(pattern(1000));
  ct.close();
  await st.closed;
  await ct.closed;
  assertEquals(new Uint8Array(received), pattern(1000));
  assertEquals(hints[0], 999); // a readSize under the first read size caps it
  assertEquals(lost, 1);
});

Deno.test("tcp: after a reset, the next write fails with a TransportError", async () => {
  // Deno reports a reset as end of stream on read; the reset shows on the next write.
  const pair = await channelPair("tcp");
  const client = new Recorder({ keepOpenOnEof: true });
  // The server never reads, then closes with unread data: the kernel answers with a reset.
  const server = new Recorder({ onConnect: (t) => t.pauseReading() });
  const clientChannel = new CountingChannel(pair.client);
  const st = new StreamTransport(pair.server, server);
  const ct = new StreamTransport(clientChannel, client);
  ct.write(bytes("unread"));
  await clientChannel.untilWritten(6);
  st.abort();
  await st.closed;
  await client.untilEvent("eof");
  ct.write(bytes("into the void"));
  const error = await ct.closed;
  assertInstanceOf(error, TransportError);
  assertInstanceOf(error.cause, Deno.errors.BrokenPipe);
  assertEquals(client.count("connectionLost"), 1);
  await pair.cleanup();
});

Deno.test("connectionMade that throws fails the transport before any read", async () => {
  const pair = await channelPair("memory");
  const counted = new CountingChannel(pair.server);
  const boom = new Error("no");
  const server = new Recorder({
    onConnect: () => {
      throw boom;
    },
  });
  const st = new StreamTransport(counted, server);
  assertEquals(await st.closed, boom);
  assertEquals(counted.reads, 0);
  assertEquals(server.events, ["connectionMade", "connectionLost"]);
  pair.client.close();
});

Deno.test("close() and abort() twice still call connectionLost once", async () => {
  const pair = await channelPair("tcp");
  const client = new Recorder();
  const ct = new StreamTransport(pair.client, client);
  const st = new StreamTransport(pair.server, new Recorder());
  ct.close();
  ct.close();
  ct.abort();
  await ct.closed;
  await st.closed;
  ct.abort();
  assertEquals(client.count("connectionLost"), 1);
});

Deno.test("getExtraInfo reports the socket addresses and the conn", async () => {
  const pair = await channelPair("tcp");
  const ct = new StreamTransport(pair.client, new Recorder());
  const st = new StreamTransport(pair.server, new Recorder());
  assertEquals(ct.getExtraInfo("peername"), pair.client.remoteAddr);
  assertEquals(ct.getExtraInfo("sockname"), st.getExtraInfo("peername"));
  assertEquals(ct.getExtraInfo("conn"), pair.client);
  assertEquals(ct.getExtraInfo("tls"), false);
  assertEquals(ct.getExtraInfo("alpnProtocol", null), null);
  ct.close();
  await ct.closed;
  await st.closed;
});

Deno.test("memory: a read woken by a write still fails when the channel closes in that turn", async () => {
  const pair = await channelPair("memory");
  const read = pair.server.read(new Uint8Array(8));
  const written = pair.client.write(new Uint8Array([1])); // wakes the read...
  pair.server.close(); // ...and the close comes in the same turn
  await assertRejects(() => read, Deno.errors.Interrupted);
  await written;
  pair.client.close();
});
