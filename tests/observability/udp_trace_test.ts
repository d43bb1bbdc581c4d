import { assertEquals } from "@std/assert";
import { createDatagramEndpoint } from "@plexus/net/endpoints";
import { type ConnectionTraceEvent, subscribe } from "@plexus/net/transport";

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
