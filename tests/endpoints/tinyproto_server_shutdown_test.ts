/**
 * A tinyproto server's close() and run() end each connection the tinyproto way (EOF, then wait
 * for the peer to close): closing the transport at once while the client still sent reset the
 * connection, and the client lost a reply whose send() had resolved.
 */
import { TinyprotoClient, TinyprotoServer } from "@plexus/net/endpoints";
import { assertEquals, assertThrows } from "@std/assert";

async function replyReachesSendingClient(stop: (server: TinyprotoServer) => Promise<void>) {
  const replied = Promise.withResolvers<void>();
  const reply = new Uint8Array(2 << 20).fill(7);
  const server = new TinyprotoServer(() => ({
    transmissionReceived: (message, connection) => {
      if (message.byteLength === 1) connection.send(reply).then(replied.resolve, replied.reject);
    },
  }), { maxSize: 64 << 20 });
  const [address] = await server.listen("127.0.0.1:0");
  const got = Promise.withResolvers<number>();
  const client = new TinyprotoClient(() => ({
    transmissionReceived: (message) => got.resolve(message.byteLength),
  }), { maxSize: 64 << 20 });
  const connection = await client.connectTo(address);
  await connection.send(new Uint8Array([1]));
  await replied.promise; // sent: the server's send() resolved
  const big = connection.send(new Uint8Array(32 << 20)).catch((error) => error); // still sending
  await stop(server);
  const lost = await connection.closed;
  const unfinished = await big;
  await client.close();
  const received = await Promise.race([got.promise, Promise.resolve(-1)]);
  // A reset ended the client's connection before the reply was read ("Connection reset by
  // peer"); now the reply comes, and the unfinished send fails as the connection ends.
  assertEquals({ received, lost: String(lost), unfinished: String(unfinished) }, {
    received: reply.byteLength,
    lost: "TransportError: Cannot send transmission: the peer closed before answering",
    unfinished: "TransportError: Cannot send transmission: the peer closed before answering",
  });
}

Deno.test("tinyproto server close(): a reply sent before close() reaches a client still sending", async () => {
  await replyReachesSendingClient((server) => server.close());
});

Deno.test("tinyproto server run(): a reply sent before the stop reaches a client still sending", async () => {
  await replyReachesSendingClient(async (server) => {
    const stop = new AbortController();
    const running = server.run({ signal: stop.signal });
    stop.abort();
    await running;
  });
});

Deno.test("a connection refused for the limit counts as rejected only, also while it lingers", async () => {
  // Its close lingers for the peer's EOF: it showed as active meanwhile, then as closed,
  // though never accepted.
  const server = new TinyprotoServer(() => ({}), { connectionLimit: 0 });
  const [address] = await server.listen("127.0.0.1:0");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: (address as Deno.NetAddr).port });
  const buffer = new Uint8Array(16);
  while (await conn.read(buffer) !== null) {
    // the connection-limit status, then the server's EOF: it lingers for ours now
  }
  const during = server.stats();
  conn.close();
  await server.close();
  const after = server.stats();
  assertEquals(
    [during.accepted, during.active, during.rejected, after.accepted, after.closed, after.rejected],
    [0, 0, 1, 0, 0, 1],
  );
});

Deno.test("TinyprotoServer passes lingerTimeout to its Server (checked when made)", () => {
  // It had no such option: its connections lingered 2 s, whatever the user wanted.
  assertThrows(
    () => new TinyprotoServer(() => ({}), { lingerTimeout: -1 }),
    RangeError,
    "lingerTimeout",
  );
  new TinyprotoServer(() => ({}), { lingerTimeout: 0 }); // and a good one is taken
});
