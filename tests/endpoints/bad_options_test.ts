import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  createConnection,
  createDatagramEndpoint,
  openConnection,
  Server,
} from "@plexus/net/endpoints";

/**
 * Whether the first connection `listener` accepts is `probe`'s, made after a refused call: a
 * bad option is refused before anything is dialled (it connected, then closed).
 */
async function nothingDialledBefore(listener: Deno.TcpListener): Promise<void> {
  using probe = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using first = await listener.accept();
  assertEquals(
    (first.remoteAddr as Deno.NetAddr).port,
    (probe.localAddr as Deno.NetAddr).port,
    "a connection was made before",
  );
}

for (
  const [name, options] of [
    ["idleTimeout", { idleTimeout: -1 }],
    ["writeBufferLimits", { writeBufferLimits: { high: 1, low: 5 } }],
    ["lingerTimeout", { lingerTimeout: -1 }],
    ["deadlines", { deadlines: { frameTimeout: 0 } }],
  ] as const
) {
  Deno.test(`openConnection: a bad ${name} rejects before it connects`, async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    await assertRejects(() => openConnection(listener.addr, options), RangeError);
    await nothingDialledBefore(listener);
  });
}

Deno.test("createConnection: a bad readSize rejects before it connects", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await assertRejects(
    () => createConnection(() => ({ dataReceived() {} }), listener.addr, { readSize: 0 }),
    RangeError,
  );
  await nothingDialledBefore(listener);
});

Deno.test("createConnection: a bad transport option closes a given Deno.Conn", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using _server = await accepted;
  await assertRejects(
    () => createConnection(() => ({ dataReceived() {} }), conn, { lingerTimeout: NaN }),
    RangeError,
  );
  assertThrows(() => conn.close(), Deno.errors.BadResource);
});

Deno.test("createDatagramEndpoint: bad writeBufferLimits reject and close the socket it bound", async () => {
  await assertRejects(
    () =>
      createDatagramEndpoint(() => ({ datagramReceived() {} }), {
        localAddress: "127.0.0.1:0",
        writeBufferLimits: { high: 1, low: 5 },
      }),
    RangeError,
  );
  // The resource sanitizer checks that no UDP socket is left open.
});

Deno.test("Server: a bad transport option throws when the server is made, not per connection", () => {
  // They were checked only by each accepted connection's transport: every connection was
  // dropped (reported to onError) and the peer read EOF.
  for (
    const options of [
      { lingerTimeout: -1 },
      { lingerTimeout: Infinity },
      { readSize: -5 },
      { writeBufferLimits: { high: 1, low: 5 } },
      { maxWriteBuffer: -1 },
    ]
  ) {
    assertThrows(
      () => new Server(() => ({ dataReceived() {} }), options),
      RangeError,
      undefined,
      JSON.stringify(options),
    );
  }
});
