import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { assert } from "../_assert.ts";
import { createDatagramEndpoint } from "@plexus/net/endpoints";
import type { DatagramProtocol, DatagramTransport } from "@plexus/net/transport";
import { UdpTransport } from "@plexus/net/transport";
import { DatagramProtocolAdapter } from "@plexus/net/protocol";
import { bytes } from "../_shared.ts";

/** Records datagrams and callbacks; waits on conditions, never on time. */
class Datagrams implements DatagramProtocol {
  readonly received: { text: string; addr: Deno.NetAddr }[] = [];
  readonly events: string[] = [];
  transport!: DatagramTransport;
  #waiters: { check: () => boolean; resolve: () => void }[] = [];
  readonly #echo: boolean;

  constructor(echo = false) {
    this.#echo = echo;
  }

  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }

  connectionMade(transport: DatagramTransport): void {
    this.transport = transport;
    this.#record("connectionMade");
  }

  datagramReceived(data: Uint8Array, addr: Deno.NetAddr): void {
    this.received.push({ text: new TextDecoder().decode(data), addr });
    if (this.#echo) this.transport.sendto(data, addr);
    this.#record("datagram");
  }

  errorReceived(): void {
    this.#record("error");
  }

  pauseWriting(): void {
    this.#record("pauseWriting");
  }

  resumeWriting(): void {
    this.#record("resumeWriting");
  }

  connectionLost(): void {
    this.#record("connectionLost");
  }

  #record(event: string): void {
    this.events.push(event);
    this.#waiters = this.#waiters.filter((w) => !(w.check() && (w.resolve(), true)));
  }
}

Deno.test("UDP echo through createDatagramEndpoint", async () => {
  const server = await createDatagramEndpoint(() => new Datagrams(true), {
    localAddress: "127.0.0.1:0",
  });
  const serverAddr = server.transport.getExtraInfo("sockname") as Deno.NetAddr;
  const client = await createDatagramEndpoint(() => new Datagrams(), {
    remoteAddress: serverAddr,
  });
  for (const word of ["one", "two", "three"]) client.transport.sendto(bytes(word));
  await client.protocol.until(() => client.protocol.received.length === 3);
  assertEquals(client.protocol.received.map((d) => d.text).sort(), ["one", "three", "two"]);
  assertEquals(client.protocol.received[0].addr.port, serverAddr.port);
  client.transport.close();
  server.transport.close();
  await Promise.all([client.transport.closed, server.transport.closed]);
  assertEquals(client.protocol.events.at(-1), "connectionLost");
  assertEquals(server.protocol.events.filter((e) => e === "connectionLost").length, 1);
});

Deno.test("UDP with a remote address drops datagrams from anyone else", async () => {
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const { transport, protocol } = await createDatagramEndpoint(() => new Datagrams(), {
    localAddress: "127.0.0.1:0",
    remoteAddress: peer.addr as Deno.NetAddr,
  });
  const local = transport.getExtraInfo("sockname") as Deno.NetAddr;
  // Loopback delivers in send order: if the first datagram seen is the peer's, the stranger's
  // (sent before it) was dropped.
  await stranger.send(bytes("from stranger"), local);
  await peer.send(bytes("from peer"), local);
  await protocol.until(() => protocol.received.length >= 1);
  assertEquals(protocol.received[0].text, "from peer");
  assertThrows(
    () => transport.sendto(bytes("x"), stranger.addr as Deno.NetAddr),
    TypeError,
    "bound to",
  );
  peer.close();
  stranger.close();
  transport.close();
  await transport.closed;
});

Deno.test("UDP sendto needs an address when there is no default", async () => {
  const { transport } = await createDatagramEndpoint(() => new Datagrams(), {
    localAddress: "127.0.0.1:0",
  });
  assertThrows(() => transport.sendto(bytes("x")), TypeError, "no address given");
  transport.close();
  // Closing: dropped without a word, as stream writes are.
  transport.sendto(bytes("x"), { transport: "udp", hostname: "127.0.0.1", port: 9 });
  assertEquals(transport.getWriteBufferSize(), 0);
  await transport.closed;
});

