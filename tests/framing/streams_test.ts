import { assertEquals, assertRejects } from "@std/assert";
import {
  ChunkFramer,
  CobsFramer,
  DelimiterFramer,
  DotTerminatedFramer,
  FrameDecoderStream,
  FrameEncoderStream,
  type Framer,
  FrameTooLongError,
  IdentityFramer,
  LengthPrefixedFramer,
  LineFramer,
  NetstringFramer,
  StuffingFramer,
  TruncatedFrameError,
} from "@plexus/net/framing";
import { bytes, concat, prng, randomBytes } from "./_helpers.ts";

/** Frames each framer can carry (text framers get text without delimiters). */
const FRAMERS: [string, () => Framer<Uint8Array>, Uint8Array[]][] = [
  ["line", () => new LineFramer(), ["a", "", "b c"].map(bytes)],
  ["delimiter", () => new DelimiterFramer({ delimiters: ["||"] }), ["a", "", "b|c"].map(bytes)],
  ["length-prefixed", () => new LengthPrefixedFramer(), [
    bytes("a"),
    new Uint8Array(0),
    new Uint8Array(5000),
  ]],
  ["netstring", () => new NetstringFramer(), ["a", "", "1:2,"].map(bytes)],
  ["cobs", () => new CobsFramer(), [
    new Uint8Array([0, 1, 0]),
    new Uint8Array(0),
    new Uint8Array(600),
  ]],
  ["stuffing", () => new StuffingFramer(), [new Uint8Array([255, 255, 255, 255, 255]), bytes("x")]],
  ["dot-terminated", () => new DotTerminatedFramer(), ["a\r\n", ".b\r\n"].map(bytes)],
];

for (const [name, make, frames] of FRAMERS) {
  Deno.test(`${name} framer round-trips through the encoder and decoder streams in random chunks`, async () => {
    const random = prng(name.length);
    const wire = concat(
      await Array.fromAsync(
        ReadableStream.from(frames).pipeThrough(new FrameEncoderStream(make())),
      ),
    );
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < wire.length;) {
      const n = 1 + Math.floor(random() * 7);
      chunks.push(wire.slice(i, i + n));
      i += n;
    }
    const decoded = await Array.fromAsync(
      ReadableStream.from(chunks).pipeThrough(new FrameDecoderStream(make())),
    );
    assertEquals(decoded, frames);
  });
}

Deno.test("chunk and identity framers pass bytes through the streams", async () => {
  const data = randomBytes(prng(3), 100);
  const out = await Array.fromAsync(
    ReadableStream.from([data]).pipeThrough(new FrameDecoderStream(new ChunkFramer(100))),
  );
  assertEquals(out, [data]);
  const raw = await Array.fromAsync(
    ReadableStream.from([data]).pipeThrough(new FrameEncoderStream(new IdentityFramer())),
  );
  assertEquals(concat(raw), data);
});

Deno.test("decoder stream errors with a truncated frame at the end of its input", async () => {
  const stream = ReadableStream.from([bytes("ok\npartial")]).pipeThrough(
    new FrameDecoderStream(new LineFramer()),
  );
  await assertRejects(() => Array.fromAsync(stream), TruncatedFrameError, "7 bytes");
});

Deno.test("decoder and encoder streams error with the framer's framing error", async () => {
  const decoding = ReadableStream.from([new Uint8Array([0, 0x10, 0, 0])])
    .pipeThrough(new FrameDecoderStream(new LengthPrefixedFramer({ maxFrameLength: 10 })));
  await assertRejects(
    () => Array.fromAsync(decoding),
    FrameTooLongError,
    "length 1048576 exceeds maxFrameLength 10",
  );
  const encoding = ReadableStream.from([new Uint8Array(11)])
    .pipeThrough(new FrameEncoderStream(new LengthPrefixedFramer({ maxFrameLength: 10 })));
  await assertRejects(() => Array.fromAsync(encoding), FrameTooLongError, "Cannot encode frame");
});
