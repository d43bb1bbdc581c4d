/**
 * The lingering close: a graceful close of a socket whose peer is still sending delivers
 * everything written before it (closing with unread bytes made Linux reset the connection and
 * drop what had not left), and it is bounded.
 */
import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { createConnection, createServer, Server, type Wrapper } from "@plexus/net/endpoints";
import {
  decodeFrames,
  encodeFrame,
  FramedProtocol,
  FrameTooLongError,
  LineFramer,
  MessageProtocol,
} from "@plexus/net/framing";
import { Packet, PacketConnection, PacketFramer } from "@plexus/net/packet";
import {
  type ByteChannel,
  createMemoryChannelPair,
  DEADLINE_CLOSE_GRACE,
  type ExtraInfo,
  type Protocol,
  StreamTransport,
  type StreamTransportOptions,
  type Transport,
} from "@plexus/net/transport";
import { tls } from "../_net.ts";
import { CountingChannel } from "../_counting_channel.ts";

const REPLY = 16 << 20; // more than the sockets' buffers hold: most of it is still ours at close

/**
 * A server transport on `conn` that answers the first bytes with `REPLY` bytes and closes,
 * reading nothing more.
 */
function answerAndClose(
  conn: Deno.Conn,
  options: StreamTransportOptions = { lingerTimeout: 2000 },
): StreamTransport {
  return new StreamTransport(conn, answeringProtocol(), options);
}

/** A protocol that answers the first bytes with `REPLY` bytes and closes, as a Server's. */
function answeringProtocol(): Protocol {
  let transport: Transport;
  return {
    connectionMade: (t: Transport) => void (transport = t),
    dataReceived() {
      if (transport.isClosing()) return;
      transport.write(new Uint8Array(REPLY).fill(7));
      transport.close();
    },
  };
}

/**
 * A peer that keeps sending while it reads, in small reads (slower than the server writes),
 * until the end of the stream; returns what it read and how the stream ended.
 */
async function sendWhileReading(
  conn: Deno.Conn,
  next: (i: number) => Uint8Array = () => new Uint8Array(1024),
  keep?: Uint8Array[],
): Promise<{ got: number; error?: string }> {
  let reading = true;
  const sender = (async () => {
    try {
      for (let i = 0; reading; i++) await conn.write(next(i));
    } catch {
      // the server closed
    }
  })();
  let got = 0;
  let error: string | undefined;
  const buffer = new Uint8Array(4096);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      got += n;
      keep?.push(buffer.slice(0, n));
    }
  } catch (e) {
    error = (e as Error).name;
  }
  reading = false;
  await sender;
  // Our EOF in turn, as a peer that is done does: the server stops lingering.
  await conn.closeWrite().catch(() => {});
  return { got, error };
}

Deno.test("tcp: a close delivers everything to a peer that is still sending, then ends with EOF", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = answerAndClose(await accepted);
  const result = await sendWhileReading(client);
  assertEquals(result, { got: REPLY, error: undefined });
  assertEquals(await server.closed, undefined);
  assertEquals(server.stats().closeReason, "close");
});

Deno.test("tls: a close delivers everything to a peer that is still sending", async () => {
  using listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.cert,
    key: tls.key,
  });
  const accepted = listener.accept();
  using client = await Deno.connectTls({
    hostname: "localhost",
    port: listener.addr.port,
    caCerts: [tls.ca],
  });
  const server = answerAndClose(await accepted);
  const result = await sendWhileReading(client);
  assertEquals(result.got, REPLY);
  assertEquals(await server.closed, undefined);
});

Deno.test("a TLS Server's close delivers everything to a peer that is still sending", async () => {
  // node:tls carries a TLS Server's connections: its channel had no socket address, so the
  // close did not linger (the peer got ~13.5 of 16 MiB and an unexpected EOF).
  await using server = await createServer(
    answeringProtocol,
    "127.0.0.1:0",
    { tls: { cert: tls.cert, key: tls.key } },
  );
  const { port } = server.addresses[0] as Deno.NetAddr;
  using client = await Deno.connectTls({ hostname: "localhost", port, caCerts: [tls.ca] });
  assertEquals(await sendWhileReading(client), { got: REPLY, error: undefined });
  await server.shutdown();
});

Deno.test("a Server whose wrapper hides the socket's address still lingers", async () => {
  // A forwarding wrapper (counting, logging) without localAddr: lingering went by the
  // channel's address alone, so the peer still sending got a reset (~12.9 of 16 MiB).
  const forwarding: Wrapper = (channel) => ({
    read: (p) => channel.read(p),
    write: (p) => channel.write(p),
    closeWrite: () => channel.closeWrite(),
    close: () => channel.close(),
  });
  await using server = await createServer(
    answeringProtocol,
    "127.0.0.1:0",
    { wrapper: forwarding },
  );
  const { port } = server.addresses[0] as Deno.NetAddr;
  using client = await Deno.connect({ hostname: "127.0.0.1", port });
  assertEquals(await sendWhileReading(client), { got: REPLY, error: undefined });
  await server.shutdown();
});

