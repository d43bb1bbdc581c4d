import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import {
  type Acceptor,
  Application,
  formatAddress,
  getManager,
  noDelay,
  PeerEvictedError,
  RejectConnection,
  TcpTendrilManager,
  type Tendril,
  tls,
  UdpTendrilManager,
  type UdpTendrilManagerOptions,
  type Wrapper,
  WrapperChain,
} from "@plexus/net/endpoints";
import { ChunkFramer, type FramedProtocol, LineFramer } from "@plexus/net/framing";
import { subscribe, TransportError } from "@plexus/net/transport";
import { tls as fixtures } from "../_net.ts";
import { bytes } from "../_shared.ts";

const text = (frame: Uint8Array): string => new TextDecoder().decode(frame);

/** An application that records frames and its end, and can wait for them. */
class Recording extends Application {
  readonly frames: string[] = [];
  readonly ends: (Error | undefined)[] = [];
  #waiters: { check: () => boolean; resolve: () => void }[] = [];
  readonly #onFrame?: (frame: Uint8Array, app: Recording) => void;

  constructor(tendril: Tendril, onFrame?: (frame: Uint8Array, app: Recording) => void) {
    super(tendril);
    this.#onFrame = onFrame;
  }

  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }

  frameReceived(frame: Uint8Array): void {
    this.frames.push(text(frame));
    this.#onFrame?.(frame, this);
    this.#notify();
  }

  override closed(error: Error | undefined): void {
    this.ends.push(error);
    this.#notify();
  }

  #notify(): void {
    this.#waiters = this.#waiters.filter((w) => !(w.check() && (w.resolve(), true)));
  }
}

/** Collects the applications an acceptor makes, and says when `n` exist. */
class Made {
  readonly apps: Recording[] = [];
  #waiters: { n: number; resolve: () => void }[] = [];

  add(app: Recording): Recording {
    this.apps.push(app);
    this.#waiters = this.#waiters.filter((w) => !(this.apps.length >= w.n && (w.resolve(), true)));
    return app;
  }

  until(n: number): Promise<void> {
    if (this.apps.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }
}

/** An acceptor that keeps the applications it makes. */
function keeping(onFrame?: (frame: Uint8Array, app: Recording) => void): {
  acceptor: Acceptor;
  apps: Recording[];
  until(n: number): Promise<void>;
} {
  const made = new Made();
  return {
    apps: made.apps,
    until: (n) => made.until(n),
    acceptor: (tendril) => made.add(new Recording(tendril, onFrame)),
  };
}

Deno.test("TCP tendrils carry line frames, switch framers mid-stream, and end once", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  // The server switches to a 5-byte chunk after "DATA 5", and back after the chunk.
  const server = keeping((frame, app) => {
    const t = app.tendril;
    if (text(frame) === "DATA 5") t.recvFramer = new ChunkFramer(5);
    else if (t.recvFramer instanceof ChunkFramer) t.recvFramer = new LineFramer();
    app.sendFrame(bytes(`got ${JSON.stringify(text(frame))}`)); // no line feed in a line
  });
  await manager.start(server.acceptor);
  const client = keeping();
  const tendril = await manager.connect(manager.localAddress!, client.acceptor);
  assert(tendril);
  assertEquals(tendril.proto, "tcp");
  assertEquals(tendril.remoteAddress.port, manager.localAddress!.port);
  for (const line of ["HELO", "DATA 5"]) tendril.sendFrame(bytes(line));
  tendril.sendFramer = new ChunkFramer(5);
  tendril.sendFrame(bytes("ab\ncd"));
  tendril.sendFramer = new LineFramer();
  tendril.sendFrame(bytes("QUIT"));
  const [app] = client.apps;
  await app.until(() => app.frames.length === 4);
  assertEquals(app.frames, ['got "HELO"', 'got "DATA 5"', 'got "ab\\ncd"', 'got "QUIT"']);
  assertEquals(server.apps[0].frames, ["HELO", "DATA 5", "ab\ncd", "QUIT"]);
  assertEquals(manager.tendrils.size, 2, "both ends are tracked");
  app.close();
  await tendril.closed;
  await server.apps[0].until(() => server.apps[0].ends.length === 1);
  assertEquals(app.ends, [undefined]);
  assertEquals(server.apps[0].ends, [undefined]);
  await manager.shutdown();
  assertEquals(manager.tendrils.size, 0);
});

