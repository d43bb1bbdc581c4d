/**
 * Server behaviour at the edges that no other test pinned: connections still being prepared
 * (TLS handshake, wrapper) against `maxConnections` and `close()`, the default `noDelay`, and
 * the abort that ends a shutdown past its timeout.
 */

import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { createConnection, Server, SHUTDOWN_CLOSE_GRACE } from "@plexus/net/endpoints";
import {
  type ByteChannel,
  createMemoryChannelPair,
  type Protocol,
  StreamTransport,
  type Transport,
  TransportError,
} from "@plexus/net/transport";
import { assert } from "../_assert.ts";
import { tls } from "../_net.ts";
import { Recorder } from "../_recorder.ts";

Deno.test("a connection still in its wrapper counts against maxConnections", async () => {
  const gate = Promise.withResolvers<void>();
  const wrapped: PromiseWithResolvers<void>[] = [Promise.withResolvers(), Promise.withResolvers()];
  let calls = 0;
  const server = new Server(() => new Recorder(), {
    maxConnections: 1,
    wrapper: async (channel: ByteChannel) => {
      wrapped[Math.min(calls++, 1)].resolve();
      await gate.promise;
      return channel;
    },
  });
  const [address] = (await server.listen("127.0.0.1:0")) as Deno.NetAddr[];
  const first = await Deno.connect({ hostname: "127.0.0.1", port: address.port });
  await wrapped[0].promise;
  const second = await Deno.connect({ hostname: "127.0.0.1", port: address.port });
  // Rejected at once (EOF), before it reaches the wrapper.
  const outcome = await Promise.race([
    second.read(new Uint8Array(1)).then((n) => `read ${n}`, () => "read failed"),
    wrapped[1].promise.then(() => "wrapped"),
  ]);
  assert(outcome !== "wrapped", "the second connection reached the wrapper");
  assertEquals(server.rejectedConnections, 1);
  assertEquals(calls, 1);
  gate.resolve();
  second.close();
  first.close();
  await server.shutdown({ timeout: 1000 });
});

Deno.test("close() while a wrapper hands its channel back drops it, making no protocol", async () => {
  const gate = Promise.withResolvers<ByteChannel>();
  const inWrapper = Promise.withResolvers<ByteChannel>();
  const errors: Error[] = [];
  let made = 0;
  const server = new Server(() => (made++, new Recorder()), {
    onError: (e) => errors.push(e),
    wrapper: (channel: ByteChannel) => {
      inWrapper.resolve(channel);
      return gate.promise;
    },
  });
  const [address] = (await server.listen("127.0.0.1:0")) as Deno.NetAddr[];
  const client = await Deno.connect({ hostname: "127.0.0.1", port: address.port });
  const channel = await inWrapper.promise;
  // The wrapper's value arrives in the same turn as close(): it settles the race first.
  gate.resolve(channel);
  await server.close();
  await server.waitClosed();
  assertEquals(made, 0, "no protocol for a connection past close()");
  assertEquals(server.connections.size, 0);
  assertEquals(errors, []);
  client.close();
});

Deno.test("close() abandons a connection in its wrapper at once, reporting no error", async () => {
  const inWrapper = Promise.withResolvers<AbortSignal>();
  const errors: Error[] = [];
  const server = new Server(() => new Recorder(), {
    onError: (e) => errors.push(e),
    wrapper: (_channel, { signal }) => {
      inWrapper.resolve(signal!);
      return new Promise<never>(() => {});
    },
  });
  const [address] = (await server.listen("127.0.0.1:0")) as Deno.NetAddr[];
  const client = await Deno.connect({ hostname: "127.0.0.1", port: address.port });
  const signal = await inWrapper.promise;
  await server.close();
  assert(signal.aborted, "close() aborts the wrapper, not its 60 s deadline");
  await server.waitClosed();
  assertEquals(errors, [], "abandoning it is the server's doing, not an error to report");
  client.close();
});

