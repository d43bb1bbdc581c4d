/** flushed() under a steady writer; frame deadlines after close() and across pauses. */

import { assert, assertEquals, assertInstanceOf } from "@std/assert";
import {
  createMemoryChannelPair,
  DeadlineError,
  StreamTransport,
  type Transport,
} from "@plexus/net/transport";
import { ManualChannel } from "./_manual_channel.ts";

Deno.test("flushed() resolves once the bytes written before it are out, though writes go on", async () => {
  const channel = new ManualChannel();
  const t = new StreamTransport(channel, { dataReceived() {} });
  t.write(new Uint8Array([1])); // the header
  let flushed = false;
  const done = t.flushed().then(() => flushed = true);
  for (let round = 0; round < 20; round++) {
    t.write(new Uint8Array([2])); // the next piece, queued behind the one in flight
    await channel.accept(1); // waits for the transport's next write, then lets it finish
  }
  const wasFlushed = flushed;
  await channel.accept(1);
  await done;
  t.close();
  await t.closed;
  assert(wasFlushed, `the header left ${channel.written.length - 1} writes ago; still pending`);
});

Deno.test("a frame deadline does not run after close() stopped reading", async () => {
  const [a, b] = createMemoryChannelPair();
  const server: StreamTransport = new StreamTransport(a, {
    connectionMade: (t) => (t as StreamTransport).deadlineClock!.start(),
    dataReceived: () => {
      server.deadlineClock!.progress(false, true); // part of a frame
      server.write(new Uint8Array(1 << 20)); // a big reply, then close
      server.close();
    },
  }, { deadlines: { frameTimeout: 100 } });
  // A slow reader: the close's flush outlasts the frame deadline.
  const client = new StreamTransport(b, {
    connectionMade: (t) => {
      t.pauseReading();
      setTimeout(() => t.resumeReading(), 300);
    },
    dataReceived() {},
  });
  client.write(new Uint8Array([1]));
  const error = await server.closed;
  await client.closed;
  assertEquals([error?.message, server.stats().closeReason], [undefined, "close"]);
});

Deno.test("a frame deadline does not count the application's pause against the peer", async () => {
  const [a, b] = createMemoryChannelPair();
  const peerWrite = Promise.withResolvers<void>();
  const server: StreamTransport = new StreamTransport(a, {
    connectionMade: (t: Transport) => (t as StreamTransport).deadlineClock!.start(),
    dataReceived: (data) => {
      const done = data.includes(2);
      server.deadlineClock!.progress(done, !done);
      if (done) {
        server.close();
        return;
      }
      // The application holds the half frame 500 ms (frameTimeout 300); the peer finishes it
      // 150 ms after reading resumes.
      server.pauseReading();
      setTimeout(() => {
        server.resumeReading();
        setTimeout(() => peerWrite.resolve(), 150);
      }, 500);
    },
  }, { deadlines: { frameTimeout: 300 } });
  const client = new StreamTransport(b, { dataReceived() {} });
  client.write(new Uint8Array([1]));
  await peerWrite.promise;
  client.write(new Uint8Array([2]));
  const error = await server.closed;
  client.close();
  await client.closed;
  assertEquals(error?.message, undefined);
});

Deno.test("abort() during a deadline's graceful close hurries it: the deadline stays the cause", async () => {
  const channel = new ManualChannel(); // its writes wait for accept(): the close's flush hangs
  const expired = Promise.withResolvers<DeadlineError>();
  const lost: (Error | undefined)[] = [];
  const t: StreamTransport = new StreamTransport(channel, {
    connectionMade: (transport) =>
      (transport as StreamTransport).deadlineClock!.start((error) => {
        t.write(new Uint8Array([1])); // the last word to the peer, still leaving
        expired.resolve(error);
      }),
    dataReceived() {},
    connectionLost: (error) => lost.push(error),
  }, { deadlines: { firstFrameTimeout: 1 } });
  const deadline = await expired.promise;
  assertEquals(t.isClosing(), true, "the deadline closes gracefully, flushing its last word");
  t.abort(); // the application will not wait for the flush
  assertEquals(await t.closed, deadline);
  assertInstanceOf(lost[0], DeadlineError);
  const stats = t.stats();
  assertEquals([stats.closeReason, stats.error], ["deadline", deadline]);
  assertEquals(channel.written, [], "the last word was dropped by the abort");
});
