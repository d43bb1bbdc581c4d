import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import { Client, createConnection, Server } from "@plexus/net/endpoints";
import {
  type ByteChannel,
  type ExtraInfo,
  type StreamTransport,
  type Transport,
  TransportError,
} from "@plexus/net/transport";
import { tls } from "../_net.ts";
import { Recorder } from "../_recorder.ts";
import { bytes } from "../_shared.ts";

/** A server that records its hooks. */
class HookedServer extends Server<Recorder> {
  readonly made: Recorder[] = [];
  readonly lost: { protocol: Recorder; error: Error | undefined }[] = [];
  #waiters: { check: () => boolean; resolve: () => void }[] = [];

  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }

  override connectionMade(transport: StreamTransport, protocol: Recorder): void {
    assertEquals(this.connections.get(transport), protocol);
    this.made.push(protocol);
    this.#notify();
  }

  override connectionLost(
    transport: StreamTransport,
    protocol: Recorder,
    error: Error | undefined,
  ): void {
    assert(!this.connections.has(transport));
    this.lost.push({ protocol, error });
    this.#notify();
  }

  #notify(): void {
    this.#waiters = this.#waiters.filter((w) => !(w.check() && (w.resolve(), true)));
  }
}

Deno.test("Server listens on TCP, Unix and TLS, calling each hook once per connection", async () => {
  const dir = await Deno.makeTempDir();
  const server = new HookedServer(() => new Recorder({ onData: (d, r) => r.transport.write(d) }));
  const [tcp] = await server.listen("127.0.0.1:0");
  const [unix] = await server.listen({ path: `${dir}/s.sock` });
  const [secure] = await server.listen("127.0.0.1:0", { tls: { cert: tls.cert, key: tls.key } });
  assertEquals(server.addresses, [tcp, unix, secure]);
  const clients = await Promise.all([
    createConnection(() => new Recorder(), tcp),
    createConnection(() => new Recorder(), unix),
    createConnection(() => new Recorder(), secure, { tls: { caCerts: [tls.ca] } }),
  ]);
  for (const { transport, protocol } of clients) {
    transport.write(bytes("ping"));
    await protocol.until(() => protocol.text === "ping");
    transport.close();
    await transport.closed;
  }
  await server.until(() => server.lost.length === 3);
  assertEquals(server.made.length, 3);
  assertEquals(new Set(server.lost.map((l) => l.protocol)), new Set(server.made));
  for (const protocol of server.made) assertEquals(protocol.count("connectionLost"), 1);
  await server.close();
  await server.waitClosed();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Server closes connections beyond maxConnections at once and counts them", async () => {
  await using server = new HookedServer(() => new Recorder(), { maxConnections: 2 });
  const [address] = await server.listen("127.0.0.1:0");
  const kept = [
    await createConnection(() => new Recorder(), address),
    await createConnection(() => new Recorder(), address),
  ];
  await server.until(() => server.made.length === 2);
  const extra = await createConnection(() => new Recorder(), address);
  await extra.transport.closed; // the server closed it: EOF
  assertEquals(extra.protocol.events.slice(-2), ["eof", "connectionLost"]);
  assertEquals(server.rejectedConnections, 1);
  assertEquals(server.made.length, 2, "no protocol was made for the rejected connection");
  for (const { transport } of kept) transport.close();
});

Deno.test("Server tells a connection refused for maxConnections why, with refusalMessage", async () => {
  await using server = new HookedServer(() => new Recorder(), {
    maxConnections: 1,
    refusalMessage: "-ERR max number of clients reached\r\n",
  });
  const [address] = await server.listen("127.0.0.1:0");
  const kept = await createConnection(() => new Recorder(), address);
  await server.until(() => server.made.length === 1);
  const refused = await createConnection(() => new Recorder(), address);
  await refused.transport.closed;
  assertEquals(refused.protocol.text, "-ERR max number of clients reached\r\n");
  assertEquals(refused.protocol.events.slice(-2), ["eof", "connectionLost"]);
  assertEquals(server.rejectedConnections, 1);
  kept.transport.close();
});

Deno.test("Server idleTimeout closes a peer that sends nothing", async () => {
  await using server = new HookedServer(() => new Recorder(), { idleTimeout: 30 });
  const [address] = await server.listen("127.0.0.1:0");
  const { transport, protocol } = await createConnection(() => new Recorder(), address);
  await transport.closed; // the server gave up on us
  assertEquals(protocol.events.slice(-2), ["eof", "connectionLost"]);
  await server.until(() => server.lost.length === 1);
  const error = server.lost[0].error;
  assertInstanceOf(error, TransportError);
  assertEquals(error.message, "Connection idle for 30 ms");
});