Deno.test("a Server subclass that wraps the channel in handleConnection still lingers", async () => {
  // The socket's address was recorded only where TLS or the wrapper option ran.
  class Wrapping extends Server {
    override handleConnection(channel: ByteChannel, extra: ExtraInfo): void {
      super.handleConnection({
        read: (p) => channel.read(p),
        write: (p) => channel.write(p),
        closeWrite: () => channel.closeWrite(),
        close: () => channel.close(),
      }, extra);
    }
  }
  await using server = new Wrapping(answeringProtocol);
  const [address] = await server.listen("127.0.0.1:0");
  using client = await Deno.connect({
    hostname: "127.0.0.1",
    port: (address as Deno.NetAddr).port,
  });
  assertEquals(await sendWhileReading(client), { got: REPLY, error: undefined });
  await server.shutdown();
});

Deno.test("an in-memory channel with a user-given sockname closes at once", async () => {
  // The lingering decision read the user-writable `extra.sockname` (a label here): the close
  // lingered for the peer's EOF, which a half-closing peer never sends.
  const [a, b] = createMemoryChannelPair();
  const counted = new CountingChannel(a);
  const sockname: Deno.NetAddr = { transport: "tcp", hostname: "10.0.0.1", port: 80 };
  const left = new StreamTransport(counted, { dataReceived() {} }, {
    lingerTimeout: 60_000,
    extra: { sockname },
  });
  const right = new StreamTransport(b, { dataReceived() {}, eofReceived: () => true });
  left.close();
  // Closed at once, with the read loop's read pending; a lingering close reads to the EOF.
  assertEquals(counted.readsPendingAtClose, 1);
  await left.closed;
  right.abort();
  await right.closed;
});

Deno.test("server-side STARTTLS: a close delivers everything to a peer that is still sending", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  let upgraded = false;
  const server: StreamTransport = new StreamTransport(await accepted, {
    dataReceived() {
      if (server.isClosing()) return;
      if (!upgraded) {
        upgraded = true;
        server.write(new TextEncoder().encode("GO\n"));
        server.startTls({ serverSide: true, cert: tls.cert, key: tls.key }).catch(() => {});
        return;
      }
      server.write(new Uint8Array(REPLY).fill(7));
      server.close();
    },
  }, { lingerTimeout: 2000 });
  await conn.write(new TextEncoder().encode("STARTTLS\n"));
  assertEquals(await conn.read(new Uint8Array(3)), 3);
  using secure = await Deno.startTls(conn, { caCerts: [tls.ca], hostname: "localhost" });
  assertEquals(await sendWhileReading(secure), { got: REPLY, error: undefined });
  await server.closed;
});

Deno.test("a TLS client made by Deno.startTls lingers for the server's EOF", async () => {
  // Deno.startTls's connections report their address without `transport`: they were taken
  // for channels that cannot reset, and closed at once, their read still pending.
  using listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key });
  const accepted = listener.accept();
  let counted: CountingChannel | undefined;
  const { transport } = await createConnection(() => ({ dataReceived() {} }), listener.addr, {
    tls: { caCerts: [tls.ca] },
    serverHostname: "localhost",
    lingerTimeout: 60_000,
    wrapper: (channel) => counted = new CountingChannel(channel),
  });
  using server = await accepted;
  transport.close();
  assertEquals(await server.read(new Uint8Array(16)), null); // the client's EOF
  await server.closeWrite(); // ours: the lingering client closes
  await transport.closed;
  assertEquals(counted!.readsPendingAtClose, 0, "closed with its read pending: no lingering");
});