Deno.test("an acceptor may refuse a connection, and an async one holds frames back", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  const gate = Promise.withResolvers<void>();
  const made = new Made();
  const served = made.apps;
  let calls = 0;
  await manager.start(async (tendril) => {
    if (++calls === 1) throw new RejectConnection("go away");
    await gate.promise; // no frame may arrive before the application exists
    tendril.setFramer(new LineFramer());
    return made.add(new Recording(tendril));
  });
  const refused = keeping();
  // The client side of a refused connection sees it closed.
  const first = await manager.connect(manager.localAddress!, refused.acceptor);
  await first!.closed;
  assertEquals(manager.rejectedConnections, 1);
  const client = await manager.connect(manager.localAddress!, keeping().acceptor);
  client!.sendFrame(bytes("early"));
  gate.resolve();
  await made.until(1);
  await served[0].until(() => served[0].frames.length === 1);
  assertEquals(served[0].frames, ["early"]);
  await manager.shutdown();
});

Deno.test("an acceptor refusing an outgoing connection makes connect() return undefined", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  await manager.start(keeping().acceptor);
  const result = await manager.connect(manager.localAddress!, () => {
    throw new RejectConnection();
  });
  assertEquals(result, undefined);
  await manager.shutdown();
});

Deno.test("wrappers chain in order on both sides, TLS included", async () => {
  const order: string[] = [];
  const mark = (name: string): Wrapper => (channel, { side }) => {
    order.push(`${side}:${name}`);
    return channel;
  };
  const serverChain = new WrapperChain(mark("first"), noDelay())
    .chain(tls({ cert: fixtures.cert, key: fixtures.key }))
    .chain(mark("after-tls"));
  const clientChain = new WrapperChain(mark("first"), tls({ caCerts: [fixtures.ca] }));
  const manager = new TcpTendrilManager("127.0.0.1:0");
  const server = keeping((frame, app) => app.sendFrame(frame));
  await manager.start(server.acceptor, serverChain);
  const client = keeping();
  const tendril = await manager.connect(manager.localAddress!, client.acceptor, clientChain);
  tendril!.sendFrame(bytes("over tls"));
  await client.apps[0].until(() => client.apps[0].frames.length === 1);
  assertEquals(client.apps[0].frames, ["over tls"]);
  assertEquals(order.filter((o) => o.startsWith("server")), ["server:first", "server:after-tls"]);
  assertEquals(order.filter((o) => o.startsWith("client")), ["client:first"]);
  await manager.shutdown();
});

Deno.test("stop() closes the listener at once; shutdown() ends every tendril", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  const server = keeping();
  await manager.start(server.acceptor);
  const address = manager.localAddress!;
  const client = keeping();
  const live = await manager.connect(address, client.acceptor);
  await manager.stop();
  assert(!manager.running);
  await assertRejects(
    () => Deno.connect({ hostname: address.hostname, port: address.port }),
    Deno.errors.ConnectionRefused,
  );
  await assertRejects(
    () => manager.connect(address, client.acceptor),
    TransportError,
    "not running",
  );
  live!.sendFrame(bytes("still here"));
  await server.apps[0].until(() => server.apps[0].frames.length === 1);
  await manager.shutdown();
  await live!.closed;
  assertEquals(client.apps[0].ends.length, 1);
  assertEquals(server.apps[0].ends.length, 1);
  await assertRejects(() => manager.start(), TransportError, "shut down");
});

Deno.test("getManager returns one manager per protocol and endpoint until shut down", async () => {
  const tcp = getManager("tcp", "127.0.0.1:0");
  assert(getManager("tcp", { hostname: "127.0.0.1", port: 0 }) === tcp);
  const udp = getManager("udp", "127.0.0.1:0");
  assertEquals([tcp.proto, udp.proto], ["tcp", "udp"]);
  await tcp.start();
  await tcp.shutdown();
  assert(getManager("tcp", "127.0.0.1:0") !== tcp, "a shut down manager is replaced");
  await udp.shutdown();
  // An unknown protocol (one never given to registerManager()).
  assertRejects(() => Promise.resolve().then(() => getManager("sctp")), TypeError, "sctp");
});

