/**
 * UDP tendril manager and peer edges no other test pinned: the state after stop() and
 * shutdown(), a second start() reusing the socket, a failed bind, the last-sender cache,
 * duplicate connect()s, the queue budget's exact edge, and a peer's queue accounting (driven
 * directly, with a host of the test's own).
 */

import { assertEquals, assertRejects } from "@std/assert";
import { Application, type Tendril, UdpTendrilManager } from "@plexus/net/endpoints";
import { IdentityFramer } from "@plexus/net/framing";
import { TransportError, type TransportStats } from "@plexus/net/transport";
import { assert } from "../_assert.ts";
import {
  Peer,
  type PeerHost,
  QUEUED_PER_PEER,
  type SendOutcome,
} from "../../endpoints/_udp_peer.ts";
import { FramedTendril } from "../../endpoints/_framed_tendril.ts";
import type { UdpTransport } from "../../transport/udp_transport.ts";

class Frames extends Application {
  readonly frames: string[] = [];
  onFrame: ((frame: string) => void) | undefined;
  frameReceived(frame: Uint8Array): void {
    const text = new TextDecoder().decode(frame);
    this.frames.push(text);
    this.onFrame?.(text);
  }
}

const udpSocket = (): Deno.DatagramConn =>
  Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("UDP manager: stop() after shutdown() leaves it shut down", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start();
  await manager.shutdown();
  await manager.stop();
  assert(manager.shutDown);
  await assertRejects(() => manager.start(), TransportError, "the manager was shut down");
});

Deno.test("UDP manager: start() after stop() keeps its socket; stop() drops new peers, counted", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  let accepted = 0;
  await manager.start((t) => (accepted++, new Frames(t)));
  const known = udpSocket();
  const stranger = udpSocket();
  const tendril = (await manager.connect(known.addr, (t) => new Frames(t)))!;
  const app = tendril.application as Frames;
  const address = manager.localAddress!;
  await manager.stop();
  await stranger.send(bytes("let me in"), address);
  // Datagrams are handled in arrival order: the known peer's frame comes after the stranger's.
  const barrier = new Promise<void>((resolve) => app.onFrame = () => resolve());
  await known.send(bytes("barrier"), address);
  await barrier;
  assertEquals(accepted, 0, "a stopped manager has no acceptor");
  assertEquals(manager.droppedDatagrams, 1);
  await manager.start((t) => (accepted++, new Frames(t)));
  assertEquals(manager.localAddress, address, "the same socket");
  await manager.shutdown();
  known.close();
  stranger.close();
});

Deno.test("UDP manager: a failed bind leaves it stopped, so start() may be tried again", async () => {
  const blocker = udpSocket();
  const manager = new UdpTendrilManager(`127.0.0.1:${(blocker.addr as Deno.NetAddr).port}`);
  await assertRejects(() => manager.start());
  assert(!manager.running);
  const again = await assertRejects(() => manager.start());
  assert(!String(again).includes("already running"), String(again));
  blocker.close();
  await manager.start();
  assert(manager.running);
  await manager.shutdown();
});

Deno.test("UDP manager: a second connect() to a peer with a tendril is refused", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start();
  const sink = udpSocket();
  await manager.connect(sink.addr, (t) => new Frames(t));
  await assertRejects(
    () => manager.connect(sink.addr, (t) => new Frames(t)),
    TransportError,
    "a tendril to it exists already",
  );
  assertEquals(manager.tendrils.size, 1);
  await manager.shutdown();
  sink.close();
});

Deno.test("UDP manager: a tendril closed by its own acceptor is not listed", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start();
  const sink = udpSocket();
  await manager.connect(sink.addr, async (t) => {
    t.close();
    await Promise.resolve();
    return new Frames(t);
  }).catch(() => undefined);
  assertEquals(manager.tendrils.size, 0);
  await manager.shutdown();
  sink.close();
});

Deno.test("UDP manager: a peer that closed is replaced by a new one on its next datagram", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  const apps: Frames[] = [];
  const first = Promise.withResolvers<void>();
  const barrier = Promise.withResolvers<void>();
  await manager.start((t) => {
    const app = new Frames(t);
    app.onFrame = (frame) =>
      frame === "barrier" ? barrier.resolve() : frame === "uno" && first.resolve();
    apps.push(app);
    return app;
  });
  const peer = udpSocket();
  const other = udpSocket();
  // Its second datagram makes it the manager's last sender, looked up before the table.
  await peer.send(bytes("one"), manager.localAddress!);
  await peer.send(bytes("uno"), manager.localAddress!);
  await first.promise;
  apps[0].tendril.close();
  await apps[0].tendril.closed;
  await peer.send(bytes("two"), manager.localAddress!);
  await other.send(bytes("barrier"), manager.localAddress!);
  await barrier.promise;
  assertEquals(apps.map((a) => a.frames), [["one", "uno"], ["two"], ["barrier"]]);
  await manager.shutdown();
  peer.close();
  other.close();
});