Deno.test("unix: a close with unread bytes ends the peer's stream with EOF, not a reset", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/linger.sock`;
  try {
    using listener = Deno.listen({ transport: "unix", path });
    const accepted = listener.accept();
    using client = await Deno.connect({ transport: "unix", path });
    const server = answerAndClose(await accepted);
    const result = await sendWhileReading(client);
    assertEquals(result, { got: REPLY, error: undefined });
    await server.closed;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a server's drain timeout answers a packet peer that is still sending before it closes", async () => {
  // The peer goes on sending requests while the server drains; at the drain timeout the
  // server answers the request it gave up on, stops reading and closes once its answers are
  // flushed, with the peer's later requests unread.
  const server = await createServer(() =>
    new PacketConnection({
      requestHandler: (rqType) => rqType === 0 ? new Uint8Array(256 * 1024) : new Promise(() => {}),
    }), "127.0.0.1:0");
  const { port } = server.addresses[0] as Deno.NetAddr;
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const framer = new PacketFramer();
  const request = (tag: number, rqType = 1) =>
    encodeFrame(framer, new Packet({ tag, isRequest: true, rqType }));
  for (let tag = 2; tag < 18; tag++) await conn.write(request(tag)); // 16 × 256 KiB answers
  await conn.write(request(18, 2)); // never answered by its handler
  // The first answer's first bytes: the requests are being served.
  const first = new Uint8Array(65536);
  const received: Uint8Array[] = [first.slice(0, (await conn.read(first))!)];
  const shutdown = server.shutdown({ timeout: 100 });
  const result = await sendWhileReading(conn, (i) => request(19 + i % 1000), received);
  await shutdown;
  assertEquals(result.error, undefined);
  const bytes = new Uint8Array(result.got + received[0].length);
  received.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
  const answers = decodeFrames(framer, bytes).filter((p) => !p.isRequest && p.tag <= 18);
  assertEquals(answers.length, 17);
  for (const answer of answers.filter((p) => p.tag < 18)) {
    assertEquals([answer.ok, answer.payload.length], [true, 256 * 1024]);
  }
  const gaveUp = answers.find((p) => p.tag === 18)!;
  assertEquals(gaveUp.ok, false);
  assertEquals(
    new TextDecoder().decode(gaveUp.payload),
    "The server's shutdown timed out after 100 ms",
  );
});

Deno.test("an answered bad frame or message lingers for lingerTimeout, past the flush's grace", async () => {
  // FramedProtocol's frameError and MessageProtocol's decodeError close with a 1 s grace
  // (DEADLINE_CLOSE_GRACE) for their answer's flush; its timer aborted the transport while it
  // lingered, resetting a peer still sending.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const protocols = [
    new FramedProtocol(new LineFramer({ maxLength: 16 }), {
      frameReceived() {},
      frameError: (_error, framed) => framed.sendFrame(new TextEncoder().encode("ERR")),
    }),
    new MessageProtocol<Uint8Array>({
      decoder: new LineFramer({ maxLength: 16 }),
      messageHandler: () => {},
      decodeError: (_error, transport) => transport.write(new TextEncoder().encode("ERR\r\n")),
    }),
  ];
  const ends = [];
  for (const protocol of protocols) {
    const accepted = listener.accept();
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = new StreamTransport(await accepted, protocol, { lingerTimeout: 60_000 });
    await client.write(new TextEncoder().encode("x".repeat(64) + "\n"));
    let reply = "";
    const buffer = new Uint8Array(64);
    for (let n; (n = await client.read(buffer)) !== null;) {
      reply += new TextDecoder().decode(buffer.subarray(0, n));
    }
    ends.push({ client, server, reply, lost: false });
  }
  for (const end of ends) void end.server.closed.then(() => end.lost = true);
  // Past the grace, still lingering: the time must pass for a timer not to fire.
  await new Promise((resolve) => setTimeout(resolve, DEADLINE_CLOSE_GRACE + 200));
  for (const { client, server, reply, lost } of ends) {
    assertEquals(reply, "ERR\r\n");
    assertEquals(lost, false, "the grace's timer cut the lingering close");
    await client.write(new Uint8Array(100)); // read and dropped
    await client.closeWrite();
    assertInstanceOf(await server.closed, FrameTooLongError);
    client.close();
  }
});

/**
 * Reads the server's last words and EOF, checks the server still lingers 300 ms later (past a
 * `closeTimeout` of 100 ms: the time must pass for a timer not to fire), then sends our EOF.
 */
async function stillLingeringPastCloseTimeout(
  client: Deno.Conn,
  server: StreamTransport,
): Promise<void> {
  const buffer = new Uint8Array(64);
  while (await client.read(buffer) !== null) {
    // ERQ, EOF: the last words, then the end of the stream
  }
  let lost = false;
  void server.closed.then(() => lost = true);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assertEquals(lost, false, "closeTimeout's timer cut the lingering close");
  await client.closeWrite();
}

Deno.test("a packet connection's give-up bounds its flush by closeTimeout, not its lingering", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const connection = new PacketConnection({ closeTimeout: 100 });
  const server = new StreamTransport(await accepted, connection, { lingerTimeout: 60_000 });
  const drain = new AbortController();
  const shutdown = connection.shutdown(drain.signal).catch(() => {});
  drain.abort(new Error("the drain timed out"));
  await stillLingeringPastCloseTimeout(client, server);
  await server.closed;
  await shutdown;
});

Deno.test("a packet connection's close() that ended in order is not timed out while it lingers", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const connection = new PacketConnection({ closeTimeout: 100 });
  const server = new StreamTransport(await accepted, connection, { lingerTimeout: 60_000 });
  const closing = connection.close();
  await client.write(new Uint8Array([3, 0, 2, 0])); // our EOF packet: the close is in order
  await stillLingeringPastCloseTimeout(client, server);
  await closing;
  assertEquals(await connection.closed, undefined, "not a close() timeout");
});

Deno.test("PacketConnection.close() still times out while its transport's closeWrite() waits", async () => {
  // An empty write buffer was taken for a close that only lingers: the closeTimeout timer
  // skipped its abort while a stream's sink held closeWrite(), and close() never settled.
  let feed!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>({ start: (c) => void (feed = c) });
  const sinkClose = Promise.withResolvers<void>();
  const writable = new WritableStream<Uint8Array>({
    write() {}, // every byte is taken at once
    close: () => sinkClose.promise, // the end waits on the sink
    abort: () => sinkClose.resolve(),
  });
  const connection = PacketConnection.fromStreams({ readable, writable }, {
    closeStreams: true,
    closeTimeout: 200,
  });
  const closing = connection.close();
  feed.enqueue(new Uint8Array([3, 0, 2, 0])); // the peer's EOF packet: an orderly close
  let guard: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    closing.then(() => "settled"),
    new Promise<string>((resolve) => guard = setTimeout(() => resolve("pending"), 10_000)),
  ]);
  clearTimeout(guard);
  if (outcome === "pending") connection.transport!.abort();
  sinkClose.resolve();
  await closing;
  assertEquals(outcome, "settled");
  assertStringIncludes(String(await connection.closed), "close() timed out after 200 ms");
});

Deno.test("flushed() after close() resolves once everything is handed over, not after the lingering", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = new StreamTransport(await accepted, { dataReceived() {} }, {
    lingerTimeout: 2 ** 31 - 1,
  });
  transport.write(new Uint8Array([1, 2, 3]));
  transport.close();
  const buffer = new Uint8Array(16);
  assertEquals(await client.read(buffer), 3);
  assertEquals(await client.read(buffer), null); // our EOF: flushed, lingering now
  // It waited for the peer's EOF (here for ever) before: the guard turns that into a failure.
  let guard: ReturnType<typeof setTimeout> | undefined;
  const flushed = await Promise.race([
    transport.flushed().then(() => true),
    new Promise<boolean>((resolve) => guard = setTimeout(() => resolve(false), 10_000)),
  ]);
  clearTimeout(guard);
  assert(flushed, "flushed() waited for the lingering");
  let lost: Error | undefined;
  void transport.closed.then((error) => lost = error);
  // An abort with an error during the lingering ends it with that error.
  transport.abort(new Error("gave up on the peer"));
  await transport.closed;
  assertEquals(lost?.message, "gave up on the peer");
});

Deno.test("lingering is bounded by lingerTimeout against a peer that never ends its stream", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = new StreamTransport(await accepted, { dataReceived() {} }, {
    lingerTimeout: 50,
  });
  transport.write(new Uint8Array([1, 2, 3]));
  transport.close();
  // The peer reads our bytes and our EOF, and neither sends EOF nor closes.
  const buffer = new Uint8Array(16);
  assertEquals(await client.read(buffer), 3);
  assertEquals(await client.read(buffer), null);
  assertEquals(await transport.closed, undefined);
  assertEquals(transport.stats().closeReason, "close");
});

Deno.test("abort() ends a lingering close at once", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  let lost = 0;
  const transport = new StreamTransport(await accepted, {
    dataReceived() {},
    connectionLost: () => void lost++,
  }, { lingerTimeout: 2 ** 31 - 1 });
  transport.close();
  assertEquals(await client.read(new Uint8Array(16)), null); // our EOF: we linger now
  assertEquals(lost, 0, "connectionLost() waits for the socket to close");
  transport.abort();
  // Without the cut this waits ~24 days: the guard turns a hang into a failure.
  let guard: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([
    transport.closed.then(() => true),
    new Promise<boolean>((resolve) => guard = setTimeout(() => resolve(false), 10_000)),
  ]);
  clearTimeout(guard);
  assert(ended, "abort() ended the lingering close");
  assertEquals(lost, 1);
});

Deno.test("a plain transport closes at once by default and with lingerTimeout 0; a bad one throws", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  for (const lingerTimeout of [undefined, 0]) {
    const accepted = listener.accept();
    using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const conn = await accepted;
    for (const bad of [-1, NaN, Infinity, 2 ** 31]) {
      assertThrows(
        () => new StreamTransport(conn, { dataReceived() {} }, { lingerTimeout: bad }),
        RangeError,
        "lingerTimeout",
      );
    }
    const transport = new StreamTransport(conn, { dataReceived() {} }, { lingerTimeout });
    transport.close();
    await transport.closed; // the peer has not ended its stream: nothing waited for it
    assertEquals(await client.read(new Uint8Array(16)), null);
  }
});
