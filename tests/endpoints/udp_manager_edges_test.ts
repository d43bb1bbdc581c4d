import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import { Application, formatAddress, type Tendril, UdpTendrilManager } from "@plexus/net/endpoints";
import type { FramedProtocol } from "@plexus/net/framing";
import { type Transport, TransportError, WriteBufferOverflowError } from "@plexus/net/transport";

class Quiet extends Application {
  frameReceived(_frame: Uint8Array): void {}
}

/** An application that resolves `first` with its first frame. */
class FirstFrame extends Application {
  readonly first = Promise.withResolvers<Uint8Array>();
  frameReceived(frame: Uint8Array): void {
    this.first.resolve(frame.slice());
  }
}

const udpSocket = (): Deno.DatagramConn =>
  Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });

/**
 * Loses the manager's shared socket under `tendril`, as a socket error would: its datagram
 * socket is closed under it, and the pending receive fails.
 */
function loseSocket(tendril: Tendril): void {
  const peer = (tendril as Tendril & {
    framed: { transport: Deno.Conn & { getExtraInfo(name: "conn"): unknown } };
  }).framed.transport;
  (peer.getExtraInfo("conn") as Deno.DatagramConn).close();
}

Deno.test("UDP tendril: frames sent while the manager's socket is closing are dropped, not thrown", async () => {
  const sink = udpSocket();
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const tendril = (await client.connect(sink.addr, (t) => new Quiet(t)))!;
  // The peer hears of the loss only from connectionLost, so the frames after it are sent to a
  // closing transport: dropped, as every transport drops them.
  loseSocket(tendril);
  for (let i = 0; i < 10; i++) tendril.sendFrame(new Uint8Array(100));
  assertInstanceOf(await tendril.closed, TransportError);
  await client.shutdown();
  sink.close();
});

Deno.test("UDP tendril: one past the shared socket's cap is cut alone; its later frames are dropped", async () => {
  const sink = udpSocket();
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const flooder = (await client.connect(sink.addr, (t) => new Quiet(t)))!;
  const other = udpSocket();
  const quiet = (await client.connect(other.addr, (t) => new Quiet(t)))!;
  const frame = new Uint8Array(65_000);
  // Ignores pauseWriting: 71.5 MB in one turn, past the 64 MiB cap.
  for (let sent = 0; sent < 1100; sent++) flooder.sendFrame(frame);
  const error = await flooder.closed;
  assertInstanceOf(error, WriteBufferOverflowError);
  assertEquals(error.limit, 64 * 1024 * 1024);
  assert(client.running && client.tendrils.size === 1, "the other peer and the socket go on");
  quiet.sendFrame(new TextEncoder().encode("still here"));
  const [data] = await other.receive();
  assertEquals(new TextDecoder().decode(data), "still here");
  await client.shutdown();
  sink.close();
  other.close();
});

Deno.test("UDP tendril: a peer that sends after another filled the socket to the cap is not cut; the filler is", async () => {
  const sink = udpSocket();
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const flooder = (await client.connect(sink.addr, (t) => new Quiet(t)))!;
  const other = udpSocket();
  const polite = (await client.connect(other.addr, (t) => new Quiet(t)))!;
  const frame = new Uint8Array(65_000);
  // 1032 frames in one turn: 67 080 000 bytes, just under the 64 MiB cap (67 108 864).
  for (let sent = 0; sent < 1032; sent++) flooder.sendFrame(frame);
  // The shared socket now holds past the cap in all; of this peer's, one datagram.
  polite.sendFrame(frame);
  flooder.sendFrame(frame); // its own datagrams past the cap
  const error = await flooder.closed;
  assertInstanceOf(error, WriteBufferOverflowError);
  assertEquals([error.size, error.limit], [1033 * 65_000, 64 * 1024 * 1024]);
  assert(client.tendrils.size === 1, "the peer that sent once goes on");
  const [data] = await other.receive();
  assertEquals(data.byteLength, 65_000);
  await client.shutdown();
  sink.close();
  other.close();
});

