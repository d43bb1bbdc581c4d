import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { assert } from "../_assert.ts";
import { createConnection, createServer } from "@plexus/net/endpoints";
import { TransportError } from "@plexus/net/transport";
import { tls } from "../_net.ts";
import { Recorder } from "../_recorder.ts";
import { bytes } from "../_shared.ts";

/** A protocol factory that keeps what it made and says when `n` connections exist. */
function tracked(options?: ConstructorParameters<typeof Recorder>[0]): {
  factory: () => Recorder;
  made: Recorder[];
  untilMade(n: number): Promise<void>;
} {
  const made: Recorder[] = [];
  let waiters: { n: number; resolve: () => void }[] = [];
  return {
    made,
    factory: () => {
      const r = new Recorder(options);
      made.push(r);
      waiters = waiters.filter((w) => !(made.length >= w.n && (w.resolve(), true)));
      return r;
    },
    untilMade: (n) =>
      made.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
  };
}

Deno.test("a server tracks connections; closeClients flushes them, waitClosed sees them go", async () => {
  const served = tracked({ keepOpenOnEof: true });
  const server = await createServer(served.factory, ["127.0.0.1:0", "127.0.0.1:0"]);
  assertEquals(server.addresses.length, 2);
  const clients = await Promise.all(
    server.addresses.map((a) => createConnection(() => new Recorder(), a)),
  );
  for (const { transport } of clients) transport.writeEof();
  await served.untilMade(2);
  await Promise.all(served.made.map((r) => r.untilEvent("eof")));
  assertEquals(server.connections.size, 2);
  for (const t of server.connections.keys()) t.write(bytes("bye")); // flushed by closeClients
  await server.close();
  assert(!server.isServing());
  server.closeClients();
  await server.waitClosed();
  assertEquals(server.connections.size, 0);
  for (const { transport, protocol } of clients) {
    await transport.closed;
    assertEquals(protocol.text, "bye");
  }
  for (const r of served.made) assertEquals(r.count("connectionLost"), 1);
});

Deno.test("close stops listening but leaves live connections; abortClients ends them", async () => {
  const served = tracked();
  const server = await createServer(served.factory, "127.0.0.1:0");
  const { transport, protocol } = await createConnection(() => new Recorder(), server.addresses[0]);
  await served.untilMade(1);
  await server.close();
  await assertRejects(
    () => createConnection(() => new Recorder(), server.addresses[0]),
    TransportError,
    "refused",
  );
  transport.write(bytes("still connected"));
  await served.made[0].until(() => served.made[0].text === "still connected");
  server.abortClients();
  await server.waitClosed();
  await transport.closed;
  assertEquals(protocol.count("connectionLost"), 1);
});

Deno.test("listening on a busy port says which address", async () => {
  await using first = await createServer(() => new Recorder(), "127.0.0.1:0");
  const { port } = first.addresses[0] as Deno.NetAddr;
  const error = await assertRejects(
    () => createServer(() => new Recorder(), ["127.0.0.1:0", `127.0.0.1:${port}`]),
    TransportError,
  );
  assertStringIncludes(error.message, `Cannot listen on 127.0.0.1:${port}:`);
});

Deno.test("reusePort lets two servers share a port", async () => {
  await using a = await createServer(() => new Recorder(), "127.0.0.1:0", { reusePort: true });
  const { port } = a.addresses[0] as Deno.NetAddr;
  await using b = await createServer(() => new Recorder(), `127.0.0.1:${port}`, {
    reusePort: true,
  });
  assertEquals((b.addresses[0] as Deno.NetAddr).port, port);
});

Deno.test("TLS over a Unix socket handshakes through node:tls", async () => {
  const dir = await Deno.makeTempDir();
  await using server = await createServer(
    () => new Recorder({ onData: (d, r) => r.transport.write(d) }),
    { path: `${dir}/tls.sock` },
    { tls: { cert: tls.cert, key: tls.key, alpnProtocols: ["x"] } },
  );
  const { transport, protocol } = await createConnection(() => new Recorder(), {
    path: `${dir}/tls.sock`,
  }, { tls: { caCerts: [tls.ca], alpnProtocols: ["x"] }, serverHostname: "localhost" });
  assertEquals(transport.getExtraInfo("alpnProtocol"), "x");
  transport.write(bytes("unix tls"));
  await protocol.until(() => protocol.text === "unix tls");
  transport.close();
  await transport.closed;
  await server.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a protocol factory that throws is reported and its connection closed", async () => {
  const reported = Promise.withResolvers<Error>();
  await using server = await createServer(
    () => {
      throw new Error("factory failed");
    },
    "127.0.0.1:0",
    { onError: reported.resolve },
  );
  const { transport } = await createConnection(() => new Recorder(), server.addresses[0]);
  assertEquals((await reported.promise).message, "factory failed");
  await transport.closed;
});
