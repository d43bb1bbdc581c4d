import { assertEquals } from "@std/assert";
import {
  createMemoryTransportPair,
  type DatagramTransport,
  type Protocol,
  type Transport,
  UdpTransport,
} from "@plexus/net/transport";

// Found by the cross-stack fuzzer (tests/chaos_test.ts, seed 381): a callback that closed the
// transport (finishing it at once: nothing was buffered) and then threw lost its error.
Deno.test("a callback that closes its transport and then throws: connectionLost gets the error", async () => {
  const failure = new Error("callback failed after close()");
  for (const where of ["connectionMade", "dataReceived", "eofReceived"] as const) {
    let transport: Transport | undefined;
    const lost: (Error | undefined)[] = [];
    const protocol: Protocol = {
      connectionMade(t) {
        transport = t;
        if (where === "connectionMade") {
          t.close();
          throw failure;
        }
      },
      dataReceived() {
        if (where !== "dataReceived") return;
        transport!.close();
        throw failure;
      },
      eofReceived() {
        if (where !== "eofReceived") return;
        transport!.close();
        throw failure;
      },
      connectionLost: (error) => lost.push(error),
    };
    let peer: Transport | undefined;
    const [a, b] = createMemoryTransportPair(protocol, {
      connectionMade: (t) => peer = t,
      dataReceived() {},
    });
    if (where === "dataReceived") peer!.write(new Uint8Array([1]));
    if (where === "eofReceived") peer!.writeEof();
    assertEquals(await a.closed, failure, where);
    assertEquals(lost, [failure], where);
    b.abort();
    await b.closed;
  }
});

Deno.test("a UDP callback that closes its transport and then throws: connectionLost gets the error", async () => {
  const failure = new Error("callback failed after close()");
  for (const where of ["connectionMade", "datagramReceived"] as const) {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const lost: (Error | undefined)[] = [];
    let transport: DatagramTransport | undefined;
    const udp = new UdpTransport(socket, {
      connectionMade(t) {
        transport = t;
        if (where === "connectionMade") {
          t.close();
          throw failure;
        }
      },
      datagramReceived() {
        transport!.close();
        throw failure;
      },
      connectionLost: (error) => lost.push(error),
    });
    if (where === "datagramReceived") {
      const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      await sender.send(new Uint8Array([1]), socket.addr);
      sender.close();
    }
    assertEquals(await udp.closed, failure, where);
    assertEquals(lost, [failure], where);
  }
});