Deno.test("UDP pseudo-connections keep two peers apart", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0");
  const served = keeping((frame, app) => app.sendFrame(bytes(`${text(frame)}!`)));
  await server.start(served.acceptor);
  const clients = [new UdpTendrilManager("127.0.0.1:0"), new UdpTendrilManager("127.0.0.1:0")];
  const apps: Recording[] = [];
  for (const [i, client] of clients.entries()) {
    await client.start();
    const got = keeping();
    const tendril = await client.connect(server.localAddress!, got.acceptor);
    tendril!.sendFrame(bytes(`peer ${i} a`));
    tendril!.sendFrame(bytes(`peer ${i} b`));
    apps.push(got.apps[0]);
  }
  for (const app of apps) await app.until(() => app.frames.length === 2);
  assertEquals(apps[0].frames, ["peer 0 a!", "peer 0 b!"]);
  assertEquals(apps[1].frames, ["peer 1 a!", "peer 1 b!"]);
  assertEquals(served.apps.length, 2, "one application per peer");
  assertEquals(served.apps[0].tendril.proto, "udp");
  assertEquals(server.tendrils.size, 2);
  for (const client of clients) await client.shutdown();
  await server.shutdown();
  for (const app of [...apps, ...served.apps]) assertEquals(app.ends.length, 1);
});

Deno.test("UDP peers that stay silent expire after the idle timeout", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0", { idleTimeout: 30 });
  const served = keeping();
  await server.start(served.acceptor);
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await peer.send(bytes("hello"), server.localAddress!);
  await served.until(1);
  const [app] = served.apps;
  await app.until(() => app.ends.length === 1);
  assertInstanceOf(app.ends[0], TransportError);
  assertEquals(app.ends[0].message, "UDP peer idle for 30 ms");
  assertEquals(server.tendrils.size, 0);
  peer.close();
  await server.shutdown();
});

Deno.test("a flood of new UDP peers is bounded by maxPeers and backlog, and counted", async () => {
  const gate = Promise.withResolvers<void>();
  const made = new Made();
  const apps = made.apps;
  const server = new UdpTendrilManager("127.0.0.1:0", { maxPeers: 8, backlog: 4 });
  let acceptorCalls = 0;
  await server.start(async (tendril) => {
    acceptorCalls++;
    if (acceptorCalls > 1) await gate.promise; // peers after the first wait in the backlog
    return made.add(new Recording(tendril));
  });
  const target = server.localAddress!;
  const first = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await first.send(bytes("first"), target);
  // 100 more peers from distinct source ports, as a spoofed-source flood looks.
  const flood = Array.from(
    { length: 100 },
    () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  );
  for (const socket of flood) await socket.send(bytes("flood"), target);
  // Loopback keeps send order: once the first peer's marker arrives, the flood was handled.
  await first.send(bytes("marker"), target);
  await made.until(1);
  await apps[0].until(() => apps[0].frames.includes("marker"));
  assertEquals(acceptorCalls, 1 + 4, "only the backlog's worth of new peers reached the acceptor");
  assertEquals(server.droppedPeers, 100 - 4);
  gate.resolve();
  await made.until(5);
  // The manager records an acceptance when the acceptor's promise settles: one macrotask
  // turn lets those callbacks run.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(server.tendrils.size, 5);
  for (const socket of [first, ...flood]) socket.close();
  await server.shutdown();
});

Deno.test("a UDP accept filter drops peers before the acceptor", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0", {
    acceptFilter: (_addr, datagram) => text(datagram) === "let me in",
  });
  const served = keeping();
  await server.start(served.acceptor);
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await peer.send(bytes("junk"), server.localAddress!);
  await peer.send(bytes("let me in"), server.localAddress!);
  await served.until(1);
  await served.apps[0].until(() => served.apps[0].frames.length === 1);
  assertEquals(served.apps[0].frames, ["let me in"]);
  assertEquals(server.droppedPeers, 1);
  peer.close();
  await server.shutdown();
});