Deno.test("UDP write buffer: pauseWriting over high, close sends what is queued", async () => {
  const sink = await createDatagramEndpoint(() => new Datagrams(), { localAddress: "127.0.0.1:0" });
  const sinkAddr = sink.transport.getExtraInfo("sockname") as Deno.NetAddr;
  const sender = await createDatagramEndpoint(() => new Datagrams(), {
    remoteAddress: sinkAddr,
    writeBufferLimits: { high: 1000, low: 100 },
  });
  for (let i = 0; i < 20; i++) sender.transport.sendto(new Uint8Array(100).fill(i));
  assertEquals(sender.transport.getWriteBufferSize(), 2000);
  assertEquals(sender.protocol.events, ["connectionMade", "pauseWriting"]);
  sender.transport.close();
  await sender.transport.closed;
  assertEquals(sender.protocol.events, [
    "connectionMade",
    "pauseWriting",
    "resumeWriting",
    "connectionLost",
  ]);
  await sink.protocol.until(() => sink.protocol.received.length === 20);
  sink.transport.close();
  await sink.transport.closed;
});

Deno.test("UDP abort drops queued datagrams; pauseReading holds delivery", async () => {
  const sink = await createDatagramEndpoint(() => new Datagrams(), { localAddress: "127.0.0.1:0" });
  sink.transport.pauseReading();
  assert(!sink.transport.isReading());
  const sinkAddr = sink.transport.getExtraInfo("sockname") as Deno.NetAddr;
  const sender = await createDatagramEndpoint(() => new Datagrams(), { remoteAddress: sinkAddr });
  for (let i = 0; i < 5; i++) sender.transport.sendto(bytes(`queued ${i}`));
  sender.transport.abort(); // the first send is already in the kernel; the other four are not
  assertEquals(sender.transport.getWriteBufferSize(), 0);
  await sender.transport.closed;
  const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await probe.send(bytes("last"), sinkAddr);
  assertEquals(sink.protocol.received.length, 0, "nothing delivered while paused");
  sink.transport.resumeReading();
  await sink.protocol.until(() => sink.protocol.received.some((d) => d.text === "last"));
  // At most the send already handed to the kernel got through, never the queued ones.
  const texts = sink.protocol.received.map((d) => d.text);
  assert(
    texts.join() === "queued 0,last" || texts.join() === "last",
    `unexpected datagrams: ${texts}`,
  );
  probe.close();
  sink.transport.close();
  await sink.transport.closed;
});

Deno.test("UDP datagrams stay valid (slab views, no copy), or are views of one buffer with reuseReceiveBuffer", async () => {
  for (const reuse of [false, true]) {
    const chunks: Uint8Array[] = [];
    const texts: string[] = [];
    const got = Promise.withResolvers<void>();
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const transport = new UdpTransport(socket, {
      datagramReceived: (data) => {
        chunks.push(data);
        texts.push(new TextDecoder().decode(data));
        if (texts.length === 3) got.resolve();
      },
    }, { reuseReceiveBuffer: reuse });
    const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    await peer.send(bytes("first"), socket.addr);
    await peer.send(bytes("second"), socket.addr);
    await peer.send(bytes("third"), socket.addr);
    await got.promise;
    assertEquals(texts, ["first", "second", "third"]);
    assertEquals(chunks[0].buffer === chunks[1].buffer, true, "one slab or one reused buffer");
    if (reuse) {
      assertEquals(chunks[0].byteOffset, chunks[1].byteOffset, "the reused buffer");
    } else {
      // Kept chunks are never overwritten by later datagrams.
      assertEquals(chunks.map((c) => new TextDecoder().decode(c)), texts);
    }
    peer.close();
    transport.close();
    await transport.closed;
  }
});

