/** tinyproto on the framed core: its decoder of events, and what FrameReader does for it. */

import { assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import {
  CorruptFrameError,
  decodeFrames,
  type Decoder,
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

/**
 * Decodes `stream` whole, answering each announcement up to `maxSize` at once (as the protocol
 * does with room in its inbox) unless `answer` is false.
 */
function decode(
  stream: string,
  setUp?: (d: TinyprotoDecoder) => void,
  maxSize = 100,
  answer = true,
): string[] {
  const decoder = new TinyprotoDecoder(maxSize);
  setUp?.(decoder);
  const answering: Decoder<TinyprotoEvent> = {
    decode(buffer) {
      return answered(decoder.decode(buffer));
    },
    decodeEof(buffer) {
      return answered(decoder.decodeEof(buffer));
    },
  };
  function answered(event: TinyprotoEvent | undefined): TinyprotoEvent | undefined {
    if (answer && decoder.awaitingAnswer()) decoder.accept();
    return event;
  }
  return decodeFrames(answering, hex(stream)).map(describe);
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
  // Cut after a size we did not answer yet: inside that message.
  error = assertThrows(() => decode("ff 00 00 00 05", undefined, 100, false)) as Error;
  assertInstanceOf(error, TruncatedFrameError);
  assertEquals(error.message.split(":")[0], "Cannot receive transmission of 5 bytes");
});

Deno.test("tinyproto decoder: while our answer is held back, the peer may only answer ours", () => {
  const decoder = new TinyprotoDecoder(100);
  const buffer = new ReceiveBuffer();
  const next = (stream: string) => {
    buffer.append(hex(stream));
    const event = decoder.decode(buffer);
    return event && describe(event);
  };
  assertEquals(next("ff"), "handshake");
  decoder.announced();
  assertEquals(next("00 00 00 02"), "announce 2"); // crossing ours; our ff is held back
  assertEquals(decoder.awaitingAnswer(), true);
  assertEquals(next("ff"), "answer ff"); // the peer still answers ours
  assertEquals(decoder.frameUnderway(), false); // no payload before our ff
  // More from the peer (its payload early, another size) would push past our limit: corrupt.
  const error = assertThrows(() => next("68 69"), CorruptFrameError);
  assertEquals(
    error.message,
    "Cannot receive transmission: got 0x68 before we answered the peer's announcement",
  );
  assertEquals(buffer.length, 2);
  buffer.skip(2);
  assertEquals(decoder.accept(), 2); // our ff: the payload is owed now
  assertEquals(decoder.awaitingAnswer(), false);
  assertEquals(next("68 69"), 'payload "hi"');

  // Its message in flight, the peer cannot announce: a 00 with more behind it is a refusal.
  const crossing = new TinyprotoDecoder(100);
  const stream = new ReceiveBuffer();
  stream.append(hex("ff 00 00 00 02 00 ff"));
  assertEquals(describe(crossing.decode(stream)!), "handshake");
  crossing.announced();
  assertEquals(describe(crossing.decode(stream)!), "announce 2");
  assertEquals(describe(crossing.decode(stream)!), "answer 00");
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
