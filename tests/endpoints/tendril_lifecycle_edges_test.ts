/** Tendril managers at the edges of start, stop, connect and shutdown (from a review round). */

import { assertEquals } from "@std/assert";
import { Application, TcpTendrilManager, UdpTendrilManager } from "@plexus/net/endpoints";

class Quiet extends Application {
  frameReceived(_frame: Uint8Array): void {}
}

Deno.test("UDP manager: start(), stop(), start() in one turn binds one socket; the latest start() wins", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  const first = manager.start((t) => new Quiet(t));
  manager.stop(); // not awaited: the first start() is still binding
  const second = manager.start((t) => new Quiet(t));
  const results = await Promise.allSettled([first, second]);
  await manager.shutdown(); // the sanitizer sees any socket left open
  assertEquals(results.map((r) => r.status), ["rejected", "fulfilled"]);
});

Deno.test("TCP manager: a connect() begun just before shutdown() does not dial after shutdown() began", async () => {
  const server = new TcpTendrilManager("127.0.0.1:0");
  await server.start((t) => new Quiet(t));
  const client = new TcpTendrilManager("127.0.0.1:0");
  await client.start();
  const log: string[] = [];
  const pending = client.connect(server.localAddress!, (t) => {
    log.push("client acceptor ran");
    return new Quiet(t);
  });
  await client.shutdown();
  log.push("shutdown() resolved");
  const settled = await pending.then(() => "connected", (e) => `rejected: ${e.message}`);
  await server.shutdown();
  assertEquals(settled, "rejected: Cannot connect: the manager was shut down");
  assertEquals(log, ["shutdown() resolved"]);
});

class Frames extends Application {
  frames: Uint8Array[] = [];
  next = Promise.withResolvers<void>();
  frameReceived(frame: Uint8Array): void {
    this.frames.push(frame.slice());
    this.next.resolve();
    this.next = Promise.withResolvers<void>();
  }
}

Deno.test("UDP manager: an onError that throws for a throwing acceptFilter does not take the socket down", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0", {
    acceptFilter: (_addr, data) => {
      if (data[0] === 0x21) throw new Error("filter bug");
      return true;
    },
    onError: () => {
      throw new Error("onError bug");
    },
  });
  const live = Promise.withResolvers<Frames>();
  await server.start((t) => {
    const app = new Frames(t);
    live.resolve(app);
    return app;
  });
  const good = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const bad = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await good.send(new Uint8Array([1]), server.localAddress!);
  const app = await live.promise;
  if (app.frames.length === 0) await app.next.promise;
  const logged = console.error;
  console.error = () => {}; // the throwing onError is logged
  let outcome: string;
  try {
    const second = app.next.promise;
    await bad.send(new Uint8Array([0x21]), server.localAddress!);
    await good.send(new Uint8Array([2]), server.localAddress!);
    outcome = await Promise.race([
      second.then(() => "second frame delivered"),
      app.tendril.closed.then((e) => `live peer closed: ${e?.message}`),
    ]);
  } finally {
    console.error = logged;
  }
  await server.shutdown();
  good.close();
  bad.close();
  assertEquals(outcome, "second frame delivered");
});
