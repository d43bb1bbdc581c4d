import { assertEquals } from "@std/assert";
import { createDatagramEndpoint } from "@plexus/net/endpoints";
import {
  type ConnectionTraceEvent,
  type DatagramTransport,
  type FrameTraceEvent,
  subscribe,
} from "@plexus/net/transport";

Deno.test("UDP transports publish open and close on plexus:connection, named by address", async () => {
  const events: string[] = [];
  using _ = subscribe({
    connection: (e: ConnectionTraceEvent) => events.push(`${e.event} ${e.name} ${e.reason ?? ""}`),
  });
  const { transport } = await createDatagramEndpoint(() => ({ datagramReceived() {} }), {
    localAddress: "127.0.0.1:0",
  });
  const port = (transport.getExtraInfo("sockname") as Deno.NetAddr).port;
  transport.close();
  await transport.closed;
  assertEquals(events, [`open 127.0.0.1:${port} `, `close 127.0.0.1:${port} close`]);
});

Deno.test("UDP transports publish each datagram each way on plexus:frame, framer datagram", async () => {
  const events: string[] = [];
  using _ = subscribe({
    frame: (e: FrameTraceEvent) =>
      events.push(`${e.name} ${e.direction} ${e.framer} ${new TextDecoder().decode(e.bytes)}`),
  });
  const echo = await createDatagramEndpoint(() => {
    let transport: DatagramTransport;
    return {
      connectionMade: (t) => transport = t as DatagramTransport,
      datagramReceived: (data, addr) => transport.sendto(data, addr),
    };
  }, { localAddress: "127.0.0.1:0" });
  const address = echo.transport.getExtraInfo("sockname") as Deno.NetAddr;
  const replied = Promise.withResolvers<void>();
  const client = await createDatagramEndpoint(
    () => ({ datagramReceived: () => replied.resolve() }),
    {
      remoteAddress: `127.0.0.1:${address.port}`,
    },
  );
  client.transport.sendto(new TextEncoder().encode("hi"));
  await replied.promise;
  const name = `127.0.0.1:${address.port}`;
  // Both are named by the echo's address: the client by its remote, the echo by its own.
  assertEquals(events, [
    `${name} send datagram hi`,
    `${name} receive datagram hi`,
    `${name} send datagram hi`,
    `${name} receive datagram hi`,
  ]);
  client.transport.close();
  echo.transport.close();
  await Promise.all([client.transport.closed, echo.transport.closed]);
});
