/** UDP remote addresses compare by the IP address, however it is spelt. */

import { assertEquals } from "@std/assert";
import { canonicalHost } from "../../transport/_canonical_host.ts";
import { UdpTransport } from "@plexus/net/transport";
import { Application, UdpTendrilManager } from "@plexus/net/endpoints";

Deno.test("canonicalHost: one spelling per address", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:1", "::1"],
    ["[::1]", "::1"],
    ["FE80:0:0:0:0:0:0:1", "fe80::1"],
    ["::FFFF:1.2.3.4", "1.2.3.4"],
    ["::ffff:102:304", "1.2.3.4"],
    ["::ffff:7f00:1", "127.0.0.1"],
    ["127.0.0.1", "127.0.0.1"],
    ["LocalHost", "localhost"],
    ["not:an:address", "not:an:address"],
  ];
  for (const [given, expected] of cases) assertEquals(canonicalHost(given), expected, given);
});

Deno.test("UdpTransport: a remote address spelt out in full still receives its peer's datagrams", async () => {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
  const got = Promise.withResolvers<string>();
  const transport = new UdpTransport(socket, {
    datagramReceived: (data) => got.resolve(new TextDecoder().decode(data)),
  }, {
    remoteAddress: {
      transport: "udp",
      hostname: "0:0:0:0:0:0:0:1",
      port: (peer.addr as Deno.NetAddr).port,
    },
  });
  await peer.send(new TextEncoder().encode("hello"), socket.addr);
  assertEquals(await got.promise, "hello");
  transport.close();
  await transport.closed;
  peer.close();
});

Deno.test("UDP manager: connect() to an address spelt out in full gets the peer's replies", async () => {
  const echo = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
  const port = (echo.addr as Deno.NetAddr).port;
  const manager = new UdpTendrilManager("[::1]:0");
  await manager.start();
  const reply = Promise.withResolvers<string>();
  class Client extends Application {
    frameReceived(frame: Uint8Array): void {
      reply.resolve(new TextDecoder().decode(frame));
    }
  }
  const tendril = (await manager.connect(`[0:0:0:0:0:0:0:1]:${port}`, (t) => new Client(t)))!;
  tendril.sendFrame(new TextEncoder().encode("ping"));
  const [data, from] = await echo.receive();
  await echo.send(data, from);
  assertEquals(await reply.promise, "ping");
  assertEquals(manager.tendrils.size, 1, "the reply found the tendril: no second peer");
  await manager.shutdown();
  echo.close();
});