Deno.test("UDP peer: a datagram the socket refuses is not counted as sent; onError hears why", async () => {
  const sink = udpSocket();
  const reported = Promise.withResolvers<Error>();
  const client = new UdpTendrilManager("127.0.0.1:0", { onError: reported.resolve });
  await client.start();
  const tendril = (await client.connect(sink.addr, (t) => new Quiet(t)))!;
  tendril.sendFrame(new Uint8Array(10));
  tendril.sendFrame(new Uint8Array(65_508)); // past IPv4's largest payload (65 507): EMSGSIZE
  tendril.sendFrame(new Uint8Array(20));
  const error = await reported.promise;
  assertInstanceOf(error, TransportError);
  assertStringIncludes(error.message, `Send to ${formatAddress(sink.addr)} failed`);
  const sizes = [];
  for (let i = 0; i < 2; i++) sizes.push((await sink.receive())[0].byteLength);
  assertEquals(sizes, [10, 20], "the peer goes on: a refused datagram is lost, as UDP loses one");
  // Still in flight when shutdown() closes the peer: counted as it leaves.
  tendril.sendFrame(new Uint8Array(30));
  await client.shutdown(); // the socket sends what it holds first
  const stats = (tendril as unknown as { framed: FramedProtocol }).framed.stats();
  assertEquals([stats.writes, stats.bytesSent, stats.closeReason], [3, 60, "close"]);
  const total = client.stats().total;
  assertEquals([total.writes, total.bytesSent], [3, 60]);
  assertEquals((await sink.receive())[0].byteLength, 30);
  sink.close();
});

Deno.test("UDP manager: a second start() while the first binds is refused and leaks no socket", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  const first = manager.start((t) => new Quiet(t));
  await assertRejects(
    () => manager.start((t) => new Quiet(t)),
    TransportError,
    "Cannot start: the manager is already running",
  );
  await first;
  assert(manager.running);
  await manager.shutdown();
});

Deno.test("UDP manager: start() after its socket was lost binds a new one", async () => {
  const sink = udpSocket();
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start();
  const tendril = (await manager.connect(sink.addr, (t) => new Quiet(t)))!;
  loseSocket(tendril);
  assertInstanceOf(await tendril.closed, TransportError);
  assert(!manager.running, "a lost socket stops the manager");
  const app = Promise.withResolvers<FirstFrame>();
  await manager.start((t) => {
    const made = new FirstFrame(t);
    app.resolve(made);
    return made;
  });
  assert(manager.running);
  const peer = udpSocket();
  await peer.send(new TextEncoder().encode("again"), manager.localAddress!);
  // Kept, the dead socket receives nothing: give up after 2 s rather than hang.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) =>
    timer = setTimeout(() => resolve(undefined), 2000)
  );
  const frame = await Promise.race([app.promise.then((a) => a.first.promise), late]);
  clearTimeout(timer);
  assertEquals(frame && new TextDecoder().decode(frame), "again");
  await manager.shutdown();
  peer.close();
  sink.close();
});

Deno.test("UDP manager: shutdown() or stop() while start() binds: start() rejects, no socket left", async () => {
  // Caught from the start: start() settles while shutdown()/stop() is awaited.
  const outcome = (p: Promise<void>) => p.then(() => undefined, (error: Error) => error);
  const shut = new UdpTendrilManager("127.0.0.1:0");
  const starting = outcome(shut.start());
  await shut.shutdown(); // waits for the bind, then closes its socket
  assertInstanceOf(await starting, TransportError);
  assertEquals((await starting)?.message, "Cannot start: the manager was shut down");
  assert(!shut.running && shut.shutDown);

  const stopped = new UdpTendrilManager("127.0.0.1:0");
  const again = outcome(stopped.start());
  await stopped.stop();
  assertEquals((await again)?.message, "Cannot start: stopped meanwhile");
  assert(!stopped.running);
  await stopped.shutdown(); // the socket bound meanwhile is closed with the manager
});