Deno.test("UDP holds a datagram received after pauseReading until resumeReading", async () => {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const arrived = Promise.withResolvers<void>();
  // The socket, with a signal when a receive completes.
  const conn = {
    addr: socket.addr,
    receive: async (p?: Uint8Array) => {
      const result = await socket.receive(p);
      arrived.resolve();
      return result;
    },
    send: (p: Uint8Array, addr: Deno.Addr) => socket.send(p, addr),
    close: () => socket.close(),
  } as unknown as Deno.DatagramConn;
  const got: string[] = [];
  const delivered = Promise.withResolvers<void>();
  const transport = new UdpTransport(conn, {
    datagramReceived: (data) => {
      got.push(new TextDecoder().decode(data));
      delivered.resolve();
    },
  });
  transport.pauseReading(); // the first receive is already in flight
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await peer.send(bytes("held"), socket.addr);
  await arrived.promise;
  // One macrotask turn lets every pending microtask run: a delivery would have happened.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(got, []);
  transport.resumeReading();
  await delivered.promise;
  assertEquals(got, ["held"]);
  peer.close();
  transport.close();
  await transport.closed;
});

/**
 * A datagram socket whose sends the test settles by hand: shows how many are in flight and in
 * which order they were issued. Receives wait until close.
 */
class ManualSocket {
  readonly addr: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: 9 };
  readonly sends: { text: string; port: number; settle: PromiseWithResolvers<number> }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly #closed = Promise.withResolvers<[Uint8Array, Deno.Addr]>();
  #waiters: { count: number; resolve: () => void }[] = [];

  /** Resolves once `count` sends were issued. */
  untilSends(count: number): Promise<void> {
    if (this.sends.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  receive(): Promise<[Uint8Array, Deno.Addr]> {
    return this.#closed.promise;
  }

  /** Makes the next `send()` throw synchronously. */
  throwNext = false;

  send(data: Uint8Array, addr: Deno.Addr): Promise<number> {
    if (this.throwNext) {
      this.throwNext = false;
      throw new TypeError("This socket cannot send");
    }
    const settle = Promise.withResolvers<number>();
    this.sends.push({
      text: new TextDecoder().decode(data),
      port: (addr as Deno.NetAddr).port,
      settle,
    });
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    this.#waiters = this.#waiters.filter((w) =>
      !(this.sends.length >= w.count && (w.resolve(), true))
    );
    return settle.promise.finally(() => this.inFlight--);
  }

  close(): void {
    this.#closed.reject(new Deno.errors.BadResource("closed"));
  }
}

Deno.test("UDP sends one datagram at a time, in call order; a failed send is reported and the rest go", async () => {
  const socket = new ManualSocket();
  const protocol = new Datagrams();
  const udp = new UdpTransport(socket as unknown as Deno.DatagramConn, protocol);
  const to = (port: number): Deno.NetAddr => ({ transport: "udp", hostname: "127.0.0.1", port });
  udp.sendto(bytes("a"), to(1));
  udp.sendto(bytes("b"), to(2));
  udp.sendto(bytes("c"), to(3));
  assertEquals(udp.getWriteBufferSize(), 3);
  // One send is issued; the others wait for it.
  assertEquals(socket.sends.map((s) => s.text), ["a"]);
  socket.sends[0].settle.reject(new Deno.errors.ConnectionRefused("refused"));
  await socket.untilSends(2);
  assertEquals(protocol.events.filter((e) => e === "error").length, 1);
  assertEquals(udp.getWriteBufferSize(), 2, "the failed datagram is counted off");
  udp.sendto(bytes("d"), to(4)); // queued behind "c", which waits behind "b"
  socket.sends[1].settle.resolve(1);
  await socket.untilSends(3);
  assertEquals(udp.getWriteBufferSize(), 2);
  udp.close(); // "c" is in flight, "d" queued: both go before the socket closes
  socket.sends[2].settle.resolve(1);
  await socket.untilSends(4);
  assert(!protocol.events.includes("connectionLost"));
  assertEquals(udp.getWriteBufferSize(), 1);
  socket.sends[3].settle.resolve(1);
  await udp.closed;
  assertEquals(socket.sends.map((s) => `${s.text}:${s.port}`), ["a:1", "b:2", "c:3", "d:4"]);
  assertEquals(socket.maxInFlight, 1);
  assertEquals(udp.stats().writes, 3, "the failed send is not counted as written");
});

