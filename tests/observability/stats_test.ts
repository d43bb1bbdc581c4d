/**
 * Connection statistics over real sockets: byte, read/write, frame and pause counts asserted
 * against what was sent, every close reason, and the server and manager aggregates.
 */

import { assertEquals, assertRejects } from "@std/assert";
import { assert } from "../_assert.ts";
import {
  type FramedStats,
  type Protocol,
  StreamTransport,
  type Transport,
  type TransportStats,
  UdpTransport,
} from "@plexus/net/transport";
import { FramedProtocol, LengthPrefixedFramer, LineFramer } from "@plexus/net/framing";
import {
  Application,
  Server,
  TcpTendrilManager,
  type Tendril,
  TinyprotoClient,
  TinyprotoServer,
  UdpTendrilManager,
} from "@plexus/net/endpoints";
import { tcpPair, tcpTransports } from "../_net.ts";
import { Recorder } from "../_recorder.ts";
import { bytes } from "../_shared.ts";
import { ManualChannel } from "../transport/_manual_channel.ts";

/** Checks the parts every ended transport's stats share. */
function assertEnded(stats: TransportStats, reason: TransportStats["closeReason"]): void {
  assertEquals(stats.closeReason, reason);
  assert(stats.closedAt !== undefined && stats.closedAt >= stats.openedAt);
}

Deno.test("TCP: bytes, reads and writes both ways; close and peer EOF", async () => {
  const before = Date.now();
  const echo = new Recorder({ onData: (data, r) => r.transport.write(data) });
  const client = new Recorder();
  const [a, b] = await tcpTransports(client, echo);
  assertEquals(a.stats().closeReason, undefined);
  assertEquals(a.stats().closedAt, undefined);
  assert(a.stats().openedAt >= before);
  // 10 writes of 1000 bytes in one turn: one flush, one conn.write of 10 000 bytes.
  for (let i = 0; i < 10; i++) a.write(new Uint8Array(1000).fill(i));
  await client.untilReceived(10_000);
  a.close();
  await Promise.all([a.closed, b.closed]);
  const [sa, sb] = [a.stats(), b.stats()];
  assertEquals([sa.bytesSent, sa.bytesReceived], [10_000, 10_000]);
  assertEquals([sb.bytesSent, sb.bytesReceived], [10_000, 10_000]);
  assertEquals(sa.writes, 1, "one turn's writes leave in one conn.write");
  assert(sa.reads >= 1 && sb.reads >= 1 && sb.writes >= 1);
  assert(sb.reads === echo.count("data"), "one read per dataReceived()");
  assertEnded(sa, "close");
  assertEnded(sb, "peer-eof");
  assertEquals([sa.error, sb.error], [undefined, undefined]);
  assertEquals([sa.readPauses, sa.writePauses, sb.readPauses, sb.writePauses], [0, 0, 0, 0]);
});

Deno.test("TCP: abort, a throwing callback, EOF both ways", async () => {
  {
    const [a, b] = await tcpTransports(new Recorder(), new Recorder());
    a.abort();
    await Promise.all([a.closed, b.closed]);
    assertEnded(a.stats(), "abort");
    // An aborted TCP socket reaches the peer as FIN (or a reset, where SO_LINGER 0 is used).
    assert(["peer-eof", "reset"].includes(b.stats().closeReason!), b.stats().closeReason);
  }
  {
    const thrower: Protocol = {
      dataReceived() {
        throw new Error("bad input");
      },
    };
    const [a, b] = await tcpTransports(new Recorder(), thrower);
    a.write(bytes("x"));
    await b.closed;
    assertEnded(b.stats(), "error");
    assertEquals(b.stats().error?.message, "bad input");
    assertEquals(b.stats().bytesReceived, 1);
    a.close();
    await a.closed;
  }
  {
    // Both sides keep writing open at the peer's EOF, then half-close: EOF both ways.
    const [a, b] = await tcpTransports(
      new Recorder({ keepOpenOnEof: true }),
      new Recorder({ keepOpenOnEof: true }),
    );
    a.write(bytes("abc"));
    a.writeEof();
    b.writeEof();
    await Promise.all([a.closed, b.closed]);
    assertEnded(a.stats(), "peer-eof");
    assertEnded(b.stats(), "peer-eof");
    assertEquals([a.stats().bytesSent, b.stats().bytesReceived], [3, 3]);
  }
});