Deno.test("accepted TCP connections get noDelay unless told otherwise", async () => {
  // Deno's TcpConn class is not exported: take its prototype from a connection of our own.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: probe.addr.port });
  const proto = Object.getPrototypeOf(conn);
  conn.close();
  probe.close();
  const original = proto.setNoDelay;
  // The server's side of each connection is the one whose local port is the listener's.
  let listening = 0;
  const serverCalls: (boolean | undefined)[] = [];
  proto.setNoDelay = function (this: Deno.TcpConn, value?: boolean) {
    if (this.localAddr.port === listening) serverCalls.push(value);
    return original.call(this, value);
  };
  try {
    for (const noDelay of [undefined, false, true]) {
      const made = Promise.withResolvers<void>();
      const server = new Server(
        () => ({ connectionMade: () => made.resolve(), dataReceived() {} }),
        {
          noDelay,
        },
      );
      const [address] = await server.listen("127.0.0.1:0");
      listening = (address as Deno.NetAddr).port;
      const client = await createConnection(() => new Recorder(), address, { noDelay: false });
      await made.promise;
      client.transport.close();
      await server.shutdown({ timeout: 1000 });
    }
  } finally {
    proto.setNoDelay = original;
  }
  assertEquals(serverCalls, [true, false, true]);
});

Deno.test("a shutdown past its timeout aborts what the protocols' hooks left open", async () => {
  const [a, b] = createMemoryChannelPair({ capacity: 16 });
  let serverSide: StreamTransport | undefined;
  const late = Promise.withResolvers<void>();
  const server = new Server(() => ({
    connectionMade: (t: Transport) => {
      serverSide = t as StreamTransport;
      t.write(new Uint8Array(100_000)); // the peer does not read yet: close() cannot flush
    },
    dataReceived() {},
    // Gives up when its time is over; the close that follows cannot finish on its own.
    shutdown: (signal: AbortSignal) =>
      new Promise<void>((resolve) => {
        signal.addEventListener("abort", () => {
          resolve();
          late.resolve();
        }, { once: true });
      }),
  }));
  server.handleConnection(a, {});
  const shutdown = server.shutdown({ timeout: 10 });
  await late.promise;
  // A turn after the timeout: by now the server must have aborted the connection. Only then
  // does the peer start reading, which would let a graceful close finish.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const peer = new StreamTransport(b, new Recorder());
  await shutdown;
  assertEquals(serverSide!.stats().closeReason, "abort");
  peer.abort();
  await peer.closed;
});

/** A protocol whose peer owes it a read: its shutdown hook closes with last words at the timeout. */
function lastWordsServer(capacity: number): {
  server: Server<Protocol>;
  channel: ByteChannel;
  serverSide: () => StreamTransport;
  spoke: Promise<void>;
} {
  const [a, b] = createMemoryChannelPair({ capacity });
  let serverSide: StreamTransport | undefined;
  const spoke = Promise.withResolvers<void>();
  const server = new Server<Protocol>(() => ({
    connectionMade: (t: Transport) => {
      serverSide = t as StreamTransport;
      t.write(new Uint8Array(100_000)); // the peer does not read yet: close() cannot flush
    },
    dataReceived() {},
    // Never finishes; when its time is over, it tells the peer why and closes.
    shutdown: (signal: AbortSignal) =>
      new Promise<void>(() => {
        signal.addEventListener("abort", () => {
          serverSide!.write(new TextEncoder().encode(`bye: ${signal.reason.message}`));
          serverSide!.close(signal.reason);
          spoke.resolve();
        }, { once: true });
      }),
  }));
  server.handleConnection(a, {});
  return { server, channel: b, serverSide: () => serverSide!, spoke: spoke.promise };
}

Deno.test("a shutdown past its timeout flushes the last words of a protocol that closed with them", async () => {
  // They were aborted with the rest: the peer never learnt why its requests went unanswered.
  const { server, channel, serverSide, spoke } = lastWordsServer(1024);
  const shutdown = server.shutdown({ timeout: 10 });
  await spoke; // the server decided the connection's fate in the same turn
  const peer = new Recorder();
  const peerTransport = new StreamTransport(channel, peer);
  await shutdown;
  await peerTransport.closed;
  const last = "bye: The server's shutdown timed out after 10 ms";
  assertEquals(peer.received, 100_000 + last.length);
  assert(peer.text.endsWith(last), "the last words arrived");
  assertEquals(serverSide().stats().closeReason, "error"); // closed with the reason, not aborted
});

Deno.test("last words a peer does not read hold a shutdown no longer than SHUTDOWN_CLOSE_GRACE", async () => {
  const { server, channel, serverSide, spoke } = lastWordsServer(16);
  const started = performance.now();
  const shutdown = server.shutdown({ timeout: 10 });
  await spoke;
  let guard: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([
    shutdown.then(() => true),
    new Promise<boolean>((resolve) => {
      guard = setTimeout(() => resolve(false), SHUTDOWN_CLOSE_GRACE + 4000);
    }),
  ]);
  clearTimeout(guard);
  const took = performance.now() - started;
  assert(ended, "the shutdown waited for a peer that never reads");
  assert(took >= SHUTDOWN_CLOSE_GRACE, `ended after ${Math.round(took)} ms, before the grace`);
  assert(serverSide().stats().bytesSent < 100_000, "nothing more could be sent");
  const peer = new StreamTransport(channel, new Recorder());
  peer.abort();
  await peer.closed;
});

