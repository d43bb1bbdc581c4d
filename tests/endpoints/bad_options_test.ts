import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  createConnection,
  createDatagramEndpoint,
  openConnection,
  Server,
} from "@plexus/net/endpoints";
import { within } from "../_shared.ts";

for (
  const [name, options] of [
    ["idleTimeout", { idleTimeout: -1 }],
    ["writeBufferLimits", { writeBufferLimits: { high: 1, low: 5 } }],
  ] as const
) {
  Deno.test(`openConnection: a bad ${name} rejects and closes the socket it connected`, async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    await assertRejects(() => openConnection(listener.addr, options), RangeError);
    using conn = await accepted;
    // The client's socket is closed: the server reads end of stream.
    assertEquals(await within(conn.read(new Uint8Array(1)), 2000, "the server's read"), null);
  });
}

Deno.test("createConnection: a bad readSize rejects and closes the socket it connected", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  await assertRejects(
    () => createConnection(() => ({ dataReceived() {} }), listener.addr, { readSize: 0 }),
    RangeError,
  );
  using conn = await accepted;
  assertEquals(await within(conn.read(new Uint8Array(1)), 2000, "the server's read"), null);
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