Deno.test("a UDP tendril to a hostname gets the replies sent from its IP address", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0");
  await server.start(keeping((frame, app) => app.sendFrame(frame)).acceptor);
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const got = keeping();
  const tendril = await client.connect(`localhost:${server.localAddress!.port}`, got.acceptor);
  tendril!.sendFrame(bytes("by name"));
  await got.apps[0].until(() => got.apps[0].frames.length === 1);
  assertEquals(got.apps[0].frames, ["by name"]);
  assertEquals(client.droppedDatagrams, 0);
  await client.shutdown();
  await server.shutdown();
});

Deno.test("a throwing UDP acceptFilter drops that peer and leaves the manager serving", async () => {
  const errors: Error[] = [];
  const server = new UdpTendrilManager("127.0.0.1:0", {
    acceptFilter: (_addr, datagram) => {
      if (text(datagram) === "boom") throw new Error("filter bug");
      return true;
    },
    onError: (error) => errors.push(error),
  });
  const served = keeping();
  await server.start(served.acceptor);
  const bad = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const good = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await bad.send(bytes("boom"), server.localAddress!);
  await good.send(bytes("fine"), server.localAddress!);
  await served.until(1);
  await served.apps[0].until(() => served.apps[0].frames.length === 1);
  assertEquals(served.apps[0].frames, ["fine"]);
  assertEquals(errors.map((e) => e.message), ["filter bug"]);
  assertEquals(server.droppedPeers, 1);
  assert(server.running);
  bad.close();
  good.close();
  await server.shutdown();
});

Deno.test("TCP manager: shutdown ends the tendrils of a server from before a restart", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  const first = keeping();
  await manager.start(first.acceptor);
  const oldAddress = manager.localAddress!;
  const client = keeping();
  const early = await manager.connect(oldAddress, client.acceptor);
  await first.until(1);
  await manager.stop();
  await manager.start(keeping().acceptor); // a new listener; the old connection lives on
  await manager.shutdown();
  await early!.closed;
  await first.apps[0].until(() => first.apps[0].ends.length === 1);
});

Deno.test("TCP manager: two connections to one server are two tendrils", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  const served = keeping();
  await manager.start(served.acceptor);
  const a = await manager.connect(manager.localAddress!, keeping().acceptor);
  const b = await manager.connect(manager.localAddress!, keeping().acceptor);
  await served.until(2);
  // Two outgoing and two accepted tendrils, the outgoing ones to the same remote address.
  await new Promise((resolve) => setTimeout(resolve, 0)); // acceptances are recorded async
  assertEquals(manager.tendrils.size, 4);
  a!.close();
  await a!.closed;
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert([...manager.tendrils.values()].includes(b!), "closing one keeps the other tracked");
  await manager.shutdown();
});

Deno.test("TCP manager: a connect still dialling when shutdown() runs does not leave a tendril", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  await manager.start(keeping().acceptor);
  const address = manager.localAddress!;
  const wrapping = Promise.withResolvers<void>();
  const slow: Wrapper = async (channel, { signal }) => {
    wrapping.resolve();
    await new Promise((_, reject) =>
      signal?.addEventListener("abort", () => reject(signal.reason))
    );
    return channel;
  };
  const connecting = manager.connect(address, keeping().acceptor, slow);
  const refused = assertRejects(() => connecting); // handled before shutdown() rejects it
  await wrapping.promise;
  await manager.shutdown();
  await refused;
  assertEquals(manager.tendrils.size, 0);
});

Deno.test("TCP manager: shutdown() or stop() while start() opens its listener closes it", async () => {
  const shut = new TcpTendrilManager("127.0.0.1:0");
  const starting = shut.start(keeping().acceptor);
  await shut.shutdown();
  await assertRejects(() => starting, TransportError);
  assertEquals(shut.localAddress, undefined, "no listener outlives shutdown()");
  const stopped = new TcpTendrilManager("127.0.0.1:0");
  const restarting = stopped.start(keeping().acceptor);
  await stopped.stop();
  await assertRejects(() => restarting, TransportError);
  assert(!stopped.running);
  assertEquals(stopped.localAddress, undefined, "no listener outlives stop()");
  await stopped.shutdown();
});

