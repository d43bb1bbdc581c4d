import { assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import {
  CorruptFrameError,
  FrameTooLongError,
  TinyprotoProtocol,
  TransmissionRejectedError,
  TruncatedFrameError,
} from "@plexus/net/framing";
import {
  type ByteChannel,
  createMemoryChannelPair,
  createMemoryTransportPair,
  type FrameTraceEvent,
  StreamTransport,
  subscribe,
  TransportError,
} from "@plexus/net/transport";
import { tcpPair } from "../_net.ts";
import { bytes, concat, hex, prng, randomBytes, readExactly, text } from "./_helpers.ts";

/** A tinyproto protocol on one end of a memory channel pair; the other end stays raw. */
function rawPeer(tp: TinyprotoProtocol): { raw: ByteChannel; transport: StreamTransport } {
  const [mine, raw] = createMemoryChannelPair();
  return { raw, transport: new StreamTransport(mine, tp) };
}

Deno.test("tinyproto matches the wire vectors: handshake, a send and a receive", async () => {
  const received: string[] = [];
  const tp = new TinyprotoProtocol({ transmissionReceived: (p) => void received.push(text(p)) });
  const { raw, transport } = rawPeer(tp);
  assertEquals(await readExactly(raw, 1), hex("ff"), "handshake");
  await raw.write(hex("ff"));
  const sent = tp.send(bytes("hello"));
  assertEquals(await readExactly(raw, 4), hex("00 00 00 05"));
  await raw.write(hex("ff"));
  assertEquals(await readExactly(raw, 5), bytes("hello"));
  await sent;
  await raw.write(hex("00 00 00 0a"));
  assertEquals(await readExactly(raw, 1), hex("ff"));
  await raw.write(bytes("echo:hello"));
  await raw.closeWrite();
  assertEquals(await transport.closed, undefined);
  assertEquals(received, ["echo:hello"]);
  raw.close();
});

Deno.test("tinyproto refuses an oversize announcement with 00, then ends with the error", async () => {
  const tp = new TinyprotoProtocol({ transmissionReceived() {} }, { maxSize: 100 });
  const { raw } = rawPeer(tp);
  await raw.write(hex("ff f1 00 00 00"));
  assertEquals(await readExactly(raw, 3), hex("ff 00"), "handshake, refusal, then end of stream");
  raw.close();
  const error = await tp.closed as FrameTooLongError;
  assertInstanceOf(error, FrameTooLongError);
  assertEquals(error.message, "Cannot receive transmission: length 4043309056 exceeds maxSize 100");
});

Deno.test("tinyproto surfaces the peer's refusal as a rejected send", async () => {
  const tp = new TinyprotoProtocol({ transmissionReceived() {} });
  const { raw } = rawPeer(tp);
  await raw.write(hex("ff"));
  const sending = tp.send(bytes("too big"));
  const second = tp.send(bytes("next"));
  assertEquals(await readExactly(raw, 5), hex("ff 00 00 00 07"));
  await raw.write(hex("00"));
  await raw.closeWrite();
  await assertRejects(
    () => sending,
    TransmissionRejectedError,
    "Transmission rejected: the peer refused 7 bytes",
  );
  await assertRejects(() => second, TransmissionRejectedError);
  assertInstanceOf(await tp.closed, TransmissionRejectedError);
  raw.close();
});

Deno.test("tinyproto reports a stream cut mid-payload instead of padding it", async () => {
  const received: Uint8Array[] = [];
  const tp = new TinyprotoProtocol({ transmissionReceived: (p) => void received.push(p) });
  const { raw } = rawPeer(tp);
  await raw.write(hex("ff 00 00 00 0a"));
  assertEquals(await readExactly(raw, 2), hex("ff ff"));
  await raw.write(bytes("abc"));
  await raw.closeWrite();
  const error = await tp.closed as TruncatedFrameError;
  assertInstanceOf(error, TruncatedFrameError);
  assertEquals(
    error.message,
    "Cannot receive transmission of 10 bytes: the stream ended with 3 bytes of an incomplete frame",
  );
  assertEquals(received, []);
  raw.close();
});

Deno.test("tinyproto delivers zero-length transmissions as empty messages", async () => {
  const received: Uint8Array[] = [];
  const server = new TinyprotoProtocol({
    transmissionReceived(p, tp) {
      received.push(p);
      if (received.length === 2) tp.close();
    },
  });
  const client = new TinyprotoProtocol({ transmissionReceived() {} });
  createMemoryTransportPair(server, client);
  await client.send(new Uint8Array(0));
  await client.send(bytes("x"));
  assertEquals(await server.closed, undefined);
  assertEquals(received, [new Uint8Array(0), bytes("x")]);
});

/** Two tinyproto ends that both send `count` messages at once and collect what they get. */
async function crossTraffic(
  connect: (a: TinyprotoProtocol, b: TinyprotoProtocol) => Promise<void> | void,
  count: number,
  seed: number,
): Promise<void> {
  const random = prng(seed);
  const messages = (tag: number) =>
    Array.from({ length: count }, (_, i) => {
      const m = randomBytes(random, Math.floor(random() * (i % 10 === 0 ? 70_000 : 300)));
      if (m.length > 0) m[0] = tag; // first bytes 00 and ff in payloads too
      return m;
    });
  const toB = messages(0x00);
  const toA = messages(0xff);
  const gotA: Uint8Array[] = [];
  const gotB: Uint8Array[] = [];
  const doneA = Promise.withResolvers<void>();
  const doneB = Promise.withResolvers<void>();
  const end = (got: Uint8Array[], done: PromiseWithResolvers<void>) => (p: Uint8Array) => {
    got.push(p);
    if (got.length === count) done.resolve();
  };
  const a = new TinyprotoProtocol({
    connectionStarted: (tp) => void toB.forEach((m) => tp.send(m)),
    transmissionReceived: end(gotA, doneA),
  });
  const b = new TinyprotoProtocol({
    connectionStarted: (tp) => void toA.forEach((m) => tp.send(m)),
    transmissionReceived: end(gotB, doneB),
  });
  await connect(a, b);
  await Promise.all([doneA.promise, doneB.promise]);
  a.close();
  assertEquals(await a.closed, undefined);
  assertEquals(await b.closed, undefined);
  assertEquals(gotB.length, count);
  for (let i = 0; i < count; i++) {
    assertEquals(gotB[i], toB[i], `to b #${i}`);
    assertEquals(gotA[i], toA[i], `to a #${i}`);
  }
}

Deno.test("tinyproto ends sending at the same moment neither deadlock nor misread (memory)", async () => {
  for (const capacity of [1, 7, 65536]) {
    await crossTraffic((a, b) => void createMemoryTransportPair(a, b, { capacity }), 60, capacity);
  }
});

Deno.test("tinyproto ends sending at the same moment neither deadlock nor misread (TCP)", async () => {
  await crossTraffic(
    async (a, b) => {
      const [ca, cb] = await tcpPair();
      new StreamTransport(ca, a);
      new StreamTransport(cb, b);
    },
    300,
    11,
  );
});

Deno.test("tinyproto tells a refusal from a crossing announcement that starts with 00", async () => {
  // a announces 200 bytes to b (max 100) while b announces 5 bytes (00 00 00 05) to a.
  const gotA: string[] = [];
  const a = new TinyprotoProtocol({ transmissionReceived: (p) => void gotA.push(text(p)) });
  const b = new TinyprotoProtocol({ transmissionReceived() {} }, { maxSize: 100 });
  createMemoryTransportPair(a, b);
  const fromA = a.send(new Uint8Array(200));
  const fromB = b.send(bytes("hello"));
  await assertRejects(() => fromA, TransmissionRejectedError);
  assertInstanceOf(await a.closed, TransmissionRejectedError);
  assertInstanceOf(await b.closed, FrameTooLongError);
  await fromB.catch(() => {}); // b's own send ends with the connection
});

Deno.test("tinyproto send on a closing transport rejects instead of throwing", async () => {
  const started = Promise.withResolvers<void>();
  const a = new TinyprotoProtocol({
    connectionStarted: () => started.resolve(),
    transmissionReceived() {},
  });
  const b = new TinyprotoProtocol({ transmissionReceived() {} });
  const [transportA] = createMemoryTransportPair(a, b);
  await started.promise;
  const reason = new Error("idle timeout");
  transportA.abort(reason); // connectionLost comes later: the transport is closing meanwhile
  let sending: Promise<void> | undefined;
  try {
    sending = a.send(bytes("late"));
  } catch (error) {
    throw new Error(`send() threw synchronously: ${error}`);
  }
  await assertRejects(() => sending!, TransportError, "the tinyproto connection is ending");
  assertEquals(await a.closed, reason);
  await b.closed;
});

Deno.test("tinyproto request() with an oversize payload leaves no receiver to take the next message", async () => {
  const a = new TinyprotoProtocol({});
  const b = new TinyprotoProtocol({});
  createMemoryTransportPair(a, b);
  // Only byteLength is read before the refusal: no need to allocate 4 GiB.
  const huge = { byteLength: 0xf0ffffff + 1 } as Uint8Array;
  await assertRejects(() => a.request(huge), RangeError, "tinyproto allows at most");
  await b.send(bytes("next"));
  assertEquals(text(await a.receive()), "next", "the failed request() did not take it");
  a.close();
  await Promise.all([a.closed, b.closed]);
});

Deno.test("tinyproto close with sends pending fails them and ends in order", async () => {
  // The handler closes the transport itself while our send waits for its answer, and the
  // answer is already in the same read: nothing more may be written, and the end is orderly.
  const ours: { transport?: StreamTransport } = {};
  const tp = new TinyprotoProtocol({
    transmissionReceived: () => ours.transport!.close(),
  });
  const { raw, transport } = rawPeer(tp);
  ours.transport = transport;
  await raw.write(hex("ff 00 00 00 01")); // handshake; the peer announces 1 byte
  assertEquals(await readExactly(raw, 2), hex("ff ff"), "handshake, go on");
  const first = tp.send(bytes("one")); // announced, answer pending
  const second = tp.send(bytes("two")); // queued behind it
  assertEquals(await readExactly(raw, 4), hex("00 00 00 03"));
  await raw.write(concat([bytes("x"), hex("ff")])); // the payload, then the answer to "one"
  await assertRejects(() => first, TransportError, "the connection closed");
  await assertRejects(() => second, TransportError, "the connection closed");
  await assertRejects(() => tp.send(bytes("three")), TransportError, "ending");
  assertEquals(await tp.closed, undefined);
  assertEquals(await readExactly(raw, 1), hex(""), "end of stream, no payload after close");
  raw.close();
});

Deno.test("tinyproto close aborts after closeTimeout when the peer never closes", async () => {
  const tp = new TinyprotoProtocol({ transmissionReceived() {} }, { closeTimeout: 20 });
  const { raw, transport } = rawPeer(tp);
  await raw.write(hex("ff"));
  assertEquals(await readExactly(raw, 1), hex("ff"));
  tp.close();
  assertEquals(await readExactly(raw, 1), hex(""), "our end of stream");
  // The peer stays open and keeps talking: what arrives is dropped, then we give up.
  await raw.write(new Uint8Array(1000));
  const error = await tp.closed as TransportError;
  assertInstanceOf(error, TransportError);
  assertEquals(error.message, "Cannot close tinyproto: the peer did not close within 20 ms");
  await transport.closed;
  raw.close();
});

Deno.test("tinyproto refusal ends the connection after closeTimeout when the peer stays open", async () => {
  const tp = new TinyprotoProtocol({ transmissionReceived() {} }, {
    maxSize: 10,
    closeTimeout: 20,
  });
  const { raw } = rawPeer(tp);
  await raw.write(hex("ff 00 00 00 0b"));
  assertEquals(await readExactly(raw, 3), hex("ff 00"), "handshake, refusal, end of stream");
  assertInstanceOf(await tp.closed, FrameTooLongError, "the refusal is still the reason");
  raw.close();
});

Deno.test("tinyproto reports a stray ff that answers nothing at once", async () => {
  const tp = new TinyprotoProtocol({ transmissionReceived() {} });
  const { raw } = rawPeer(tp);
  await raw.write(hex("ff ff")); // the handshake, then an answer nobody asked for
  const error = await tp.closed as CorruptFrameError;
  assertInstanceOf(error, CorruptFrameError);
  assertEquals(
    error.message,
    "Cannot receive transmission: got ff, an answer, but no announcement of ours awaits one",
  );
  raw.close();
});

for (
  const [status, meaning] of [
    ["fe", "connection limit reached"],
    ["fd", "conflict"],
    ["00", "refused"],
  ]
) {
  Deno.test(`tinyproto names a server's ${status} status at the handshake (${meaning})`, async () => {
    const tp = new TinyprotoProtocol({ transmissionReceived() {} });
    const { raw } = rawPeer(tp);
    const sending = tp.send(bytes("hello"));
    await raw.write(hex(status)); // the original server sends its status, then closes
    await raw.closeWrite();
    const error = await tp.closed as TransmissionRejectedError;
    assertInstanceOf(error, TransmissionRejectedError);
    assertEquals(
      error.message,
      `Cannot start tinyproto: the peer refused the connection (${status}: ${meaning})`,
    );
    assertEquals(error.status, parseInt(status, 16));
    await assertRejects(() => sending, TransmissionRejectedError, meaning);
    raw.close();
  });
}

Deno.test("tinyproto close() before the connection is made ends it once connected", async () => {
  const events: string[] = [];
  const early = new TinyprotoProtocol({
    connectionEnded: (error) => void events.push(`early ended ${error}`),
  });
  const peer = new TinyprotoProtocol({
    connectionEnded: (error) => void events.push(`peer ended ${error}`),
  });
  early.close(); // before any transport: it must half-close as soon as it has one
  createMemoryTransportPair(early, peer);
  assertEquals(await Promise.all([early.closed, peer.closed]), [undefined, undefined]);
  assertEquals(events.sort(), ["early ended undefined", "peer ended undefined"]);
});

Deno.test("tinyproto request() on an ending connection leaves the waiting message for receive()", async () => {
  const a = new TinyprotoProtocol({});
  const b = new TinyprotoProtocol({});
  createMemoryTransportPair(a, b);
  await b.send(bytes("last"));
  b.close();
  assertEquals(await a.closed, undefined); // "last" waits unclaimed
  // The request cannot be sent: it must not take "last" as its reply and drop it.
  await assertRejects(() => a.request(bytes("question")), TransportError, "ending");
  assertEquals(text(await a.receive()), "last");
  await b.closed;
});

Deno.test("tinyproto refuses a closeTimeout no timer can wait", () => {
  // Deno runs a timer over 2147483647 ms after 1 ms: the close would abort at once.
  assertThrows(
    () => new TinyprotoProtocol({}, { closeTimeout: 2 ** 31 }),
    RangeError,
    "closeTimeout",
  );
  new TinyprotoProtocol({}, { closeTimeout: 2 ** 31 - 1 });
  new TinyprotoProtocol({}, { closeTimeout: Infinity });
});

/** Settles with `work`, or rejects after `ms` (a deadlock guard). */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
  }
}