Deno.test("shutdown() called again returns the same promise and drains each protocol once", async () => {
  const [a, b] = createMemoryChannelPair();
  let hooks = 0;
  const release = Promise.withResolvers<void>();
  const server = new Server(() => ({
    dataReceived() {},
    shutdown: () => (hooks++, release.promise),
  }));
  server.handleConnection(a, {});
  const peer = new StreamTransport(b, new Recorder());
  const first = server.shutdown({ timeout: 1000 });
  const second = server.shutdown();
  assert(first === second, "the same promise");
  release.resolve();
  await first;
  assertEquals(hooks, 1);
  await peer.closed;
});

Deno.test("run() with a signal aborted already shuts down at once", async () => {
  const server = new Server(() => new Recorder());
  await server.listen("127.0.0.1:0");
  const running = server.run({ signal: AbortSignal.abort() });
  // The shutdown starts within the microtasks of this turn; a turn later it must have begun.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const turn = new Promise((resolve) => {
    timer = setTimeout(resolve, 0);
  });
  await Promise.race([running, turn]);
  clearTimeout(timer);
  const began = server.shutdownSignal.aborted;
  if (!began) await server.shutdown(); // ends run() all the same
  await running;
  assert(began, "run() did not see its signal was aborted");
  assertEquals(server.isServing(), false);
});

Deno.test("close() removes the Unix socket files the server listened on", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/pinned.sock`;
  const server = new Server(() => new Recorder());
  await server.listen({ path });
  assert((await Deno.lstat(path)).isSocket);
  await server.close();
  await assertRejects(() => Deno.lstat(path), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("close() while listen() resolves its addresses makes listen() fail, opening nothing", async () => {
  const server = new Server(() => new Recorder());
  const listening = server.listen("127.0.0.1:0");
  const closing = server.close();
  await assertRejects(() => listening, TransportError, "Cannot listen: the server is closed");
  await closing;
  assertEquals(server.addresses, []);
});

Deno.test("a server's connections get a 32 MiB write cap unless told otherwise", async () => {
  for (const [maxWriteBuffer, expected] of [[undefined, 32 * 1024 * 1024], [1000, 1000]]) {
    const server = new Server(() => new Recorder(), { maxWriteBuffer });
    const [a, b] = createMemoryChannelPair();
    server.handleConnection(a, {});
    const [transport] = server.connections.keys();
    assertEquals(transport.getMaxWriteBuffer(), expected);
    transport.abort();
    b.close();
    await transport.closed;
  }
});

Deno.test("a server stops serving as soon as close() is called", async () => {
  const server = new Server(() => new Recorder());
  await server.listen("127.0.0.1:0");
  assert(server.isServing());
  const closing = server.close();
  assertEquals(server.isServing(), false, "while its accept loops wind down too");
  await closing;
  assertEquals(server.isServing(), false);
});

Deno.test("a TLS listener on a Unix socket with a certificate it cannot load fails to listen", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/tls.sock`;
  const server = new Server(() => new Recorder());
  const error = await assertRejects(
    () => server.listen({ path }, { tls: { cert: "not a PEM", key: tls.key } }),
    TransportError,
  );
  assertStringIncludes(
    error.message,
    `Cannot listen on ${path}: Cannot load the default certificate`,
  );
  assertEquals(server.addresses, []);
  await server.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("waitClosed() waits for a connection added while the last one was ending", async () => {
  const server = new Server(() => new Recorder());
  const [a1, b1] = createMemoryChannelPair();
  const [a2, b2] = createMemoryChannelPair();
  server.handleConnection(a1, {});
  const [first] = server.connections.keys();
  const waiting = server.waitClosed().then(() => "closed");
  // Reactions on `closed` run before the server hears of the end: this one adds a connection.
  first.closed.then(() => server.handleConnection(a2, {}));
  first.abort();
  b1.close();
  await first.closed;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const turn = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("pending"), 0);
  });
  assertEquals(await Promise.race([waiting, turn]), "pending", "one connection is still live");
  clearTimeout(timer);
  assertEquals(server.connections.size, 1);
  const [second] = server.connections.keys();
  second.abort();
  b2.close();
  assertEquals(await waiting, "closed");
});