Deno.test("TCP: overflow past maxWriteBuffer, idle timeout", async () => {
  {
    const [c, s] = await tcpPair();
    const a = new StreamTransport(c, new Recorder(), { maxWriteBuffer: 1000 });
    const b = new StreamTransport(s, new Recorder());
    a.write(new Uint8Array(400));
    a.write(new Uint8Array(2000)); // refused: the transport aborts
    await Promise.all([a.closed, b.closed]);
    assertEnded(a.stats(), "overflow");
    assertEquals(a.stats().error?.name, "WriteBufferOverflowError");
    assert(a.stats().bytesSent <= 400);
  }
  {
    const [c, s] = await tcpPair();
    const silent = new StreamTransport(c, new Recorder());
    const watched = new StreamTransport(s, new Recorder(), { idleTimeout: 30 });
    await watched.closed;
    assertEnded(watched.stats(), "idle-timeout");
    await silent.closed;
    assertEnded(silent.stats(), "peer-eof");
  }
});

Deno.test("TCP: pauses against a peer that does not read, and their time", async () => {
  const size = 8 * 2 ** 20;
  const writer = new Recorder();
  const reader = new Recorder({ onConnect: (t) => t.pauseReading() });
  const [a, b] = await tcpTransports(writer, reader);
  assertEquals(b.stats().readPauses, 1);
  a.write(new Uint8Array(size));
  // The kernel buffers fill: the write side pauses (at once: 8 MiB is over the watermark).
  await writer.untilEvent("pauseWriting");
  // Flushing 8 MiB into a non-reading peer takes real time; the pause is still running.
  const running = b.stats();
  assertEquals(running.readPauses, 1);
  assert(running.readPausedMs > 0, "a running pause counts up to now");
  b.resumeReading();
  await reader.untilReceived(size);
  await writer.untilEvent("resumeWriting");
  const [sa, sb] = [a.stats(), b.stats()];
  assertEquals([sa.writePauses, sa.bytesSent], [1, size]);
  assert(sa.writePausedMs > 0);
  assert(sa.writes >= 2, "the kernel took 8 MiB in more than one write");
  assertEquals([sb.readPauses, sb.bytesReceived], [1, size]);
  assert(sb.readPausedMs >= running.readPausedMs);
  assert(sb.reads >= size / (256 * 1024), "reads are at most 256 KiB");
  b.pauseReading();
  assertEquals(b.stats().readPauses, 2);
  b.close(); // while paused: the pause ends with the transport
  await Promise.all([a.closed, b.closed]);
  const ended = b.stats().readPausedMs;
  await new Promise((resolve) => setTimeout(resolve, 5)); // time passes, not an event
  assertEquals(b.stats().readPausedMs, ended, "an ended transport's pause time is final");
  assert(ended > sb.readPausedMs);
});

Deno.test("readPausedMs: a close() while paused ends the pause, not the flush after it", async () => {
  // performance.now() is the pause clock: driven here, no timing is measured.
  let time = 1000;
  const now = performance.now;
  performance.now = () => time;
  try {
    const channel = new ManualChannel(); // its writes wait for accept(): the flush hangs
    const t = new StreamTransport(channel, { dataReceived() {} });
    t.pauseReading();
    t.write(new Uint8Array(10));
    time += 10;
    t.close(); // reading stops here; the flush goes on
    assertEquals(t.isClosing(), true);
    time += 500;
    assertEquals(t.stats().readPausedMs, 10, "the pause ended at close()");
    await channel.accept(10);
    assertEquals(await t.closed, undefined);
    time += 500;
    const ended = t.stats();
    assertEquals([ended.readPauses, ended.readPausedMs, ended.bytesSent], [1, 10, 10]);
  } finally {
    performance.now = now;
  }
});