Deno.test("TCP manager: a start() while stop() closes the old listener is stopped by the next stop()", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  await manager.start(keeping().acceptor);
  const stopping = manager.stop();
  await manager.start(keeping().acceptor);
  await stopping;
  assert(manager.running);
  const address = manager.localAddress!;
  await manager.stop();
  await assertRejects(
    () => Deno.connect({ hostname: address.hostname, port: address.port }),
    Deno.errors.ConnectionRefused,
  );
  await manager.shutdown();
});

/** A UDP socket on 127.0.0.1. */
const udpSocket = (): Deno.DatagramConn =>
  Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });

/** The next datagram's text, or `undefined` after `ms`. */
async function receiveWithin(socket: Deno.DatagramConn, ms = 2000): Promise<string | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) =>
    timer = setTimeout(() => resolve(undefined), ms)
  );
  try {
    return await Promise.race([socket.receive().then(([reply]) => text(reply)), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends `message` from `socket` and returns the answer, or `undefined` after `ms`. */
async function ask(
  socket: Deno.DatagramConn,
  target: Deno.NetAddr,
  message: string,
  ms?: number,
): Promise<string | undefined> {
  await socket.send(bytes(message), target);
  return await receiveWithin(socket, ms);
}

Deno.test("a full UDP peer table evicts its oldest unproven peer for each newcomer", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0", { maxPeers: 8, backlog: 64 });
  const served = keeping((frame, app) => app.sendFrame(frame));
  await server.start(served.acceptor);
  const target = server.localAddress!;
  const regular = udpSocket();
  assertEquals(await ask(regular, target, "a"), "a");
  assertEquals(await ask(regular, target, "b"), "b"); // heard from after our answer: proven
  // 50 one-datagram sources, each answered and never heard from again.
  const sources = Array.from({ length: 50 }, udpSocket);
  for (const socket of sources) await socket.send(bytes("hello"), target);
  assertEquals(await ask(regular, target, "marker"), "marker"); // loopback keeps order
  assertEquals(served.apps.length, 51, "every newcomer got in");
  assertEquals([server.evictedPeers, server.droppedPeers], [50 - 7, 0]);
  assertEquals(server.tendrils.size, 8, "the table stays at maxPeers");
  const evicted = served.apps.filter((app) => app.ends.length === 1);
  assertEquals(evicted, served.apps.slice(1, 44), "the oldest unproven went first");
  const firstSource = `127.0.0.1:${(sources[0].addr as Deno.NetAddr).port}`;
  const error = served.apps[1].ends[0];
  assertInstanceOf(error, PeerEvictedError);
  assertEquals(
    error.message,
    `UDP peer ${firstSource} evicted: the peer table is full (maxPeers 8) and the peer never ` +
      "sent a datagram after one of ours",
  );
  assertEquals([error.peer, error.maxPeers], [firstSource, 8]);
  for (const socket of [regular, ...sources]) socket.close();
  await server.shutdown();
});

Deno.test("proven UDP peers are never evicted: a table full of them drops newcomers", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0", { maxPeers: 2 });
  const served = keeping((frame, app) => app.sendFrame(frame));
  await server.start(served.acceptor);
  const target = server.localAddress!;
  const regulars = [udpSocket(), udpSocket()];
  for (const socket of regulars) {
    assertEquals(await ask(socket, target, "a"), "a");
    assertEquals(await ask(socket, target, "b"), "b"); // proven
  }
  const newcomers = Array.from({ length: 5 }, udpSocket);
  for (const socket of newcomers) await socket.send(bytes("let me in"), target);
  for (const socket of regulars) assertEquals(await ask(socket, target, "c"), "c");
  assertEquals([server.droppedPeers, server.evictedPeers], [5, 0]);
  assertEquals(served.apps.length, 2);
  for (const socket of [...regulars, ...newcomers]) socket.close();
  await server.shutdown();
});

Deno.test("a UDP peer answered once but silent since is evictable; a connect()ed one is not", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0", { maxPeers: 2 });
  const served = keeping((frame, app) => app.sendFrame(frame));
  await server.start(served.acceptor);
  const target = server.localAddress!;
  // A peer we connect() to is trusted from the start, though it never answers.
  const listener = udpSocket();
  await server.connect(listener.addr, (t) => new Recording(t));
  const answered = udpSocket();
  assertEquals(await ask(answered, target, "once"), "once");
  const newcomer = udpSocket();
  assertEquals(await ask(newcomer, target, "new"), "new", "the newcomer got in");
  assertEquals(server.evictedPeers, 1);
  assertInstanceOf(served.apps[0].ends[0], PeerEvictedError);
  const kept = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  assert(server.tendrils.has(kept), "the connect()ed peer stays");
  for (const socket of [listener, answered, newcomer]) socket.close();
  await server.shutdown();
});

