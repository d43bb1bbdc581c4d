import { assertEquals } from "@std/assert";
import {
  type ConnectionTraceEvent,
  createMemoryTransportPair,
  DeadlineError,
  subscribe,
  UdpTransport,
  WriteBufferOverflowError,
} from "@plexus/net/transport";
import { Application, UdpTendrilManager } from "@plexus/net/endpoints";

Deno.test("abort() is 'abort'; a layer aborting with an error reports the error's reason", async () => {
  const cases: [Error | undefined, string][] = [
    [undefined, "abort"],
    [new Error("a decoder failed"), "error"],
    [
      new WriteBufferOverflowError("Write buffer 2 bytes exceeds maxWriteBuffer 1", {
        size: 2,
        limit: 1,
      }),
      "overflow",
    ],
    [new DeadlineError("frameTimeout", 10), "deadline"],
  ];
  for (const [error, reason] of cases) {
    const [a, b] = createMemoryTransportPair({ dataReceived() {} }, { dataReceived() {} });
    a.abort(error);
    await a.closed;
    await b.closed;
    assertEquals(a.stats?.().closeReason, reason, String(error));
  }
});

Deno.test("UdpTransport.abort(error): the close reason is the error's, as for a stream transport", async () => {
  const cases: [Error | undefined, string][] = [
    [undefined, "abort"],
    [new Error("a layer above failed"), "error"],
    [new DeadlineError("frameTimeout", 10), "deadline"],
  ];
  for (const [error, reason] of cases) {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const udp = new UdpTransport(socket, { datagramReceived() {} });
    udp.abort(error);
    await udp.closed;
    assertEquals(udp.stats().closeReason, reason, String(error));
  }
});

class Throws extends Application {
  override frameReceived(): void {
    throw new Error("handler bug");
  }
}

Deno.test("UDP tendril peer: a frameReceived() that throws closes it with reason 'error'", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start((t) => new Throws(t));
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (client.addr as Deno.NetAddr).port;
  const closed = Promise.withResolvers<ConnectionTraceEvent>();
  using _ = subscribe({
    connection: (e) => {
      if (e.event === "close" && e.name === `127.0.0.1:${port}`) closed.resolve(e);
    },
  });
  await client.send(new Uint8Array([1, 2, 3]), manager.localAddress!);
  const event = await closed.promise;
  await manager.shutdown();
  client.close();
  assertEquals(event.reason, "error", String(event.error));
  assertEquals(event.transport.stats?.().closeReason, "error");
});