Deno.test("framed: frames in and out, counted once each, with the transport's bytes", async () => {
  const n = 100;
  const framer = () => new LengthPrefixedFramer({ lengthFieldLength: 4 });
  const echo = new FramedProtocol(framer(), {
    frameReceived: (frame, framed) => framed.sendFrame(frame),
  });
  let got = 0;
  const done = Promise.withResolvers<void>();
  const client = new FramedProtocol(framer(), {
    frameReceived: () => {
      if (++got === n) done.resolve();
    },
  });
  assertEquals(client.stats().framesSent, 0, "before connecting: zeros");
  await tcpTransports(client, echo);
  for (let i = 0; i < n; i++) client.sendFrame(new Uint8Array(10).fill(i));
  await done.promise;
  client.close();
  await Promise.all([client.closed, echo.closed]);
  const [c, e] = [client.stats(), echo.stats()];
  assertEquals([c.framesSent, c.framesReceived], [n, n]);
  assertEquals([e.framesSent, e.framesReceived], [n, n]);
  assertEquals([c.bytesSent, c.bytesReceived], [n * 14, n * 14]);
  assertEquals([e.bytesSent, e.bytesReceived], [n * 14, n * 14]);
  assertEquals([c.closeReason, e.closeReason], ["close", "peer-eof"]);
});

Deno.test("framed: a frame deadline closes with reason deadline, counted by the server", async () => {
  class Counting extends Server<FramedProtocol> {
    readonly lost = Promise.withResolvers<void>();
    override connectionLost(): void {
      this.lost.resolve();
    }
  }
  const server = new Counting(
    () => new FramedProtocol(new LineFramer(), { frameReceived() {} }),
    { deadlines: { frameTimeout: 30 } },
  );
  const [addr] = await server.listen("127.0.0.1:0") as Deno.NetAddr[];
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
  await conn.write(bytes("half a line")); // never ends: the frame deadline runs out
  assertEquals(await conn.read(new Uint8Array(16)), null); // the server's EOF
  await conn.closeWrite(); // ours: the server stops lingering for it
  await server.lost.promise;
  const stats = server.stats();
  assertEquals([stats.accepted, stats.active, stats.closed], [1, 0, 1]);
  assertEquals([stats.closedByDeadline, stats.closedByIdleTimeout], [1, 0]);
  assertEquals(stats.total.bytesReceived, 11);
  assertEquals(stats.live.bytesReceived, 0);
  conn.close();
  await server.close();
  await server.waitClosed();
});

Deno.test("Server: accepted, active, rejected, idle timeouts, live and total counters", async () => {
  class Counting extends Server {
    readonly ended: PromiseWithResolvers<void>[] = [
      Promise.withResolvers(),
      Promise.withResolvers(),
    ];
    #n = 0;
    override connectionLost(): void {
      this.ended[this.#n++].resolve();
    }
  }
  const received = Promise.withResolvers<void>();
  let total = 0;
  const server = new Counting(() => ({
    dataReceived(data: Uint8Array) {
      total += data.byteLength;
      if (total === 300) received.resolve();
    },
  }), { maxConnections: 2, idleTimeout: 60_000 });
  const [addr] = await server.listen("127.0.0.1:0") as Deno.NetAddr[];
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port: addr.port });
  const one = await connect();
  const two = await connect();
  await one.write(new Uint8Array(100));
  await two.write(new Uint8Array(200));
  await received.promise;
  let stats = server.stats();
  assertEquals([stats.accepted, stats.active, stats.rejected], [2, 2, 0]);
  assertEquals([stats.live.bytesReceived, stats.total.bytesReceived], [300, 300]);
  assert(stats.live.reads >= 2);
  // A third is over maxConnections: closed at once, which it sees as end of stream.
  const three = await connect();
  assertEquals(await three.read(new Uint8Array(1)), null);
  three.close();
  assertEquals(server.stats().rejected, 1);
  one.close();
  await server.ended[0].promise;
  stats = server.stats();
  assertEquals([stats.accepted, stats.active, stats.closed], [2, 1, 1]);
  assertEquals([stats.live.bytesReceived, stats.total.bytesReceived], [200, 300]);
  two.close();
  await server.ended[1].promise;
  stats = server.stats();
  assertEquals([stats.active, stats.closed, stats.closedByIdleTimeout], [0, 2, 0]);
  assertEquals([stats.live.bytesReceived, stats.total.bytesReceived], [0, 300]);
  await server.close();
  await server.waitClosed();

  // Idle timeout, counted.
  const idle = new Counting(() => ({ dataReceived() {} }), { idleTimeout: 30 });
  const [idleAddr] = await idle.listen("127.0.0.1:0") as Deno.NetAddr[];
  const stalled = await Deno.connect({ hostname: "127.0.0.1", port: idleAddr.port });
  await idle.ended[0].promise;
  assertEquals(idle.stats().closedByIdleTimeout, 1);
  stalled.close();
  await idle.close();
  await idle.waitClosed();
});