Deno.test("UDP peer: stats count the write pauses its application heard", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  const client = udpSocket();
  const resumed = Promise.withResolvers<void>();
  let pauses = 0;
  class Sender extends Application {
    frameReceived(): void {
      // 256 KB in one turn: past the shared socket's 64 KiB high watermark.
      for (let i = 0; i < 256; i++) this.sendFrame(new Uint8Array(1000));
    }
    override pauseWriting(): void {
      pauses++;
    }
    override resumeWriting(): void {
      resumed.resolve();
    }
  }
  await manager.start((tendril) => new Sender(tendril));
  await client.send(new Uint8Array([1]), manager.localAddress!);
  await resumed.promise;
  const stats = manager.stats().live;
  await manager.shutdown();
  client.close();
  assertEquals([pauses, stats.writePauses], [1, 1]);
});

Deno.test("UDP acceptFilter: the datagram it is given is its own copy, kept valid", async () => {
  const seen: Uint8Array[] = [];
  const filtered = Promise.withResolvers<void>();
  const server = new UdpTendrilManager("127.0.0.1:0", {
    acceptFilter: (_addr, datagram) => {
      seen.push(datagram); // kept, as any other received view may be
      if (seen.length === 2) filtered.resolve();
      return false;
    },
  });
  await server.start((t) => new Quiet(t));
  const a = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const b = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await a.send(new TextEncoder().encode("first peer"), server.localAddress!);
  await b.send(new TextEncoder().encode("SECOND"), server.localAddress!);
  await filtered.promise;
  a.close();
  b.close();
  await server.shutdown();
  // Bug: ["SECONDpeer", "SECOND"]: the first was a view of the socket's reused buffer.
  assertEquals(seen.map((d) => new TextDecoder().decode(d)), ["first peer", "SECOND"]);
});

Deno.test("UDP manager: shutdown() throws a bad timeout before anything changes; again, the same promise", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start((t) => new Quiet(t));
  // Bug: an async shutdown() returned a rejected promise here (the TCP manager throws).
  assertThrows(() => manager.shutdown({ timeout: -1 }), RangeError);
  assertEquals(manager.running, true, "a bad timeout changes nothing");
  const first = manager.shutdown();
  assertEquals(manager.shutdown() === first, true, "a second call returns the same promise");
  await first;
  assertEquals(manager.shutDown, true);
});

const statsOf = (t: Tendril) => (t as unknown as { framed: FramedProtocol }).framed.stats();

Deno.test("UDP peer: empty datagrams still queued when the peer closes count as sent once they leave", async () => {
  const sink = udpSocket();
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const empty = (await client.connect(sink.addr, (t) => new Quiet(t)))!;
  for (let i = 0; i < 3; i++) empty.sendFrame(new Uint8Array(0)); // identity framer: 3 datagrams
  empty.close(); // the socket still holds them
  for (let i = 0; i < 3; i++) assertEquals((await sink.receive())[0].byteLength, 0);
  await client.shutdown();
  sink.close();
  // Bug: 0 — with no bytes queued, the closing peer was forgotten at once.
  assertEquals(statsOf(empty).writes, 3);
  assertEquals(client.stats().total.writes, 3);
});

/** Closes its tendril when the shared socket's writing pauses. */
class GiveUp extends Application {
  frameReceived(_frame: Uint8Array): void {}
  override pauseWriting(): void {
    this.tendril.close();
  }
}

Deno.test("UDP peer: a datagram of a peer that closes in the pauseWriting its send raised counts once sent", async () => {
  const sinkA = udpSocket();
  const sinkB = udpSocket();
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const b = (await client.connect(sinkB.addr, (t) => new Quiet(t)))!;
  const a = (await client.connect(sinkA.addr, (t) => new GiveUp(t)))!;
  b.sendFrame(new Uint8Array(60_000)); // the socket holds 60 000 bytes
  a.sendFrame(new Uint8Array(10_000)); // past the 64 KiB high watermark: pauseWriting
  await a.closed;
  assertEquals((await sinkA.receive())[0].byteLength, 10_000); // it did go out
  assertEquals((await sinkB.receive())[0].byteLength, 60_000);
  await client.shutdown();
  sinkA.close();
  sinkB.close();
  const sa = statsOf(a);
  const total = client.stats().total;
  assertEquals([sa.writes, sa.bytesSent], [1, 10_000]); // Bug: [0, 0]
  assertEquals([total.writes, total.bytesSent], [2, 70_000]); // Bug: [1, 60 000]
});