async function bothSendBeforeReading(
  connect: (a: TinyprotoProtocol, b: TinyprotoProtocol) => Promise<void> | void,
): Promise<void> {
  // No transmissionReceived on either end: messages wait in the inboxes for receive().
  const a = new TinyprotoProtocol({});
  const b = new TinyprotoProtocol({});
  await connect(a, b);
  const count = 40;
  const sendAll = (tp: TinyprotoProtocol, name: string) =>
    Array.from({ length: count }, (_, i) => tp.send(bytes(`${name}${i}`)));
  const receiveAll = async (tp: TinyprotoProtocol) => {
    const got: string[] = [];
    for (let i = 0; i < count; i++) got.push(text(await tp.receive()));
    return got;
  };
  const sends = [...sendAll(a, "a"), ...sendAll(b, "b")];
  sends.forEach((sent) => sent.catch(() => {})); // a deadlock fails them at the close below
  try {
    // Every send needs the peer's ff while the peer's inbox is full: it must still read.
    await within(5000, "every send, before any receive()", Promise.all(sends));
    const [gotA, gotB] = await within(5000, "reading", Promise.all([receiveAll(a), receiveAll(b)]));
    assertEquals(gotA, Array.from({ length: count }, (_, i) => `b${i}`));
    assertEquals(gotB, Array.from({ length: count }, (_, i) => `a${i}`));
  } finally {
    a.close();
    b.close();
    await Promise.all([a.closed, b.closed]);
  }
}