Deno.test("Server idleTimeout closes a client that floods and never reads", async () => {
  // A well-behaved server stops reading while its replies back up. The client never reads
  // them, so the client is the one stalling: the idle clock must keep running.
  const paused = Promise.withResolvers<void>();
  const lost = Promise.withResolvers<Error | undefined>();
  const server = new Server(() => {
    let transport: Transport;
    return {
      connectionMade: (t: Transport) => transport = t,
      dataReceived: (data: Uint8Array) => transport.write(data.slice()),
      pauseWriting: () => {
        transport.pauseReading();
        paused.resolve();
      },
      resumeWriting: () => transport.resumeReading(),
      connectionLost: lost.resolve,
    };
  }, { idleTimeout: 30 });
  const [address] = await server.listen("127.0.0.1:0");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: (address as Deno.NetAddr).port });
  const flood = (async () => {
    try {
      for (;;) await conn.write(new Uint8Array(64 * 1024)); // and never read
    } catch {
      // The server gave up on us.
    }
  })();
  await paused.promise;
  assertEquals((await lost.promise)?.message, "Connection idle for 30 ms");
  conn.close();
  await flood;
  await server.close();
  await server.waitClosed();
});

Deno.test("Server.run stops on its signal and drains the clients gracefully", async () => {
  const server = new HookedServer(() => new Recorder({ keepOpenOnEof: true }));
  const [address] = await server.listen("127.0.0.1:0");
  const client = await createConnection(() => new Recorder(), address);
  await server.until(() => server.made.length === 1);
  server.made[0].transport.write(bytes("goodbye")); // flushed before the close
  const controller = new AbortController();
  const running = server.run({ signal: controller.signal });
  controller.abort();
  await running;
  assert(!server.isServing());
  assertEquals(server.connections.size, 0);
  await client.transport.closed;
  assertEquals(client.protocol.text, "goodbye");
});

Deno.test("Server.run returns when shutdown() is called elsewhere", async () => {
  const server = new Server(() => new Recorder());
  await server.listen("127.0.0.1:0");
  const running = server.run();
  await server.shutdown();
  // Settled shortly after the shutdown it waited for; before the fix it waited for a signal.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    running.then(() => "returned"),
    new Promise((resolve) => timer = setTimeout(() => resolve("still running"), 2000)),
  ]);
  clearTimeout(timer);
  assertEquals(outcome, "returned");
});