Deno.test("UDP manager: many peers that ignore pauseWriting cannot take the shared queue far past 64 MiB", async () => {
  let peak = 0;
  let answered = 0;
  const cut: Error[] = [];
  const requests = 40;
  const done = Promise.withResolvers<void>();
  /** Answers each request with 40 datagrams of 60 000 bytes (2.4 MB), ignoring pauseWriting. */
  class Bulk extends Application {
    frameReceived(_frame: Uint8Array): void {
      const transport = (this.tendril as unknown as { framed: { transport: Transport } }).framed
        .transport;
      for (let i = 0; i < 40 && !transport.isClosing(); i++) {
        this.sendFrame(new Uint8Array(60_000));
        peak = Math.max(peak, transport.getWriteBufferSize());
      }
      if (++answered === requests) done.resolve();
    }
    override closed(error: Error | undefined): void {
      if (error) cut.push(error);
    }
  }
  const server = new UdpTendrilManager("127.0.0.1:0");
  await server.start((t) => new Bulk(t));
  const clients = Array.from({ length: requests }, udpSocket);
  await Promise.all(clients.map((c) => c.send(new Uint8Array([1]), server.localAddress!)));
  await done.promise;
  for (const c of clients) c.close();
  await server.shutdown();
  // 96 MB asked for in all. Bug: the queue peaked at ~89 MiB and no peer was cut (each held
  // under its own 64 MiB). Past 64 MiB, each send cuts the largest holder: a few datagrams over.
  assert(peak <= 64 * 2 ** 20 + 40 * 60_000, `the shared socket held ${peak} bytes`);
  assert(cut.length > 0, "no peer was cut");
  assertInstanceOf(cut[0], WriteBufferOverflowError);
  assertStringIncludes(cut[0].message, "held the most of it");
});

/** Sends only while the shared socket's writing is not paused. */
class Honest extends Application {
  paused = false;
  frameReceived(_frame: Uint8Array): void {}
  override pauseWriting(): void {
    this.paused = true;
  }
  override resumeWriting(): void {
    this.paused = false;
  }
}

const transportOf = (t: Tendril) =>
  (t as unknown as { framed: { transport: Transport } }).framed.transport;

Deno.test("UDP manager: a peer that honours pauseWriting is never cut by the shared cap", async () => {
  const sinks = [udpSocket(), udpSocket(), udpSocket()];
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const [a, b, c] = await Promise.all(
    sinks.map((s) => client.connect(s.addr, (t) => new Honest(t))),
  );
  const honest = a!.application as Honest;
  // A sends while the socket is not paused: 60 000 bytes, then 60 000 more, which crosses the
  // 64 KiB high watermark; A hears pauseWriting and stops, holding 120 000 bytes.
  const chunk = new Uint8Array(60_000);
  let sentByA = 0;
  while (!honest.paused && sentByA < 10) {
    a!.sendFrame(chunk);
    sentByA++;
  }
  assertEquals(sentByA, 2);
  // B ignores pauseWriting and fills the shared queue past 64 MiB: B is the largest, it is cut.
  for (let i = 0; i < 1200 && !transportOf(b!).isClosing(); i++) b!.sendFrame(chunk);
  assert(transportOf(b!).isClosing(), "B was cut");
  // C, also past pauseWriting, sends one datagram while B's bytes still fill the queue.
  c!.sendFrame(chunk);
  const aCut = transportOf(a!).isClosing();
  const cCut = transportOf(c!).isClosing();
  await client.shutdown();
  for (const s of sinks) s.close();
  // Bug: A, which stopped at pauseWriting, was cut by C's send (it held more than the high
  // watermark: the datagram that crossed it).
  assertEquals([aCut, cCut], [false, true]);
  assertEquals(await a!.closed, undefined);
});

