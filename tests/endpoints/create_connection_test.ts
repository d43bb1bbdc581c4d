import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { assertInstanceOf } from "../_assert.ts";
import {
  createConnection,
  createServer,
  openConnection,
  tls,
  WrapperChain,
} from "@plexus/net/endpoints";
import { ProtocolAdapter } from "@plexus/net/protocol";
import { TransportError } from "@plexus/net/transport";
import { Recorder } from "../_recorder.ts";
import { bytes } from "../_shared.ts";
import { tls as fixtures } from "../_net.ts";

class Echo extends ProtocolAdapter {
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
}

async function roundTrip(address: Parameters<typeof createConnection>[1]): Promise<string> {
  const { transport, protocol } = await createConnection(() => new Recorder(), address);
  transport.write(bytes("round trip"));
  transport.writeEof();
  await transport.closed;
  return protocol.text;
}

Deno.test("createConnection accepts every address form", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/echo.sock`;
  await using server = await createServer(() => new Echo(), [
    "127.0.0.1:0",
    { path },
  ]);
  const tcp = server.addresses[0] as Deno.NetAddr;
  for (
    const address of [
      `127.0.0.1:${tcp.port}`,
      { hostname: "127.0.0.1", port: tcp.port },
      { port: tcp.port },
      `localhost:${tcp.port}`,
      tcp,
      { path },
    ]
  ) {
    assertEquals(await roundTrip(address), "round trip", JSON.stringify(address));
  }
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: tcp.port });
  assertEquals(await roundTrip(conn), "round trip", "an already connected Deno.Conn");
  await server.close();
  await assertRejects(() => Deno.lstat(path), Deno.errors.NotFound, undefined, "socket removed");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("createConnection over IPv6 loopback with a bracketed address", async (t) => {
  let server;
  try {
    server = await createServer(() => new Echo(), "[::1]:0");
  } catch {
    t.step({ name: "IPv6 loopback unavailable here", ignore: true, fn: () => {} });
    return;
  }
  const { port } = server.addresses[0] as Deno.NetAddr;
  assertEquals(await roundTrip(`[::1]:${port}`), "round trip");
  await server[Symbol.asyncDispose]();
});

Deno.test("connecting to a closed port says connection refused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const error = await assertRejects(
    () => createConnection(() => new Recorder(), `127.0.0.1:${port}`),
    TransportError,
  );
  assertStringIncludes(error.message, `Cannot connect to 127.0.0.1:${port}: Connection refused`);
  assertInstanceOf(error.cause, Deno.errors.ConnectionRefused);
});

Deno.test("a bad address is a TypeError that names it", async () => {
  await assertRejects(
    () => createConnection(() => new Recorder(), "::1:80"),
    TypeError,
    'Invalid address "::1:80": put an IPv6 literal in brackets',
  );
  await assertRejects(
    () => createConnection(() => new Recorder(), "no-port"),
    TypeError,
    'Invalid address "no-port"',
  );
  await assertRejects(
    () => createConnection(() => new Recorder(), { hostname: "127.0.0.1", port: 70000 }),
    TypeError,
    "port 70000 is not an integer in 0..65535",
  );
});

Deno.test("an unresolvable host says so", async () => {
  const error = await assertRejects(
    () => createConnection(() => new Recorder(), "no-such-host.invalid:80"),
    TransportError,
  );
  assertStringIncludes(error.message, "Cannot connect to no-such-host.invalid:80:");
  assertStringIncludes(error.message.toLowerCase(), "lookup");
});

Deno.test("a connect that stalls times out, and an abort signal cancels it", async () => {
  // A listen queue of one that nobody accepts from: the second connect stalls in the kernel.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 0 });
  using _first = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const error = await assertRejects(
    () => createConnection(() => new Recorder(), listener.addr, { timeout: 50 }),
    TransportError,
  );
  assertEquals(
    error.message,
    `Cannot connect to 127.0.0.1:${listener.addr.port}: timed out after 50 ms`,
  );
  const controller = new AbortController();
  const attempt = createConnection(() => new Recorder(), listener.addr, {
    signal: controller.signal,
  });
  controller.abort(new Error("changed my mind"));
  await assertRejects(() => attempt, Error, "changed my mind");
});

Deno.test("localAddress binds the outgoing connection", async () => {
  const peers: (Deno.Addr | undefined)[] = [];
  await using server = await createServer(
    () => new Recorder({ onConnect: (t) => peers.push(t.getExtraInfo("peername")) }),
    "127.0.0.1:0",
  );
  const { transport } = await createConnection(() => new Recorder(), server.addresses[0], {
    localAddress: { hostname: "127.0.0.2" },
  });
  assertEquals((transport.getExtraInfo("sockname") as Deno.NetAddr).hostname, "127.0.0.2");
  transport.write(bytes("from 127.0.0.2"));
  transport.close();
  await transport.closed;
  assertEquals((peers[0] as Deno.NetAddr).hostname, "127.0.0.2");
});

Deno.test("localAddress may be a host name: it is resolved before binding", async () => {
  await using server = await createServer(() => new Recorder(), "127.0.0.1:0");
  const { transport } = await createConnection(() => new Recorder(), server.addresses[0], {
    localAddress: "localhost:0",
  });
  assertEquals((transport.getExtraInfo("sockname") as Deno.NetAddr).hostname, "127.0.0.1");
  transport.close();
  await transport.closed;
});

Deno.test("openConnection gives Web Streams with half-close", async () => {
  await using server = await createServer(() => new Echo(), "127.0.0.1:0");
  const { readable, writable, transport } = await openConnection(server.addresses[0]);
  await new Blob(["streamed ", "echo"]).stream().pipeTo(writable);
  assertEquals(await new Response(readable).text(), "streamed echo");
  await transport.closed;
});

Deno.test("a connection from a localAddress still half-closes", async () => {
  await using server = await createServer(
    () =>
      new Recorder({
        keepOpenOnEof: true,
        onData: () => {},
        onConnect: (t) => {
          t.write(bytes("question"));
          t.writeEof(); // the server is done talking, the client answers after that
        },
      }),
    "127.0.0.1:0",
  );
  const { transport, protocol } = await createConnection(
    () =>
      new Recorder({
        keepOpenOnEof: true,
        onData: (_data, r) =>
          r.until(() => r.events.includes("eof")).then(() => {
            r.transport.write(bytes("answer after your EOF"));
            r.transport.writeEof();
          }),
      }),
    server.addresses[0],
    { localAddress: { hostname: "127.0.0.1" } },
  );
  await transport.closed;
  assertEquals(protocol.text, "question");
  assertEquals(await transport.closed, undefined, "our write after the peer's EOF went through");
});

Deno.test("address parsing refuses what no resolver would take, naming the address", async () => {
  const cases: [unknown, string][] = [
    [{ port: "80" }, 'Invalid address {"port":"80"}: port "80" is not an integer in 0..65535'],
    ["[]:80", 'Invalid address "[]:80": "[]" is not a host'],
    [" 127.0.0.1:80", 'Invalid address " 127.0.0.1:80": " 127.0.0.1" is not a host'],
    ["[::1]x:80", 'Invalid address "[::1]x:80": "[::1]x" is not a host'],
    [{ path: "" }, 'Invalid address {"path":""}: expected'],
    [42, "Invalid address 42: expected"],
  ];
  for (const [address, message] of cases) {
    await assertRejects(
      () => createConnection(() => new Recorder(), address as string),
      TypeError,
      message,
    );
  }
});

Deno.test("timeout and signal bound a wrapper that ignores its signal", async () => {
  await using server = await createServer(() => new Echo(), "127.0.0.1:0");
  const stuck = (): Promise<never> => new Promise<never>(() => {}); // never settles
  const error = await assertRejects(
    () =>
      createConnection(() => new Recorder(), server.addresses[0], { timeout: 50, wrapper: stuck }),
    TransportError,
  );
  assertStringIncludes(error.message, "timed out after 50 ms");
  const controller = new AbortController();
  const wrapping = Promise.withResolvers<void>();
  const attempt = createConnection(() => new Recorder(), server.addresses[0], {
    signal: controller.signal,
    wrapper: () => (wrapping.resolve(), stuck()),
  });
  await wrapping.promise;
  controller.abort(new Error("changed my mind"));
  await assertRejects(() => attempt, Error, "changed my mind");
  // The server saw both connections end: the attempts closed their sockets.
  await server.shutdown({ timeout: 1000 });
  assertEquals(server.connections.size, 0);
});

Deno.test("a wrapper chain failing after its TLS step closes the TLS connection it made", async () => {
  await using server = await createServer(() => new Echo(), "127.0.0.1:0", {
    tls: { cert: fixtures.cert, key: fixtures.key },
  });
  const chain = new WrapperChain(tls({ caCerts: [fixtures.ca] })).chain(() => {
    throw new Error("second wrapper fails");
  });
  await assertRejects(
    () => createConnection(() => new Echo(), server.addresses[0], { wrapper: chain }),
    TransportError,
    "second wrapper fails",
  );
  // The resource sanitizer finds the client's TLS connection if the chain left it open.
  server.abortClients();
});

Deno.test("localAddress: a name that does not resolve says so", async () => {
  await using server = await createServer(() => new Recorder(), "127.0.0.1:0");
  const error = await assertRejects(
    () =>
      createConnection(() => new Recorder(), server.addresses[0], {
        localAddress: "no-such-host.invalid:0",
      }),
    TransportError,
  );
  assertStringIncludes(error.message, 'Cannot resolve localAddress "no-such-host.invalid"');
});

Deno.test("localAddress is refused where it cannot apply: a Unix socket, a connected Deno.Conn", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using server = await createServer(() => new Recorder(), [
      { path: `${dir}/s` },
      "127.0.0.1:0",
    ]);
    const [unix, tcp] = server.addresses;
    // Bug: the option was dropped and the connection made from wherever the OS chose.
    const refused = await assertRejects(
      () => createConnection(() => new Recorder(), unix, { localAddress: "127.0.0.1:0" }),
      TypeError,
    );
    assertStringIncludes(refused.message, "localAddress");
    assertStringIncludes(refused.message, `${dir}/s`);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: (tcp as Deno.NetAddr).port });
    const given = await assertRejects(
      () => createConnection(() => new Recorder(), conn, { localAddress: "127.0.0.1:0" }),
      TypeError,
    );
    assertStringIncludes(given.message, "localAddress");
    // A given conn is createConnection's from the call on: refused, it is closed (it was left
    // open, unlike one refused for a bad transport option).
    assertThrows(() => conn.close(), Deno.errors.BadResource);
    const other = await Deno.connect({ hostname: "127.0.0.1", port: (tcp as Deno.NetAddr).port });
    await assertRejects(
      () => createConnection(() => new Recorder(), other, { timeout: -1 }),
      RangeError,
    );
    assertThrows(() => other.close(), Deno.errors.BadResource);
    server.abortClients();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
