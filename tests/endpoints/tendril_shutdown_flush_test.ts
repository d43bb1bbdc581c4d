/**
 * A manager's `shutdown()` is graceful, as a `Server`'s: what the applications sent before it
 * reaches the peer (it aborted every TCP tendril and the UDP socket's send queue).
 */
import { Application, TcpTendrilManager, UdpTendrilManager } from "@plexus/net/endpoints";
import { assertEquals, assertThrows } from "@std/assert";

class Quiet extends Application {
  override frameReceived(_frame: Uint8Array): void {}
}

Deno.test("UDP manager: datagrams sent just before shutdown() reach the peer", async () => {
  const sink = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start();
  const tendril = (await manager.connect(sink.addr, (t) => new Quiet(t)))!;
  for (let i = 0; i < 20; i++) tendril.sendFrame(new TextEncoder().encode(`reply ${i}`));
  await manager.shutdown();
  const got: string[] = [];
  // Only a guard against a hang (the datagrams were dropped): it fails the test.
  const guard = setTimeout(() => sink.close(), 2000);
  try {
    for (let i = 0; i < 20; i++) {
      const [data] = await sink.receive();
      got.push(new TextDecoder().decode(data));
    }
  } finally {
    clearTimeout(guard);
    try {
      sink.close();
    } catch {
      // Closed by the guard.
    }
  }
  assertEquals(got, Array.from({ length: 20 }, (_, i) => `reply ${i}`));
});

Deno.test("TCP manager: frames sent just before shutdown() reach the peer", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const manager = new TcpTendrilManager("127.0.0.1:0");
  await manager.start();
  const accepted = listener.accept();
  const tendril = (await manager.connect(listener.addr, (t) => new Quiet(t)))!;
  using conn = await accepted;
  const line = new Uint8Array(60_000).fill(0x61);
  for (let i = 0; i < 64; i++) tendril.sendFrame(line);
  const shutdown = manager.shutdown();
  assertEquals(manager.shutdown(), shutdown); // the same shutdown
  let total = 0;
  const buffer = new Uint8Array(1 << 16);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    total += n;
  }
  await shutdown;
  assertEquals(total, 64 * 60_002); // 64 lines and their CRLF
});

Deno.test("TCP manager: shutdown aborts after its timeout a tendril whose peer does not read", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const manager = new TcpTendrilManager("127.0.0.1:0");
  await manager.start();
  const accepted = listener.accept();
  const tendril = (await manager.connect(listener.addr, (t) => new Quiet(t)))!;
  using _conn = await accepted; // never read: the flush cannot finish
  const line = new Uint8Array(60_000).fill(0x61);
  for (let i = 0; i < 400; i++) tendril.sendFrame(line); // 24 MB: more than the sockets hold
  assertThrows(() => manager.shutdown({ timeout: -1 }), RangeError); // and nothing changes
  const running = manager.shutdown({ timeout: 50 });
  assertThrows(() => manager.shutdown({ timeout: NaN }), RangeError);
  assertEquals(manager.shutdown(), running, "the running shutdown is still the one");
  await running;
  assertEquals(manager.tendrils.size, 0);
});
