/**
 * `fromStreams` with streams that misbehave: a writable whose sink never finishes a write (a
 * peer that does not read), streams that error, a readable that never delivers. The
 * connection always ends, and borrowed streams are released.
 */

import { assertEquals, assertRejects } from "@std/assert";
import { ConnectionClosedError, PacketConnection } from "@plexus/net/packet";
import { assertInstanceOf } from "../_assert.ts";
import { tcpPair } from "../_net.ts";
import { gate } from "./_helpers.ts";

/** A readable that never delivers and a writable whose first write never finishes. */
function stuckStreams(): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  writing: Promise<void>;
} {
  const writing = gate();
  return {
    readable: new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) }),
    writable: new WritableStream<Uint8Array>({
      write: () => {
        writing.resolve();
        return new Promise(() => {});
      },
    }),
    writing: writing.promise,
  };
}

for (const closeStreams of [false, true]) {
  Deno.test(`fromStreams: abort() ends at once while a write never finishes (closeStreams: ${closeStreams})`, async () => {
    const streams = stuckStreams();
    const connection = PacketConnection.fromStreams(streams, { closeStreams });
    const call = connection.call(0);
    await streams.writing;
    connection.abort();
    await assertRejects(() => call, ConnectionClosedError);
    assertEquals(await connection.closed, undefined);
    assertEquals([streams.readable.locked, streams.writable.locked], [false, false]);
  });

  Deno.test(`fromStreams: close() gives up after closeTimeout while a write never finishes (closeStreams: ${closeStreams})`, async () => {
    const streams = stuckStreams();
    const connection = PacketConnection.fromStreams(streams, { closeStreams, closeTimeout: 1 });
    const call = connection.call(0);
    await streams.writing;
    await connection.close();
    await assertRejects(() => call, ConnectionClosedError);
    const closed = await connection.closed;
    assertInstanceOf(closed, ConnectionClosedError);
    assertEquals(closed.message, "Connection closed: close() timed out after 1 ms");
    assertEquals([streams.readable.locked, streams.writable.locked], [false, false]);
  });
}

Deno.test("fromStreams: a writable that errors ends the connection with the error", async () => {
  const connection = PacketConnection.fromStreams({
    readable: new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) }),
    writable: new WritableStream<Uint8Array>({
      write: () => Promise.reject(new Error("disk full")),
    }),
  });
  const call = connection.call(0);
  await assertRejects(() => call, ConnectionClosedError, "disk full");
  const closed = await connection.closed;
  assertInstanceOf(closed, Error);
  assertInstanceOf(closed.cause, Error);
  assertEquals((closed.cause as Error).message, "disk full");
});

Deno.test("fromStreams: a readable that errors ends the connection with the error", async () => {
  let fail!: (error: Error) => void;
  const connection = PacketConnection.fromStreams({
    readable: new ReadableStream<Uint8Array>({
      start: (controller) => void (fail = (error) => controller.error(error)),
    }),
    writable: new WritableStream<Uint8Array>(),
  });
  const call = connection.call(0);
  fail(new Error("cable cut"));
  await assertRejects(() => call, ConnectionClosedError, "cable cut");
  const closed = await connection.closed;
  assertInstanceOf(closed, Error);
  assertEquals((closed.cause as Error).message, "cable cut");
});

Deno.test("fromStreams: abort() over a TCP conn whose peer stopped reading ends at once", async () => {
  const [conn, peer] = await tcpPair();
  const connection = PacketConnection.fromStreams(conn);
  // Far more than the socket buffers hold: the write is stuck once the peer stops reading.
  const big = new Uint8Array(15 * 1024 * 1024);
  const calls = [connection.submit(0, { payload: big }), connection.submit(0, { payload: big })];
  const reader = peer.readable.getReader();
  await reader.read(); // the write has started; the peer reads nothing more
  reader.releaseLock();
  connection.abort();
  for (const call of calls) await assertRejects(() => call, ConnectionClosedError);
  assertEquals(await connection.closed, undefined);
  // The conn is ours again; closing it fails the write still in flight.
  const writer = conn.writable.getWriter();
  conn.close();
  peer.close();
  await writer.closed.catch(() => {});
});

Deno.test("fromStreams: abort() with closeStreams over a child process that does not read its stdin", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "await Deno.stdin.read(new Uint8Array(1)); console.error('started'); setTimeout(() => {}, 60_000);",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const connection = PacketConnection.fromStreams(
    { readable: child.stdout, writable: child.stdin },
    { closeStreams: true },
  );
  const call = connection.submit(0, { payload: new Uint8Array(4 * 1024 * 1024) });
  const stderr = child.stderr.getReader();
  await stderr.read(); // the child took one byte: our write is under way, and stuck
  connection.abort();
  await assertRejects(() => call, ConnectionClosedError);
  assertEquals(await connection.closed, undefined);
  child.kill();
  await child.status;
  await stderr.cancel();
  // The stdin write in flight fails now that the child is gone; wait for it to settle.
  await child.stdin.getWriter().closed.catch(() => {});
});