Deno.test("tinyproto pull style: both ends send over 16 messages before reading, and finish (memory)", async () => {
  await bothSendBeforeReading((a, b) => void createMemoryTransportPair(a, b));
});

Deno.test("tinyproto pull style: both ends send over 16 messages before reading, and finish (TCP)", async () => {
  await bothSendBeforeReading(async (a, b) => {
    const [ca, cb] = await tcpPair();
    new StreamTransport(ca, a);
    new StreamTransport(cb, b);
  });
});

/** A raw peer's handshake, then 16 one-byte messages (0 to 15): a pull-style inbox is full. */
async function fillInbox(raw: ByteChannel): Promise<void> {
  assertEquals(await readExactly(raw, 1), hex("ff"), "handshake");
  await raw.write(hex("ff"));
  for (let i = 0; i < 16; i++) {
    await raw.write(hex("00 00 00 01"));
    assertEquals(await readExactly(raw, 1), hex("ff"), `go on for #${i}`);
    await raw.write(new Uint8Array([i]));
  }
}

Deno.test("tinyproto pull style: a full inbox holds back our ff, and a peer cannot push past it", async () => {
  const tp = new TinyprotoProtocol({});
  const { raw } = rawPeer(tp);
  await fillInbox(raw);
  await raw.write(hex("00 00 00 01")); // the 17th: 16 wait, so no ff yet
  await raw.write(hex("00 00 00 01 11")); // a peer that pushes it without our ff
  const error = await tp.closed as CorruptFrameError;
  assertInstanceOf(error, CorruptFrameError);
  assertEquals(
    error.message,
    "Cannot receive transmission: got 0x00 before we answered the peer's announcement",
  );
  const waiting: number[] = [];
  for (let i = 0; i < 16; i++) waiting.push((await tp.receive())[0]);
  assertEquals(waiting, Array.from({ length: 16 }, (_, i) => i), "never more than 16");
  await assertRejects(() => tp.receive(), TransportError, "ending");
  raw.close();
});

