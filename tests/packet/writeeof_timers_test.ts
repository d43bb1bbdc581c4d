/**
 * After a writeEof() under the connection (the misuse unwritable_response_test.ts covers for
 * handler responses), the connection's own timers write too: keep-alive's ping, a
 * requestTimeout refusal. A throw from a timer ends the process.
 */
import { assertEquals } from "@std/assert";
import { Packet, PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { bytes, RawPeer } from "./_helpers.ts";

function catchUncaught(): { list: unknown[]; stop: () => void } {
  const list: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    list.push(e.error);
  };
  const onRejection = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    list.push(e.reason);
  };
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return {
    list,
    stop: () => {
      globalThis.removeEventListener("error", onError);
      globalThis.removeEventListener("unhandledrejection", onRejection);
    },
  };
}

type Pair = ReturnType<typeof createMemoryTransportPair>;

/**
 * Runs `scenario`, then aborts both transports and checks that nothing was thrown out of a
 * timer or listener meanwhile (an uncaught error ends the process).
 */
async function nothingThrown(
  scenario: () => Promise<{ connection: PacketConnection; transports: Pair }>,
): Promise<void> {
  const uncaught = catchUncaught();
  try {
    const { connection, transports } = await scenario();
    transports[0].abort();
    transports[1].abort();
    await connection.closed;
    assertEquals(uncaught.list.map(String), []);
  } finally {
    uncaught.stop();
  }
}

/** A connection whose extension offer the raw peer accepted. */
async function accepted(options: ConstructorParameters<typeof PacketConnection>[0]) {
  const connection = new PacketConnection(options);
  const peer = new RawPeer(); // keeps its side open after our half-close
  const transports = createMemoryTransportPair(connection, peer);
  await peer.untilPackets(1);
  peer.send(Packet.response(peer.packets[0].tag, true, { payload: bytes("plexus-ext/1!") }));
  assertEquals(await connection.extensions, true);
  return { connection, peer, transports };
}

Deno.test("keep-alive ping after writeEof() under the connection does not throw from its timer", async () => {
  await nothingThrown(async () => {
    const { connection, peer, transports } = await accepted({ extensions: true, keepAlive: 10 });
    transports[0].writeEof(); // misuse, as in unwritable_response_test.ts
    await peer.until(() => peer.eof);
    // The peer stays silent: keep-alive pings (unwritable), then declares it dead.
    let guard: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([connection.closed, new Promise((r) => guard = setTimeout(r, 500))]);
    clearTimeout(guard);
    return { connection, transports };
  });
});

Deno.test("requestTimeout refusal after writeEof() under the connection does not throw from its timer", async () => {
  await nothingThrown(async () => {
    const expired = Promise.withResolvers<void>();
    const connection = new PacketConnection({
      requestTimeout: 20,
      requestHandler: (_t, _f, _p, { signal }) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => {
            expired.resolve();
            reject(signal.reason);
          })
        ),
      onHandlerError: () => {},
    });
    const peer = new RawPeer();
    const transports = createMemoryTransportPair(connection, peer);
    peer.send(Packet.request(2, 0));
    await new Promise((r) => setTimeout(r, 0));
    transports[0].writeEof();
    await expired.promise;
    await new Promise((r) => setTimeout(r, 0));
    return { connection, transports };
  });
});

Deno.test("packetGrace: an unwritable response (writeEof under the connection) is not thrown from the grace timer", async () => {
  await nothingThrown(async () => {
    const connection = new PacketConnection({
      packetGrace: 5,
      requestHandler: async (_rqType, _flags, _payload, { connection }) => {
        await Promise.resolve();
        connection.transport!.writeEof(); // the misuse unwritable_response_test.ts covers
        return "answer";
      },
      onHandlerError: () => {},
    });
    const peer = new RawPeer();
    const transports = createMemoryTransportPair(connection, peer);
    peer.send(Packet.request(2, 0));
    await peer.until(() => peer.eof);
    await new Promise((r) => setTimeout(r, 30)); // past the 5 ms grace
    return { connection, transports };
  });
});

Deno.test("a request timeout after writeEof() under the connection does not throw the cancel from its timer", async () => {
  await nothingThrown(async () => {
    const { connection, peer, transports } = await accepted({ extensions: true });
    const call = connection.call(0, "q", { timeout: 10 }).catch((e) => e.name);
    await peer.untilPackets(2);
    transports[0].writeEof(); // the misuse unwritable_response_test.ts covers
    assertEquals(await call, "TimeoutError");
    await new Promise((r) => setTimeout(r, 0));
    return { connection, transports };
  });
});