Deno.test("UDP: a socket whose send throws is reported like a failed send", async () => {
  const socket = new ManualSocket();
  const protocol = new Datagrams();
  const udp = new UdpTransport(socket as unknown as Deno.DatagramConn, protocol);
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: 1 };
  socket.throwNext = true;
  udp.sendto(bytes("a"), to); // throws inside: reported, not thrown to the caller
  udp.sendto(bytes("b"), to);
  await socket.untilSends(1);
  assertEquals(protocol.events.filter((e) => e === "error").length, 1);
  assertEquals(socket.sends.map((s) => s.text), ["b"]);
  socket.sends[0].settle.resolve(1);
  udp.close();
  await udp.closed;
  assertEquals(udp.stats().writes, 1);
});

Deno.test("UdpTransport: a remote address given by name is refused (its filter would drop every reply)", () => {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    assertThrows(
      () =>
        new UdpTransport(socket, { datagramReceived() {} }, {
          remoteAddress: { transport: "udp", hostname: "localhost", port: 9 },
        }),
      TypeError,
      "give an IP address",
    );
  } finally {
    socket.close();
  }
});

for (const spelling of ["0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"]) {
  Deno.test(`createDatagramEndpoint: a loopback remote spelt ${spelling} binds loopback, not the wildcard`, async () => {
    const { transport } = await createDatagramEndpoint(() => ({ datagramReceived() {} }), {
      remoteAddress: { hostname: spelling, port: 9 },
    });
    const local = transport.getExtraInfo("sockname") as Deno.NetAddr;
    transport.close();
    await transport.closed;
    assert(local.hostname === "::1" || local.hostname === "127.0.0.1", `bound ${local.hostname}`);
  });
}

Deno.test("createDatagramEndpoint: a local and a remote address of different families are refused", async () => {
  await assertRejects(
    () =>
      createDatagramEndpoint(() => ({ datagramReceived() {} }), {
        localAddress: "127.0.0.1:0",
        remoteAddress: "[::1]:9",
      }),
    TypeError,
    "different families",
  );
});

/**
 * asyncio pairs a named local_addr with the remote's family: with "localhost" on ::1 it binds
 * ::1; where "localhost" is 127.0.0.1 only (as here), it refuses up front, as Plexus does for an
 * IPv4 literal with an IPv6 remote. Either is fine; a socket that fails every send is not.
 */
Deno.test("createDatagramEndpoint: localAddress 'localhost:0' with an IPv6 remote binds in its family or refuses", async () => {
  const got = Promise.withResolvers<string>();
  class Sink extends DatagramProtocolAdapter {
    override datagramReceived(data: Uint8Array): void {
      got.resolve(new TextDecoder().decode(data));
    }
  }
  const server = await createDatagramEndpoint(() => new Sink(), { localAddress: "[::1]:0" });
  const port = (server.transport.getExtraInfo("sockname") as Deno.NetAddr).port;
  const failed = Promise.withResolvers<string>();
  class Sender extends DatagramProtocolAdapter {
    override errorReceived(error: Error): void {
      failed.resolve(`send failed: ${error.message}`);
    }
  }
  const made = await createDatagramEndpoint(() => new Sender(), {
    localAddress: "localhost:0",
    remoteAddress: `[::1]:${port}`,
  }).catch((error: Error) => error);
  if (made instanceof TypeError) {
    server.transport.close();
    await server.transport.closed;
    return; // refused up front: fine
  }
  if (made instanceof Error) throw made;
  const client = made;
  client.transport.sendto(new TextEncoder().encode("hi"));
  const outcome = await Promise.race([got.promise, failed.promise]);
  client.transport.close();
  server.transport.close();
  await Promise.all([client.transport.closed, server.transport.closed]);
  assertEquals(outcome, "hi");
});
