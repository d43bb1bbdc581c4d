/** tinyproto on the framed core: its decoder of events, and what FrameReader does for it. */

import { assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import {
  decodeFrames,
  FrameTooLongError,
  ReceiveBuffer,
  TinyprotoProtocol,
  TruncatedFrameError,
} from "@plexus/net/framing";
import {
  createMemoryChannelPair,
  createMemoryTransportPair,
  type DeadlineError,
  type FrameTraceEvent,
  StreamTransport,
  subscribe,
  type Transport,
  TransportError,
} from "@plexus/net/transport";
import { TinyprotoDecoder, type TinyprotoEvent } from "../../framing/_tinyproto_decoder.ts";
import { hex, text } from "./_helpers.ts";

function describe(event: TinyprotoEvent): string {
  if (event instanceof Uint8Array) return `payload ${JSON.stringify(text(event))}`;
  if (event.type === "answer") return event.accepted ? "answer ff" : "answer 00";
  if (event.type === "announce") return `announce ${event.size}`;
  if (event.type === "turnedAway") return `turnedAway ${event.status}`;
  return event.type;
}

function decode(stream: string, setUp?: (d: TinyprotoDecoder) => void, maxSize = 100): string[] {
  const decoder = new TinyprotoDecoder(maxSize);
  setUp?.(decoder);
  return decodeFrames(decoder, hex(stream)).map(describe);
}

Deno.test("tinyproto decoder: the peer's stream as events, sizes and payloads apart", () => {
  assertEquals(decode("ff 00 00 00 02 68 69 00 00 00 00 f1 00 00 00"), [
    "handshake",
    "announce 2",
    'payload "hi"',
    "announce 0",
    "announce 4043309056", // over maxSize: no payload owed; the protocol refuses it
  ]);
  // A status byte instead of the handshake (the protocol then ends and stops decoding).
  const buffer = new ReceiveBuffer();
  buffer.append(hex("fe"));
  assertEquals(describe(new TinyprotoDecoder(100).decode(buffer)!), "turnedAway 254");
});

Deno.test("tinyproto decoder: answers come in the order of our announcements", () => {
  // We announced once: ff answers it, then a crossing 00-led size is an announcement.
  assertEquals(decode("ff ff 00 00 00 01 78", (d) => d.announced()), [
    "handshake",
    "answer ff",
    "announce 1",
    'payload "x"',
  ]);
  // A lone 00 at end of stream is the refusal; followed by more bytes it starts a size.
  assertEquals(decode("ff 00", (d) => d.announced()), ["handshake", "answer 00"]);
  assertEquals(decode("ff 00 00 00 00 ff", (d) => d.announced()), [
    "handshake",
    "announce 0",
    "answer ff",
  ]);
});

Deno.test("tinyproto decoder: decodeEof raises what the cut means", () => {
  const cut = (stream: string, setUp?: (d: TinyprotoDecoder) => void) =>
    assertThrows(() => decode(stream, setUp)) as Error;
  let error = cut("ff 00 00 00 05 61 62");
  assertInstanceOf(error, TruncatedFrameError);
  assertEquals(
    error.message,
    "Cannot receive transmission of 5 bytes: the stream ended with 2 bytes of an incomplete frame",
  );
  error = cut("ff 00 00");
  assertInstanceOf(error, TruncatedFrameError);
  assertEquals((error as TruncatedFrameError).leftover, 2);
  error = cut("");
  assertInstanceOf(error, TransportError);
  assertEquals(error.message, "Cannot start tinyproto: the peer closed before the handshake");
  error = cut("ff", (d) => d.announced());
  assertEquals(error.message, "Cannot send transmission: the peer closed before answering");
  assertEquals(decode("ff"), ["handshake"]); // an orderly end
});

Deno.test("tinyproto: a refusal stops parsing mid-buffer; what follows is dropped", async () => {
  const [mine, raw] = createMemoryChannelPair();
  const tp = new TinyprotoProtocol({ transmissionReceived() {} }, { maxSize: 10 });
  const transport = new StreamTransport(mine, tp);
  // An oversize size, then a stray ff that would be a CorruptFrameError if parsed.
  await raw.write(hex("ff 00 00 00 0b ff ff"));
  const out = new Uint8Array(8);
  let at = 0;
  for (let n; (n = await raw.read(out.subarray(at))) !== null;) at += n;
  assertEquals(out.subarray(0, at), hex("ff 00"));
  raw.close();
  assertInstanceOf(await tp.closed, FrameTooLongError);
  await transport.closed;
  assertEquals(tp.stats().framesReceived, 2); // handshake, announcement
});

/** Sends `bytes` to a tinyproto server with a 150 ms frameTimeout; it must cut the link. */
async function assertCutByFrameTimeout(bytes: Uint8Array): Promise<void> {
  const server = new TinyprotoProtocol({ transmissionReceived() {} });
  let client: Transport | undefined;
  const [, clientTransport] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived() {},
  }, { transport: { deadlines: { frameTimeout: 150 } } });
  client!.write(bytes);
  const error = await server.closed;
  assertEquals((error as DeadlineError).limit, "frameTimeout");
  await clientTransport.closed;
}

Deno.test("tinyproto: an accepted size whose payload never comes is cut by frameTimeout", async () => {
  // The handshake and a whole size: no byte of the payload is buffered, yet it is owed.
  await assertCutByFrameTimeout(hex("ff 00 00 00 64"));
});

Deno.test("tinyproto: a trickled transmission is cut by frameTimeout", async () => {
  // The handshake (a frame), then a 100-byte message of which 10 bytes ever come.
  await assertCutByFrameTimeout(new Uint8Array([0xff, 0, 0, 0, 100, ...new Uint8Array(10)]));
});

Deno.test("tinyproto: frames and stats come from the framed core, both ways traced", async () => {
  const frames: string[] = [];
  using _ = subscribe({
    frame(e: FrameTraceEvent) {
      if (e.framer === "TinyprotoDecoder") {
        frames.push(
          `${e.direction} ${e.bytes ? Array.from(e.bytes, (b) => b.toString(16)).join(" ") : "?"}`,
        );
      }
    },
  });
  const server = new TinyprotoProtocol({ transmissionReceived: (p, tp) => tp.send(p) });
  const client = new TinyprotoProtocol({});
  createMemoryTransportPair(server, client);
  assertEquals(text(await client.request(hex("61"))), "a");
  client.close();
  await Promise.all([client.closed, server.closed]);
  for (const tp of [client, server]) {
    assertEquals([tp.stats().framesReceived, tp.stats().framesSent], [4, 4]);
  }
  // Each side: its handshake, size, answer and payload out; the peer's in.
  assertEquals(frames.filter((f) => f.startsWith("send")).length, 8);
  assertEquals(frames.filter((f) => f.startsWith("receive")).length, 8);
  assertEquals(frames.includes("receive 0 0 0 1"), true);
  assertEquals(frames.includes("receive 61"), true);
});
