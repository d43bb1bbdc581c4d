import { assertEquals } from "@std/assert";
import { UdpTransport } from "@plexus/net/transport";

Deno.test("UDP: the protocol's connectionName names the transport, as BaseProtocol promises", async () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const transport = new UdpTransport(conn, { connectionName: "dns", datagramReceived() {} });
  assertEquals(transport.getExtraInfo("name"), "dns");
  transport.close();
  await transport.closed;
});