Deno.test("UDP manager: a peer made while the socket is paused is not cut for its acceptor's greeting", async () => {
  const cap = 64 * 1024 * 1024;
  const sinks = [udpSocket(), udpSocket()];
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const b = (await client.connect(sinks[0].addr, (t) => new Honest(t)))!;
  // B ignores pauseWriting and fills the shared queue to just under 64 MiB, then is cut.
  const tb = transportOf(b);
  while (!tb.isClosing() && tb.getWriteBufferSize() < cap - 120_000) {
    b.sendFrame(new Uint8Array(60_000));
  }
  while (!tb.isClosing()) b.sendFrame(new Uint8Array(500));
  // D is opened now, while the socket is paused: its acceptor greets before any application
  // exists to hear pauseWriting (it hears it once the acceptor returns).
  let greeted = false;
  const d = await client.connect(sinks[1].addr, async (t) => {
    await Promise.resolve(); // an acceptor that awaits (a lookup) before it greets
    t.sendFrame(new Uint8Array(500));
    greeted = true;
    return new Honest(t);
  }).catch((e) => e as Error);
  const dCut = d instanceof Error || transportOf(d!).isClosing();
  await client.shutdown();
  for (const s of sinks) s.close();
  assert(greeted);
  // Bug: D was cut (its allowance was taken at creation, 0) and connect() rejected.
  assertEquals(dCut, false, `D was cut: ${d instanceof Error ? d.message : "closing"}`);
});

Deno.test("UDP manager: a peer that holds a large share when the pause reaches it is not cut for it", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start();
  const sinks = Array.from({ length: 25 }, udpSocket);
  const tendrils = await Promise.all(
    sinks.map((s) => manager.connect(s.addr, (t) => new Honest(t))),
  );
  const [h, ...others] = tendrils.map((t) => t!);
  const honest = h.application as Honest;
  // A high watermark of 4 MiB: the honest peer holds ~4 MiB when the pause reaches it.
  transportOf(h).setWriteBufferLimits({ high: 4 * 1024 * 1024 });
  while (!honest.paused) h.sendFrame(new Uint8Array(60_000));
  // 24 peers that ignore the pause take the queue past 64 MiB, each holding less than it.
  for (let k = 0; k < 60; k++) {
    for (const t of others) if (!transportOf(t).isClosing()) t.sendFrame(new Uint8Array(60_000));
  }
  const cut = others.filter((t) => transportOf(t).isClosing()).length;
  const honestCut = transportOf(h).isClosing();
  await manager.shutdown();
  for (const s of sinks) s.close();
  assert(cut > 0, "no peer that ignored the pause was cut");
  assertEquals(honestCut, false, "the peer that stopped at the pause was cut");
});

Deno.test("UDP tendril: datagrams of 3000, 7000 then 1500 bytes are three frames", async () => {
  // Each was copied into the receive buffer's free tail, which may be shorter than asked once
  // frames were taken from the block: the third met a 1024-byte tail and `set` threw
  // (RangeError), aborting the peer.
  class Sizes extends Application {
    readonly sizes: number[] = [];
    readonly third = Promise.withResolvers<void>();
    readonly lost = Promise.withResolvers<Error | undefined>();
    frameReceived(frame: Uint8Array): void {
      this.sizes.push(frame.byteLength);
      if (this.sizes.length === 3) this.third.resolve();
    }
    override closed(error?: Error): void {
      this.lost.resolve(error);
    }
  }
  const manager = new UdpTendrilManager("127.0.0.1:0");
  const made = Promise.withResolvers<Sizes>();
  await manager.start((t: Tendril) => {
    const app = new Sizes(t);
    made.resolve(app);
    return app;
  });
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  for (const n of [3000, 7000, 1500]) {
    await peer.send(new Uint8Array(n).fill(7), manager.localAddress!);
  }
  const app = await made.promise;
  const outcome = await Promise.race([
    app.third.promise.then(() => "three frames"),
    app.lost.promise.then((e) => `peer lost: ${e}`),
  ]);
  await manager.shutdown();
  peer.close();
  assertEquals(outcome, "three frames");
  assertEquals(app.sizes, [3000, 7000, 1500]);
});
