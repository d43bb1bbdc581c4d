import { assertEquals } from "@std/assert";
import { Application, type Tendril, UdpTendrilManager } from "@plexus/net/endpoints";
import type { Transport } from "@plexus/net/transport";

class Quiet extends Application {
  frameReceived(_frame: Uint8Array): void {}
}
const transportOf = (t: Tendril) =>
  (t as unknown as { framed: { transport: Transport } }).framed.transport;

Deno.test("UDP manager: a peer whose acceptor's greeting fills the socket counts one write pause, not two", async () => {
  const sinkA = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const sinkB = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start();
  const a = (await manager.connect(sinkA.addr, (t) => new Quiet(t)))!;
  transportOf(a).setWriteBufferLimits({ high: 1000, low: 0 });
  // The acceptor greets at once with more than the high watermark.
  const b = (await manager.connect(sinkB.addr, (t) => {
    t.sendFrame(new Uint8Array(2000));
    return new Quiet(t);
  }))!;
  await sinkB.receive();
  assertEquals(transportOf(a).stats!().writePauses, 1);
  assertEquals(transportOf(b).stats!().writePauses, 1);
  await manager.shutdown();
  sinkA.close();
  sinkB.close();
});