Deno.test("UDP manager: datagrams that fill the queue budget exactly are all kept", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0", { maxQueuedBytes: 10 });
  const gate = Promise.withResolvers<void>();
  const apps: Frames[] = [];
  const second = Promise.withResolvers<void>();
  await manager.start(async (t) => {
    const app = new Frames(t);
    apps.push(app);
    if (apps.length === 2) second.resolve();
    else await gate.promise; // the first peer's datagrams are queued meanwhile
    return app;
  });
  const peer = udpSocket();
  const other = udpSocket();
  await peer.send(bytes("aaaaa"), manager.localAddress!);
  await peer.send(bytes("bbbbb"), manager.localAddress!); // 10 bytes queued: the budget
  await peer.send(bytes("c"), manager.localAddress!); // past it: dropped
  await other.send(bytes("barrier"), manager.localAddress!);
  await second.promise;
  // The queue is delivered in one go as reading resumes: the first frame means all of them.
  const delivered = new Promise<void>((resolve) => apps[0].onFrame = () => resolve());
  gate.resolve();
  await delivered;
  assertEquals(apps[0].frames, ["aaaaa", "bbbbb"]);
  // "c", and the barrier (queued while its own acceptor runs, under the same budget).
  assertEquals(manager.droppedDatagrams, 2);
  await manager.shutdown();
  peer.close();
  other.close();
});

Deno.test("UDP manager: peers lost with the socket's error close for that reason", async () => {
  const sink = udpSocket();
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start();
  const tendril = (await manager.connect(sink.addr, (t) => new Frames(t)))!;
  const peer = (tendril as Tendril & {
    framed: { transport: { stats(): TransportStats; getExtraInfo(name: "conn"): unknown } };
  }).framed.transport;
  (peer.getExtraInfo("conn") as Deno.DatagramConn).close(); // the socket is lost under it
  await tendril.closed;
  assertEquals(peer.stats().closeReason, "error");
  await manager.shutdown();
  sink.close();
});

// ---- One peer, with a host of the test's own --------------------------------------------------

class Host implements PeerHost<Uint8Array> {
  readonly sent: string[] = [];
  reserved = 0;
  dropped_ = 0;
  budget = Infinity;
  send(data: Uint8Array): SendOutcome {
    this.sent.push(new TextDecoder().decode(data));
    return "queued";
  }
  socket(): UdpTransport {
    throw new Error("not used");
  }
  release(): void {}
  proven(): void {}
  dropped(): void {
    this.dropped_++;
  }
  reserve(bytes: number): boolean {
    if (this.reserved + bytes > this.budget) return false;
    this.reserved += bytes;
    return true;
  }
  unreserve(bytes: number): void {
    this.reserved -= bytes;
  }
  onError(): void {}
}

/** A peer whose acceptor waits for `gate`: its datagrams queue until then. */
function gatedPeer(host = new Host(), onFrame?: () => void) {
  const gate = Promise.withResolvers<void>();
  let app: Frames | undefined;
  const tendril = new FramedTendril<Uint8Array>("udp", new IdentityFramer(), async (t) => {
    await gate.promise;
    app = new Frames(t);
    app.onFrame = onFrame;
    return app;
  });
  const addr: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: 7 };
  const peer = new Peer(host, addr, "127.0.0.1:7", "127.0.0.1", tendril, "unproven");
  peer.start();
  return { peer, host, gate, tendril, app: () => app };
}

Deno.test("UDP peer: a paused peer keeps 16 datagrams and gives their budget back as it delivers", async () => {
  const { peer, host, gate, tendril, app } = gatedPeer();
  assertEquals(peer.stats().readPauses, 1, "paused while its acceptor runs");
  for (let i = 0; i < QUEUED_PER_PEER + 1; i++) peer.receive(bytes("x"));
  assertEquals([host.reserved, host.dropped_], [QUEUED_PER_PEER, 1]);
  gate.resolve();
  await tendril.outcome;
  assertEquals(app()!.frames.length, QUEUED_PER_PEER);
  assertEquals(host.reserved, 0);
  peer.close();
  await peer.closed;
});

Deno.test("UDP peer: closing gives the queued datagrams' budget back; a closed peer counts nothing", async () => {
  const { peer, host, gate } = gatedPeer();
  peer.receive(bytes("abc"));
  peer.receive(bytes("de"));
  assertEquals(host.reserved, 5);
  peer.out.write(bytes("unsent"));
  peer.abort();
  assertEquals(host.reserved, 0);
  assertEquals(peer.out.length, 0, "what was not committed is dropped");
  const before = peer.stats().reads;
  peer.receive(bytes("late"));
  peer.receiveFirst(bytes("late"));
  assertEquals(peer.stats().reads, before);
  gate.resolve();
  await peer.closed;
});

Deno.test("UDP peer: resuming stops delivering queued datagrams once reading is paused again", async () => {
  const ref: { peer?: Peer<Uint8Array> } = {};
  const { peer, host, gate, tendril, app } = gatedPeer(new Host(), () => ref.peer!.pauseReading());
  ref.peer = peer;
  for (const text of ["a", "b", "c"]) peer.receive(bytes(text));
  gate.resolve();
  await tendril.outcome;
  // The first frame paused reading again: the other two stay queued, their budget taken.
  assertEquals(app()!.frames, ["a"]);
  assertEquals(host.reserved, 2);
  peer.resumeReading();
  assertEquals(app()!.frames, ["a", "b"]);
  peer.close();
  await peer.closed;
  assertEquals(host.reserved, 0);
});

Deno.test("UDP peer: write() sends what is pending in out first, and counts as activity", async () => {
  const { peer, host, gate } = gatedPeer();
  peer.lastActivity = 0;
  peer.out.write(bytes("first"));
  peer.write(bytes("second"));
  assertEquals(host.sent, ["first", "second"]);
  assert(peer.lastActivity > 0, "sending is activity");
  peer.close();
  gate.resolve();
  await peer.closed;
});