Deno.test("tinyproto pull style: our send goes on while the inbox is full; receive() makes room", async () => {
  const tp = new TinyprotoProtocol({});
  const { raw } = rawPeer(tp);
  await fillInbox(raw);
  await raw.write(hex("00 00 00 01")); // the 17th: 16 wait, so no ff yet
  const sent = tp.send(bytes("out"));
  // The peer reads our bytes in order: our payload cannot come before our answer to its 17th,
  // so announcing ours answers it.
  assertEquals(await readExactly(raw, 5), hex("00 00 00 03 ff"), "our size, then the held ff");
  await raw.write(hex("ff")); // read although 16 wait: our size gets the peer's ff
  assertEquals(await readExactly(raw, 3), bytes("out"));
  await sent;
  await raw.write(new Uint8Array([16])); // 17 wait: one let in by our send
  await raw.write(hex("00 00 00 01")); // the 18th: held
  assertEquals(await tp.receive(), new Uint8Array([0]));
  assertEquals(await tp.receive(), new Uint8Array([1]));
  assertEquals(await readExactly(raw, 1), hex("ff"), "room again: go on for the 18th");
  await raw.write(new Uint8Array([17]));
  // 16 wait again. A peer that pushes a 19th without our ff breaks the protocol.
  await raw.write(hex("00 00 00 01 12"));
  const error = await tp.closed as CorruptFrameError;
  assertInstanceOf(error, CorruptFrameError);
  assertEquals(
    error.message,
    "Cannot receive transmission: got 0x12 before we answered the peer's announcement",
  );
  const waiting: number[] = [];
  for (let i = 0; i < 16; i++) waiting.push((await tp.receive())[0]);
  assertEquals(waiting, Array.from({ length: 16 }, (_, i) => i + 2));
  await assertRejects(() => tp.receive(), TransportError, "ending");
  raw.close();
});

