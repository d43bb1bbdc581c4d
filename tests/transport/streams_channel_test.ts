/** StreamsChannel's ends: close() aborts a writable whose close still waits behind a write. */

import { assertEquals } from "@std/assert";
import { StreamsChannel } from "@plexus/net/transport";

Deno.test("StreamsChannel: close() while closeWrite() waits behind a write aborts the writable", async () => {
  const events: string[] = [];
  const release = Promise.withResolvers<void>();
  const writing = Promise.withResolvers<void>();
  const writable = new WritableStream<Uint8Array>({
    write: () => {
      events.push("write");
      writing.resolve();
      return release.promise;
    },
    close: () => {
      events.push("close");
    },
    abort: () => {
      events.push("abort");
    },
  });
  const readable = new ReadableStream<Uint8Array>();
  const channel = new StreamsChannel({ readable, writable }, { closeStreams: true });
  const written = channel.write(new Uint8Array([1, 2, 3])).catch((e: Error) => e.name);
  await writing.promise; // the sink holds the write
  const closedWrite = channel.closeWrite().catch((e: Error) => e.name);
  channel.close(); // the pending write and close are dropped: an abort
  assertEquals(await written, "Interrupted");
  assertEquals(await closedWrite, "Interrupted");
  release.resolve(); // the sink finishes its write only now
  const ended = await writable.getWriter().closed.then(() => "closed", () => "errored");
  assertEquals(ended, "errored");
  assertEquals(events, ["write", "abort"], "the queued close never reached the sink");
});

Deno.test("StreamsChannel: close() after closeWrite() finished leaves the closed writable alone", async () => {
  const events: string[] = [];
  const writable = new WritableStream<Uint8Array>({
    write: () => {
      events.push("write");
    },
    close: () => {
      events.push("close");
    },
    abort: () => {
      events.push("abort");
    },
  });
  const channel = new StreamsChannel(
    { readable: new ReadableStream<Uint8Array>(), writable },
    { closeStreams: true },
  );
  await channel.write(new Uint8Array([1]));
  await channel.closeWrite();
  channel.close();
  assertEquals(await writable.getWriter().closed.then(() => "closed"), "closed");
  assertEquals(events, ["write", "close"]);
});

Deno.test("StreamsChannel: a pending read() rejects at close(), with closeStreams too (not a false end of stream)", async () => {
  for (const closeStreams of [false, true]) {
    const channel = new StreamsChannel(
      { readable: new ReadableStream<Uint8Array>(), writable: new WritableStream() },
      { closeStreams },
    );
    const pending = channel.read(new Uint8Array(8)).then(
      (n) => `resolved ${n}`,
      (e: Error) => e.name,
    );
    channel.close();
    assertEquals(await pending, "Interrupted", `closeStreams: ${closeStreams}`);
  }
});
