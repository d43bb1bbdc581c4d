import { assertEquals, assertInstanceOf, assertRejects } from "@std/assert";
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
import { bytes, concat, prng, randomBytes, text } from "./_helpers.ts";

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

/** Decodes `chunks` into lines (at most 8 bytes) through a pipe: the lines, then the error. */
async function decodeLines(chunks: string[]): Promise<[string[], unknown]> {
  const lines: string[] = [];
  try {
    const frames = ReadableStream.from(chunks.map((chunk) => bytes(chunk)))
      .pipeThrough(new FrameDecoderStream(new LineFramer({ lineEnding: "\n", maxLength: 8 })));
    for await (const line of frames) lines.push(text(line));
  } catch (error) {
    return [lines, error];
  }
  return [lines, undefined];
}

Deno.test("FrameDecoderStream: the frames before a decoder error in the same chunk come first", async () => {
  for (const chunks of [["a\n", "b\n", "c\n", "TOO-LONG-LINE\n"], ["a\nb\nc\nTOO-LONG-LINE\n"]]) {
    const [lines, error] = await decodeLines(chunks);
    assertEquals(lines, ["a", "b", "c"], JSON.stringify(chunks));
    assertInstanceOf(error, FrameTooLongError);
  }
});

/** A byte stream fed from `source` (enqueue() transfers each chunk's buffer). */
function asByteStream(source: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream({
    type: "bytes",
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
}

Deno.test("FrameDecoderStream: frames are the reader's own (one transferred leaves the next)", async () => {
  const lines = ReadableStream.from([bytes("aa\nbb\ncc\n")])
    .pipeThrough(new FrameDecoderStream(new LineFramer({ lineEnding: "\n" })));
  const got: string[] = [];
  for await (const chunk of asByteStream(lines)) got.push(text(chunk));
  assertEquals(got, ["aa", "bb", "cc"]);
});

Deno.test("FrameEncoderStream: chunks are the reader's own (one transferred leaves another)", async () => {
  const reader = ReadableStream.from([bytes("aa"), bytes("bb")])
    .pipeThrough(new FrameEncoderStream(new NetstringFramer())).getReader();
  const first = (await reader.read()).value!;
  const second = (await reader.read()).value!;
  structuredClone(first, { transfer: [first.buffer as ArrayBuffer] });
  assertEquals(text(second), "2:bb,");
  await reader.cancel();
});