Deno.test("a UDP greeting sent by the acceptor does not prove a one-datagram source", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0", { maxPeers: 2 });
  const made = new Made();
  // The application greets each new peer as it is made: before the peer's first datagram
  // reaches it. That datagram came before our greeting, so it proves nothing.
  await server.start((tendril) => {
    tendril.sendFrame(bytes("welcome"));
    return made.add(new Recording(tendril));
  });
  const target = server.localAddress!;
  const sources = Array.from({ length: 3 }, udpSocket);
  for (const socket of sources) {
    await socket.send(bytes("hello"), target);
    assertEquals(await receiveWithin(socket), "welcome");
  }
  await made.until(3);
  await made.apps[2].until(() => made.apps[2].frames.length === 1);
  assertEquals([server.evictedPeers, server.droppedPeers], [1, 0], "the newcomer got in");
  assertInstanceOf(made.apps[0].ends[0], PeerEvictedError);
  for (const socket of sources) socket.close();
  await server.shutdown();
});

Deno.test("an empty UDP datagram is one empty frame under the identity framer", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0");
  const served = keeping((frame, app) => app.sendFrame(frame));
  await server.start(served.acceptor);
  const target = server.localAddress!;
  const peer = udpSocket();
  // The first datagram is empty too: it waits in the peer's queue while the acceptor runs.
  for (const message of ["", "x", "", "", "end"]) await peer.send(bytes(message), target);
  const replies: (string | undefined)[] = [];
  for (let i = 0; i < 5 && replies.at(-1) !== "end"; i++) {
    const reply = await receiveWithin(peer);
    replies.push(reply);
    if (reply === undefined) break;
  }
  assertEquals(replies, ["", "x", "", "", "end"], "one frame, one echo datagram, for each");
  const [app] = served.apps;
  assertEquals(app.frames, ["", "x", "", "", "end"]);
  // Under a stream framer an empty datagram is zero bytes of the stream: no frame.
  app.tendril.setFramer(new LineFramer());
  await peer.send(bytes(""), target);
  assertEquals(await ask(peer, target, "line\n"), "line\r\n");
  assertEquals(app.frames.slice(5), ["line"]);
  peer.close();
  await server.shutdown();
});

Deno.test("an empty UDP datagram is counted in framesReceived and traced, as any datagram", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0");
  const served = keeping();
  await server.start(served.acceptor);
  const peer = udpSocket();
  const traced: string[] = [];
  using _ = subscribe({
    frame: (e) => {
      if (e.direction !== "receive" || e.transport !== peerTransport(served.apps[0])) return;
      traced.push(`${e.framer} ${JSON.stringify(e.bytes && text(e.bytes))}`);
    },
  });
  for (const message of ["x", "", "y", ""]) await peer.send(bytes(message), server.localAddress!);
  await served.until(1);
  const [app] = served.apps;
  await app.until(() => app.frames.length === 4);
  assertEquals(app.frames, ["x", "", "y", ""]);
  const framed = (app.tendril as unknown as { framed: FramedProtocol }).framed;
  assertEquals([framed.stats().framesReceived, framed.stats().reads], [4, 4]);
  assertEquals(traced, [
    'IdentityFramer "x"',
    'IdentityFramer ""',
    'IdentityFramer "y"',
    'IdentityFramer ""',
  ]);
  peer.close();
  await server.shutdown();
});

