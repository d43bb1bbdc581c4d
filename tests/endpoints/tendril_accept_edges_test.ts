/** Tendril acceptors that fail, refuse or outlive their connection; Server hand-overs after shutdown. */

import { assertEquals } from "@std/assert";
import {
  Application,
  RejectConnection,
  Server,
  TcpTendrilManager,
  type Tendril,
  UdpTendrilManager,
} from "@plexus/net/endpoints";
import type { ByteChannel, ExtraInfo } from "@plexus/net/transport";

class Quiet extends Application {
  frameReceived(_frame: Uint8Array): void {}
}

class ThrowingClosed extends Application {
  frameReceived(_frame: Uint8Array): void {}
  override closed(_error: Error | undefined): void {
    throw new Error("closed() failed");
  }
}

Deno.test("UDP tendril: closed() throwing after a loss during an async acceptor goes to onError", async () => {
  const errors: Error[] = [];
  const reported = Promise.withResolvers<void>();
  const server = new UdpTendrilManager("127.0.0.1:0", {
    onError: (error) => {
      errors.push(error);
      reported.resolve();
    },
  });
  const inAcceptor = Promise.withResolvers<Tendril>();
  const gate = Promise.withResolvers<void>();
  await server.start(async (tendril) => {
    inAcceptor.resolve(tendril);
    await gate.promise;
    return new ThrowingClosed(tendril);
  });
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await socket.send(new Uint8Array([1]), server.localAddress!);
  const tendril = await inAcceptor.promise;
  await server.shutdown(); // the peer is lost while its acceptor runs
  await tendril.closed;
  gate.resolve(); // the acceptor returns: closed() throws (it ended the process)
  await reported.promise;
  socket.close();
  assertEquals(errors.map((e) => e.message), ["closed() failed"]);
});

Deno.test("TCP tendril: an acceptor's throw reaches onError", async () => {
  const errors: Error[] = [];
  const server = new TcpTendrilManager("127.0.0.1:0", { onError: (e) => void errors.push(e) });
  const seen = Promise.withResolvers<Tendril>();
  await server.start((tendril) => {
    seen.resolve(tendril);
    throw new TypeError("acceptor bug");
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.localAddress!.port });
  const closedWith = await (await seen.promise).closed;
  conn.close();
  await server.shutdown();
  assertEquals(closedWith?.message, "acceptor bug");
  assertEquals(errors.map((e) => e.message), ["acceptor bug"]);
});

Deno.test("TCP tendril: a refusal sent before RejectConnection reaches the peer", async () => {
  const server = new TcpTendrilManager("127.0.0.1:0");
  await server.start((tendril) => {
    tendril.sendFrame(new TextEncoder().encode("421 too busy"));
    throw new RejectConnection("busy");
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.localAddress!.port });
  const reply = await new Response(conn.readable).text();
  await server.shutdown();
  assertEquals(reply, "421 too busy\r\n");
});

Deno.test("TCP manager: a connect() its acceptor refuses is no accepted connection in stats()", async () => {
  const server = new TcpTendrilManager("127.0.0.1:0");
  await server.start((t) => new Quiet(t));
  const client = new TcpTendrilManager("127.0.0.1:0");
  await client.start();
  const refused = await client.connect(server.localAddress!, () => {
    throw new RejectConnection();
  });
  assertEquals(refused, undefined);
  const stats = client.stats();
  assertEquals(client.rejectedConnections, 1, "every refusal is counted there");
  await client.shutdown();
  await server.shutdown();
  assertEquals([stats.accepted, stats.rejected], [0, 0]);
});

Deno.test("Server: a connection an async handleConnection hands over after shutdown() is closed, not served", async () => {
  const gate = Promise.withResolvers<void>();
  const entered = Promise.withResolvers<void>();
  const handed = Promise.withResolvers<void>();
  class Slow extends Server {
    override async handleConnection(channel: ByteChannel, extra: ExtraInfo): Promise<void> {
      entered.resolve();
      await gate.promise;
      super.handleConnection(channel, extra);
      handed.resolve();
    }
  }
  const server = new Slow(() => ({ dataReceived() {} }));
  const [address] = await server.listen("127.0.0.1:0") as Deno.NetAddr[];
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: address.port });
  await entered.promise;
  await server.shutdown({ timeout: Infinity });
  gate.resolve();
  await handed.promise;
  assertEquals(server.connections.size, 0);
  assertEquals(await conn.read(new Uint8Array(8)), null, "the server closed it");
  conn.close();
});

Deno.test("TCP manager: a tendril the acceptor refused counts as rejected only, also while it lingers", async () => {
  // Its close lingers for the peer's EOF: it showed as active meanwhile, then as closed.
  const manager = new TcpTendrilManager("127.0.0.1:0");
  await manager.start(() => {
    throw new RejectConnection();
  });
  const port = manager.localAddress!.port;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new Uint8Array([0x41, 0x0d, 0x0a])); // a line: the acceptor runs on it
  const buffer = new Uint8Array(16);
  while (await conn.read(buffer) !== null) {
    // the manager closes the refused connection: its EOF, then it lingers for ours
  }
  const during = manager.stats();
  conn.close();
  await manager.shutdown({ timeout: 1000 });
  const after = manager.stats();
  assertEquals(
    [during.accepted, during.active, during.rejected, after.accepted, after.closed, after.rejected],
    [0, 0, 1, 0, 0, 1],
  );
});
