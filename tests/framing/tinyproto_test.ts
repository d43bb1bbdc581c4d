import { assertEquals, assertInstanceOf, assertRejects } from "@std/assert";
import {
  FrameTooLongError,
  TinyprotoProtocol,
  TransmissionRejectedError,
  TruncatedFrameError,
} from "@plexus/net/framing";
import {
  type ByteChannel,
  createMemoryChannelPair,
  createMemoryTransportPair,
  StreamTransport,
} from "@plexus/net/transport";
import { tcpPair } from "../_net.ts";
import { bytes, hex, prng, randomBytes, text } from "./_helpers.ts";

/** Reads exactly `n` bytes from a raw channel (or fewer at end of stream). */
async function readExactly(channel: ByteChannel, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await channel.read(out.subarray(at));
    if (got === null) return out.subarray(0, at);
    at += got;
  }
  return out;
}

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