Deno.test("UDP transport: datagrams and bytes each way, close and abort", async () => {
  const n = 5;
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const echo = new UdpTransport(socket, {
    datagramReceived: (data, addr) => echo.sendto(data, addr),
  });
  const got = Promise.withResolvers<void>();
  let count = 0;
  const client = new UdpTransport(
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
    {
      datagramReceived: () => {
        if (++count === n) got.resolve();
      },
    },
    { remoteAddress: socket.addr as Deno.NetAddr },
  );
  for (let i = 0; i < n; i++) client.sendto(new Uint8Array(64).fill(i));
  await got.promise;
  const [c, e] = [client.stats(), echo.stats()];
  assertEquals([c.writes, c.bytesSent, c.reads, c.bytesReceived], [n, n * 64, n, n * 64]);
  assertEquals([e.writes, e.bytesSent, e.reads, e.bytesReceived], [n, n * 64, n, n * 64]);
  client.pauseReading();
  client.resumeReading();
  assertEquals(client.stats().readPauses, 1);
  client.close();
  echo.abort();
  await Promise.all([client.closed, echo.closed]);
  assertEnded(client.stats(), "close");
  assertEnded(echo.stats(), "abort");
});

/** An application that counts frames and says when it has `n`. */
class Counter extends Application {
  frames = 0;
  readonly #waiters: { n: number; resolve: () => void }[] = [];
  readonly ended = Promise.withResolvers<void>();

  constructor(tendril: Tendril, readonly echo = false) {
    super(tendril);
  }