Deno.test("tinyproto pull style: receive() draining a full inbox keeps the application's pauseReading", async () => {
  const tp = new TinyprotoProtocol({});
  const { raw, transport } = rawPeer(tp);
  // The 16th message parsed (and delivered, right after its trace event): the inbox is full.
  const full = Promise.withResolvers<void>();
  const isLast = (frame: unknown) => frame instanceof Uint8Array && frame[0] === 15;
  using _ = subscribe({
    frame(e: FrameTraceEvent) {
      if (e.transport === transport && e.direction === "receive" && isLast(e.frame)) {
        full.resolve();
      }
    },
  });
  assertEquals(await readExactly(raw, 1), hex("ff"), "handshake");
  await raw.write(hex("ff"));
  for (let i = 0; i < 16; i++) {
    await raw.write(hex("00 00 00 01"));
    assertEquals(await readExactly(raw, 1), hex("ff"));
    await raw.write(new Uint8Array([i]));
  }
  await full.promise;
  transport.pauseReading(); // the application's own pause
  for (let i = 0; i < 16; i++) assertEquals((await tp.receive())[0], i);
  assertEquals(transport.isReading(), false, "draining the inbox did not lift it");
  transport.resumeReading();
  tp.close();
  assertEquals(await readExactly(raw, 1), new Uint8Array(0), "end of stream");
  raw.close();
  assertEquals(await tp.closed, undefined);
});

