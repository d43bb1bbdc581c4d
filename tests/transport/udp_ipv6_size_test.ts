import { assertEquals } from "@std/assert";
import { UdpTransport } from "@plexus/net/transport";
import { Application, UdpTendrilManager } from "@plexus/net/endpoints";

/**
 * Over IPv6 a UDP datagram holds up to 65527 bytes (65535 - 8: no IPv4 header to take off),
 * and Deno's receive() cuts a larger datagram to the buffer it is given without a word.
 */
const LARGEST_V6 = 65527;

/**
 * Sends `sizes` over ::1 to a UdpTransport, each after the one before was delivered (a burst
 * of large datagrams would overrun the socket's receive buffer), and returns the sizes it
 * delivered.
 */
async function receivedSizes(sizes: number[], reuseReceiveBuffer: boolean): Promise<number[]> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
  const got: number[] = [];
  let next = Promise.withResolvers<void>();
  const udp = new UdpTransport(socket, {
    datagramReceived(data) {
      got.push(data.byteLength);
      next.resolve();
    },
  }, { reuseReceiveBuffer });
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
  for (const size of sizes) {
    await peer.send(new Uint8Array(size), socket.addr as Deno.NetAddr);
    await next.promise;
    next = Promise.withResolvers<void>();
  }
  peer.close();
  udp.close();
  await udp.closed;
  return got;
}

Deno.test("UDP over IPv6: a 65527-byte datagram arrives whole into the reused buffer", async () => {
  assertEquals(await receivedSizes([LARGEST_V6, 10, LARGEST_V6], true), [
    LARGEST_V6,
    10,
    LARGEST_V6,
  ]);
});

Deno.test("UDP over IPv6: a 65527-byte datagram arrives whole at the end of a slab", async () => {
  // 7 largest datagrams and one of 81 bytes leave 65518 bytes free in the 512 KiB slab.
  const sizes = [...Array(7).fill(LARGEST_V6), 81, LARGEST_V6];
  assertEquals(await receivedSizes(sizes, false), sizes);
});

Deno.test("UDP tendril over IPv6: a 65527-byte frame is one whole frame", async () => {
  const got = Promise.withResolvers<number>();
  class Sink extends Application {
    frameReceived(frame: Uint8Array): void {
      got.resolve(frame.byteLength);
    }
  }
  const server = new UdpTendrilManager("[::1]:0");
  await server.start((t) => new Sink(t));
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
  await peer.send(new Uint8Array(LARGEST_V6), server.localAddress!);
  assertEquals(await got.promise, LARGEST_V6);
  peer.close();
  await server.shutdown();
});