  frameReceived(frame: Uint8Array): void {
    this.frames++;
    if (this.echo) this.sendFrame(frame);
    for (const w of this.#waiters) if (this.frames >= w.n) w.resolve();
  }

  until(n: number): Promise<void> {
    if (this.frames >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  /** The tendril's framed protocol's stats (a FramedTendril's). */
  stats(): FramedStats {
    return (this.tendril as unknown as { framed: FramedProtocol }).framed.stats();
  }

  override closed(): void {
    this.ended.resolve();
  }
}

Deno.test("UDP tendril manager: peers created, expired, evicted, and their counters", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0", { idleTimeout: 60_000, maxPeers: 1 });
  const apps: Counter[] = [];
  await server.start((tendril) => {
    const app = new Counter(tendril, true);
    apps.push(app);
    return app;
  });
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  let mine: Counter | undefined;
  const tendril = await client.connect(server.localAddress!, (t) => mine = new Counter(t));
  for (let i = 0; i < 3; i++) tendril!.sendFrame(new Uint8Array(50));
  await mine!.until(3);
  let stats = server.stats();
  assertEquals([stats.peersCreated, stats.accepted, stats.active], [1, 1, 1]);
  assertEquals([stats.live.reads, stats.live.bytesReceived], [3, 150]);
  assertEquals([stats.live.writes, stats.live.bytesSent], [3, 150]);
  const clientStats = client.stats();
  assertEquals([clientStats.live.bytesSent, clientStats.live.bytesReceived], [150, 150]);
  // maxPeers 1: the first peer is proven (it answered), so a newcomer is dropped, not evicted.
  const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await stranger.send(bytes("hi"), server.localAddress!);
  tendril!.sendFrame(new Uint8Array(1)); // loopback keeps order: the stranger came first
  await mine!.until(4);
  stats = server.stats();
  assertEquals([stats.peersDropped, stats.peersEvicted, stats.peersCreated], [1, 0, 1]);
  stranger.close();
  await client.shutdown();
  await server.shutdown();
  stats = server.stats();
  assertEquals([stats.active, stats.closed], [0, 1]);
  assertEquals([stats.total.bytesReceived, stats.live.bytesReceived], [151, 0]);

  // Expiry and eviction.
  const small = new UdpTendrilManager("127.0.0.1:0", { idleTimeout: 40, maxPeers: 1 });
  const made = [Promise.withResolvers<Counter>(), Promise.withResolvers<Counter>()];
  let accepted = 0;
  await small.start((t) => {
    const app = new Counter(t);
    made[accepted++].resolve(app);
    return app;
  });
  const first = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const second = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await first.send(bytes("one"), small.localAddress!);
  await second.send(bytes("two"), small.localAddress!); // evicts the unproven first peer
  const evicted = await made[0].promise;
  await evicted.ended.promise;
  assertEnded(evicted.stats(), "evicted");
  const expired = await made[1].promise;
  await expired.ended.promise; // then it expires
  assertEnded(expired.stats(), "idle-timeout");
  assertEquals([expired.stats().bytesReceived, expired.stats().framesReceived], [3, 1]);
  stats = small.stats();
  assertEquals([stats.peersCreated, stats.peersEvicted, stats.peersExpired], [2, 1, 1]);
  assertEquals([stats.closed, stats.closedByIdleTimeout], [2, 1]);
  assertEquals(stats.total.bytesReceived, 6);
  first.close();
  second.close();
  await small.shutdown();
});

Deno.test("TCP tendril manager: aggregates over its server", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  const apps: Counter[] = [];
  await manager.start((t) => {
    t.setFramer(new LineFramer());
    const app = new Counter(t, true);
    apps.push(app);
    return app;
  });
  let mine: Counter | undefined;
  const tendril = await manager.connect(manager.localAddress!, (t) => mine = new Counter(t));
  tendril!.sendFrame(bytes("hello"));
  await mine!.until(1);
  const stats = manager.stats();
  assertEquals([stats.accepted, stats.active], [1, 1]);
  assertEquals([stats.live.bytesReceived, stats.live.bytesSent], [7, 7]);
  const framed = (tendril as unknown as { framed: FramedProtocol }).framed;
  assertEquals([framed.stats().framesSent, framed.stats().framesReceived], [1, 1]);
  await manager.shutdown();
  assertEquals(manager.stats().total.bytesReceived, 7);
});

Deno.test("a transport without stats() still drives a framed protocol", () => {
  const framed = new FramedProtocol(new LineFramer(), { frameReceived() {} });
  const fake = { stats: undefined } as unknown as Transport;
  assertEquals(fake.stats?.(), undefined);
  assertEquals(framed.stats().bytesSent, 0);
});

Deno.test("TinyprotoServer: refusals over its limit count as rejected, not accepted", async () => {
  await using server = new TinyprotoServer(() => ({ transmissionReceived: () => {} }), {
    connectionLimit: 1,
  });
  const [address] = await server.listen("127.0.0.1:0");
  await using client = new TinyprotoClient(() => ({ transmissionReceived: () => {} }));
  await client.connectTo(address);
  await assertRejects(() => client.connectTo(address));
  const stats = server.stats();
  assertEquals([stats.accepted, stats.rejected], [1, 1]);
  // The handshake moved bytes both ways on the accepted connection (the `ff` exchange).
  assert(stats.total.bytesReceived > 0 && stats.total.bytesSent > 0);
});