/** The transport of `app`'s tendril, once it has one. */
function peerTransport(app: Recording | undefined): unknown {
  return (app?.tendril as unknown as { framed: FramedProtocol } | undefined)?.framed.transport;
}

Deno.test("a new UDP peer is in manager.tendrils during its own first frameReceived", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0");
  const seen: { size: number; self: boolean }[] = [];
  const served = keeping((_frame, app) => {
    const key = formatAddress(app.tendril.remoteAddress);
    seen.push({ size: server.tendrils.size, self: server.tendrils.get(key) === app.tendril });
  });
  await server.start(served.acceptor);
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await peer.send(bytes("first"), server.localAddress!);
  await served.until(1);
  await served.apps[0].until(() => served.apps[0].frames.length === 1);
  assertEquals(seen, [{ size: 1, self: true }]);
  peer.close();
  await server.shutdown();
});

Deno.test("UDP manager: a connect still resolving its name when shutdown() runs does not leave a peer", async () => {
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const connecting = client.connect("localhost:9", keeping().acceptor);
  const refused = assertRejects(() => connecting, TransportError, "shut down");
  await client.shutdown();
  await refused;
  assertEquals(client.tendrils.size, 0);
  assertEquals(client.stats().active, 0);
});

Deno.test("UDP manager: options out of range are refused, naming the option and the value", () => {
  const cases: [UdpTendrilManagerOptions, string][] = [
    [
      { idleTimeout: Infinity },
      "idleTimeout must be a number of milliseconds from 1 to 2147483647, got Infinity",
    ],
    [
      { idleTimeout: 0 },
      "idleTimeout must be a number of milliseconds from 1 to 2147483647, got 0",
    ],
    [
      { idleTimeout: NaN },
      "idleTimeout must be a number of milliseconds from 1 to 2147483647, got NaN",
    ],
    [{ maxPeers: 0 }, "maxPeers must be a safe integer of at least 1, got 0"],
    [{ backlog: -1 }, "backlog must be a safe integer of at least 0, got -1"],
    [{ maxQueuedBytes: 1.5 }, "maxQueuedBytes must be a safe integer of at least 0, got 1.5"],
  ];
  for (const [options, message] of cases) {
    assertThrows(
      () => new UdpTendrilManager("127.0.0.1:0", options),
      RangeError,
      `Cannot create UDP manager: ${message}`,
    );
  }
});

Deno.test("TCP manager: a manager named by a host name connects from that host", async () => {
  const manager = new TcpTendrilManager("localhost:0");
  const served = keeping((frame, app) => app.sendFrame(frame));
  await manager.start(served.acceptor);
  const client = keeping();
  const tendril = await manager.connect(manager.localAddress!, client.acceptor);
  assert(tendril);
  tendril.sendFrame(bytes("named"));
  await client.apps[0].until(() => client.apps[0].frames.length === 1);
  assertEquals(client.apps[0].frames, ["named"]);
  await manager.shutdown();
});

Deno.test("a TCP manager bound to a host connects to a Unix socket too (no local address there)", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/tendril.sock`;
  const unix = Deno.listen({ transport: "unix", path });
  const accepted = unix.accept();
  const manager = new TcpTendrilManager("127.0.0.1:0");
  await manager.start(keeping().acceptor);
  const client = keeping();
  // Bug: a TypeError ("localAddress applies to TCP only"): the manager's host was passed on.
  const tendril = await manager.connect({ path }, client.acceptor);
  assert(tendril);
  const conn = await accepted;
  tendril.sendFrame(bytes("hello"));
  const buffer = new Uint8Array(16);
  const n = await conn.read(buffer);
  assertEquals(new TextDecoder().decode(buffer.subarray(0, n!)), "hello\r\n");
  conn.close();
  await tendril.closed;
  await manager.shutdown();
  unix.close();
  await Deno.remove(dir, { recursive: true });
});