Deno.test("Server.run stops on SIGTERM in a real process", async () => {
  const script = `
    import { Server } from "@plexus/net/endpoints";
    const server = new Server(() => ({ dataReceived() {} }));
    const [address] = await server.listen("127.0.0.1:0");
    const running = server.run(); // the signal handlers are in place once run() returns
    console.log("listening", address.port);
    await running;
    console.log("drained");
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", new URL("../../deno.json", import.meta.url).pathname, script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("listening")) out += (await lines.read()).value ?? "";
  child.kill("SIGTERM");
  for (let chunk; !(chunk = await lines.read()).done;) out += chunk.value;
  const status = await child.status;
  assertStringIncludes(out, "drained");
  assertEquals(status.code, 0);
});

Deno.test("Client: connect, refuse a second connect, close, reconnect", async () => {
  await using server = new HookedServer(() => new Recorder());
  const [address] = await server.listen("127.0.0.1:0");
  const client = new Client(() => new Recorder());
  await client.connect(address);
  await assertRejects(() => client.connect(address), TransportError, "already connected");
  await client.close();
  assertEquals(client.transport, undefined);
  await client.connect(address);
  await client.close();
  await server.until(() => server.lost.length === 2);
});

Deno.test("Client: a failed connect says why and leaves the client usable", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const client = new Client(() => new Recorder(), { timeout: 1000 });
  await assertRejects(() => client.connect(`127.0.0.1:${port}`), TransportError, "refused");
  assertEquals(client.transport, undefined);
  // The client's default timeout applies to its connects.
  using stalled = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 0 });
  using _first = await Deno.connect({ hostname: "127.0.0.1", port: stalled.addr.port });
  const slow = new Client(() => new Recorder(), { timeout: 30 });
  await assertRejects(() => slow.connect(stalled.addr), TransportError, "timed out after 30 ms");
  // An option given as undefined (forwarded from a caller's own options) is not given.
  await assertRejects(
    // (The signal only keeps a regression from hanging the suite.)
    () => slow.connect(stalled.addr, { timeout: undefined, signal: AbortSignal.timeout(5000) }),
    TransportError,
    "timed out after 30 ms",
  );
});

Deno.test("a handleConnection override that throws loses that connection, not the server", async () => {
  const errors: Error[] = [];
  let calls = 0;
  class Flaky extends HookedServer {
    override handleConnection(channel: ByteChannel, extra: ExtraInfo): void {
      if (++calls === 1) throw new Error("handleConnection bug");
      super.handleConnection(channel, extra);
    }
  }
  await using server = new Flaky(() => new Recorder(), { onError: (e) => errors.push(e) });
  const [address] = await server.listen("127.0.0.1:0");
  const first = await createConnection(() => new Recorder(), address);
  await first.transport.closed; // its connection was closed
  assertEquals(errors.map((e) => e.message), ["handleConnection bug"]);
  const second = await createConnection(() => new Recorder(), address);
  await server.until(() => server.made.length === 1);
  assert(server.isServing());
  second.transport.close();
});

Deno.test("closing a server closes connections stuck in a wrapper that ignores its signal", async () => {
  const stuck = Promise.withResolvers<void>();
  const server = new HookedServer(() => new Recorder(), {
    wrapper: () => {
      stuck.resolve();
      return new Promise<never>(() => {}); // never settles, never looks at its signal
    },
  });
  const [address] = await server.listen("127.0.0.1:0");
  const client = await createConnection(() => new Recorder(), address);
  await stuck.promise;
  await server.close();
  await server.waitClosed();
  await client.transport.closed; // the server closed the socket
  assertEquals(server.made.length, 0);
});

Deno.test("a wrapper that hands its channel back after the server closed it ends nothing else", async () => {
  // The wrapper honours its signal by returning early: its channel, which the server has closed
  // already. Closing that again must not throw from a dangling promise (that ends the process).
  const inWrapper = Promise.withResolvers<void>();
  const server = new HookedServer(() => new Recorder(), {
    wrapper: async (channel, { signal }) => {
      inWrapper.resolve();
      await new Promise((resolve) => signal!.addEventListener("abort", resolve, { once: true }));
      return channel;
    },
  });
  const [address] = await server.listen("127.0.0.1:0");
  const client = await createConnection(() => new Recorder(), address);
  await inWrapper.promise;
  await server.close();
  await server.waitClosed();
  await client.transport.closed;
  // The late value is closed from a reaction on the wrapper's promise: let it run.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(server.made.length, 0);
});

Deno.test("a connection accepted as close() runs is dropped, not handshaken past the shutdown timeout", async () => {
  // The accept completes in the same turn as the client's connect, and shutdown() is called
  // from the connect's continuation: close() lands between the accept and its handling. That
  // connection's TLS handshake (a silent client's) must be dropped with the rest, not run to
  // its handshakeTimeout while shutdown() waits for it.
  let closing = false;
  const late: Recorder[] = [];
  class Late extends HookedServer {
    override connectionMade(transport: StreamTransport, protocol: Recorder): void {
      if (closing) late.push(protocol);
      super.connectionMade(transport, protocol);
    }
  }
  const plain = new Late(() => new Recorder());
  const [address] = (await plain.listen("127.0.0.1:0")) as Deno.NetAddr[];
  const client = await Deno.connect({ hostname: "127.0.0.1", port: address.port });
  closing = true;
  await plain.shutdown({ timeout: 1000 });
  client.close();
  assertEquals(late.length, 0, "no connectionMade after close()");

  const secure = new Server(() => new Recorder(), { onError: () => {} });
  const [tlsAddress] = (await secure.listen("127.0.0.1:0", {
    tls: { cert: tls.cert, key: tls.key, handshakeTimeout: 5000 },
  })) as Deno.NetAddr[];
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: tlsAddress.port });
  const started = performance.now();
  await secure.shutdown({ timeout: 50 });
  const took = performance.now() - started;
  silent.close();
  assert(took < 2500, `shutdown({ timeout: 50 }) took ${Math.round(took)} ms`);
});

Deno.test("Server refuses a maxConnections that is no integer >= 1, and a refusalMessage over 4 KiB", () => {
  // 0 (meant as "no limit") refused every connection without a word; NaN meant no limit.
  for (const bad of [0, -1, 1.5, NaN]) {
    assertThrows(
      () => new Server(() => new Recorder(), { maxConnections: bad }),
      RangeError,
      "maxConnections must be an integer >= 1",
    );
  }
  new Server(() => new Recorder(), { maxConnections: 1 });
  new Server(() => new Recorder(), { maxConnections: Infinity });
  // A refusal must fit a new socket's send buffer: writing it never waits on a peer.
  assertThrows(
    () => new Server(() => new Recorder(), { refusalMessage: new Uint8Array(4097) }),
    RangeError,
    "refusalMessage must be at most 4096 bytes",
  );
});
