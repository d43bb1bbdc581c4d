import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  CorruptFrameError,
  decodeFrames,
  DotTerminatedFramer,
  encodeFrame,
  FrameDecoderStream,
  FrameTooLongError,
  LineFramer,
  StuffingFramer,
  TruncatedFrameError,
} from "@plexus/net/framing";
import { assertEverySplit, bytes, decodeChunks, hex, text } from "./_helpers.ts";

Deno.test("stuffing framer refuses an end byte in the prefix (a frame's tail would end it early)", () => {
  // With it, the frame 41 ff went out as ...41 ff + ff ff ff ff ff and came back as 41.
  const options = { prefix: hex("ff ff ff ff"), begin: 0xfd, end: 0xff, nop: 0x00 };
  assertThrows(
    () => new StuffingFramer(options),
    RangeError,
    "the prefix must not contain the end byte 0xff, found at offset 0 of the prefix",
  );
  const framer = () => new StuffingFramer({ ...options, end: 0xfe });
  const frame = hex("41 ff");
  assertEverySplit(framer, encodeFrame(framer(), frame), [frame]);
});

Deno.test("stuffing framer: a stream ending right after a begin marker is a truncated frame", async () => {
  const begin = hex("ff ff ff ff ff");
  assertThrows(() => decodeFrames(new StuffingFramer(), begin), TruncatedFrameError);
  assertThrows(() => decodeChunks(new StuffingFramer(), [begin]), TruncatedFrameError);
  const frame = encodeFrame(new StuffingFramer(), bytes("a"));
  const stream = ReadableStream.from([frame, begin]).pipeThrough(
    new FrameDecoderStream(new StuffingFramer()),
  );
  await assertRejects(() => Array.fromAsync(stream), TruncatedFrameError, "5 bytes"); // the begin marker itself
  // A complete stream still ends cleanly.
  assertEquals(decodeFrames(new StuffingFramer(), frame), [bytes("a")]);
});

Deno.test("dot-terminated framer counts the line ending it adds against maxFrameLength", () => {
  const framer = () => new DotTerminatedFramer({ maxFrameLength: 5 });
  // "abcd" goes out as the 6-byte message "abcd\r\n", which the peer would refuse.
  assertThrows(
    () => encodeFrame(framer(), bytes("abcd")),
    FrameTooLongError,
    "length 6 exceeds maxFrameLength 5",
  );
  // Exactly at the limit, with and without the added line ending, it round-trips.
  for (const message of ["abc", "abc\r\n", "a\n.\n", ".b\n"]) {
    const wire = encodeFrame(framer(), bytes(message));
    const expected = message.endsWith("\n") ? message : message + "\r\n";
    assertEquals(decodeFrames(framer(), wire).map(text), [expected]);
  }
});

Deno.test("line framer with \\n endings refuses a line ending in \\r (it would come back without it)", () => {
  const lf = () => new LineFramer({ lineEnding: "\n" });
  assertThrows(
    () => encodeFrame(lf(), bytes("a\r")),
    CorruptFrameError,
    "ends with a carriage return at offset 1",
  );
  // A "\r" inside the line, or with "\r\n" endings, is kept.
  assertEquals(decodeFrames(lf(), encodeFrame(lf(), bytes("a\rb"))).map(text), ["a\rb"]);
  const crlf = () => new LineFramer();
  assertEquals(decodeFrames(crlf(), encodeFrame(crlf(), bytes("a\r"))).map(text), ["a\r"]);
});