Deno.test("tinyproto pull style: empty announcements crossing ours cannot flood the inbox", async () => {
  const tp = new TinyprotoProtocol({});
  const [mine, raw] = createMemoryChannelPair();
  const transport = new StreamTransport(mine, tp);
  assertEquals(await readExactly(raw, 1), hex("ff"), "handshake");
  await raw.write(hex("ff"));
  const sent = tp.send(bytes("abc"));
  const outcome = sent.then(() => "sent", (error) => error.constructor.name);
  assertEquals(await readExactly(raw, 4), hex("00 00 00 03"), "our announcement");
  // Never answered: 1000 empty announcements instead. The first crosses ours, so the peer
  // must answer ours next: the next 00 is its refusal, not another message.
  await raw.write(new Uint8Array(4 * 1000));
  raw.close();
  assertEquals(await outcome, "TransmissionRejectedError");
  await transport.closed;
  let waiting = 0;
  for (; waiting < 2000; waiting++) {
    if (await tp.receive().then(() => false, () => true)) break;
  }
  assertEquals(waiting, 1, "the crossing empty message only");
});

Deno.test("tinyproto pull style: a held ff is not the peer's idleness (idleTimeout)", async () => {
  const sender = new TinyprotoProtocol({});
  const puller = new TinyprotoProtocol({});
  const [a, b] = createMemoryChannelPair();
  new StreamTransport(a, sender);
  new StreamTransport(b, puller, { idleTimeout: 50 });
  const sends = Array.from({ length: 17 }, (_, i) => sender.send(bytes(`m${i}`)));
  // 16 wait in the puller's inbox; the 17th's ff is held back.
  await Promise.all(sends.slice(0, 16));
  // The application is busy for six idle timeouts: the peer waits on it, not the reverse.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    puller.closed.then((error) => `closed: ${error?.message}`),
    new Promise<string>((resolve) => timer = setTimeout(() => resolve("still open"), 300)),
  ]);
  clearTimeout(timer);
  assertEquals(outcome, "still open");
  assertEquals(puller.isHoldingPeer(), true);
  const got: string[] = [];
  for (let i = 0; i < 17; i++) got.push(text(await puller.receive()));
  await Promise.all(sends);
  assertEquals(got, Array.from({ length: 17 }, (_, i) => `m${i}`));
  sender.close();
  await Promise.all([sender.closed, puller.closed]);
});

Deno.test("tinyproto pull style: once we end, a held ff no longer holds idleTimeout off", async () => {
  const tp = new TinyprotoProtocol({}, { closeTimeout: Infinity });
  const [mine, raw] = createMemoryChannelPair();
  const transport = new StreamTransport(mine, tp, { idleTimeout: 50 });
  await fillInbox(raw);
  // The 17th announcement: its ff is held back. Seen once the transport reads it.
  const held = Promise.withResolvers<void>();
  using _ = subscribe({
    frame: (e) => {
      if (e.direction === "receive" && tp.isHoldingPeer()) held.resolve();
    },
  });
  await raw.write(hex("00 00 00 01"));
  await held.promise;
  tp.close(); // our EOF goes out; the peer never closes
  assertEquals(await readExactly(raw, 1), new Uint8Array(0));
  assertEquals(tp.isHoldingPeer(), false);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    transport.closed.then(() => "closed"),
    new Promise<string>((resolve) => timer = setTimeout(() => resolve("still open"), 1000)),
  ]);
  clearTimeout(timer);
  if (outcome !== "closed") transport.abort();
  raw.close();
  await tp.closed;
  assertEquals(outcome, "closed");
});
