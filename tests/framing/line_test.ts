import { assertEquals, assertThrows } from "@std/assert";
import {
  ChunkFramer,
  CorruptFrameError,
  decodeFrames,
  DelimiterFramer,
  encodeFrame,
  FrameTooLongError,
  LineFramer,
  TruncatedFrameError,
} from "@plexus/net/framing";
import { assertEverySplit, bytes, decodeChunks, type Switchable, text } from "./_helpers.ts";

const texts = (frames: Uint8Array[]) => frames.map(text);

Deno.test("line framer splits on LF and CRLF in every split, leaving a bare CR alone", () => {
  const input = bytes("one\r\ntwo\nthr\ree\r\n\r\n\nlast\r\n");
  assertEverySplit(
    () => new LineFramer(),
    input,
    ["one", "two", "thr\ree", "", "", "last"].map(bytes),
  );
});

Deno.test("line framer keeps the line ending when told to", () => {
  const lines = decodeFrames(new LineFramer({ stripDelimiter: false }), bytes("a\r\nb\n"));
  assertEquals(texts(lines), ["a\r\n", "b\n"]);
});

Deno.test("line framer encodes with CRLF by default, LF on request", () => {
  assertEquals(text(encodeFrame(new LineFramer(), bytes("hi"))), "hi\r\n");
  assertEquals(text(encodeFrame(new LineFramer({ lineEnding: "\n" }), bytes("hi"))), "hi\n");
  assertThrows(
    () => encodeFrame(new LineFramer(), bytes("a\nb")),
    CorruptFrameError,
    "line feed at offset 1",
  );
});

Deno.test("line framer refuses a long line as soon as maxLength + 2 bytes arrive without LF", () => {
  const framer = new LineFramer({ maxLength: 8 });
  // Exactly 8 bytes plus CRLF is fine.
  assertEquals(texts(decodeChunks(new LineFramer({ maxLength: 8 }), [bytes("12345678\r\n")])), [
    "12345678",
  ]);
  // 8 bytes and a CR could still be a valid line: wait.
  assertThrows(() => decodeChunks(framer, [bytes("12345678\r")]), TruncatedFrameError, "9 bytes");
  assertThrows(
    () => decodeChunks(new LineFramer({ maxLength: 8 }), [bytes("1234567890")]),
    FrameTooLongError,
    "Cannot decode line: length 10 exceeds maxLength 8",
  );
  assertThrows(
    () => decodeChunks(new LineFramer({ maxLength: 8 }), [bytes("123456789\n")]),
    FrameTooLongError,
    "length 9 exceeds maxLength 8",
  );
  assertThrows(
    () => encodeFrame(new LineFramer({ maxLength: 2 }), bytes("abc")),
    FrameTooLongError,
  );
});

Deno.test("line framer with discardTooLong drops a long line and resynchronises", () => {
  const input = bytes("ok\r\n" + "x".repeat(50) + "\r\nfine\r\n" + "y".repeat(9) + "\nend\n");
  assertEverySplit(
    () => new LineFramer({ maxLength: 8, discardTooLong: true }),
    input,
    ["ok", "fine", "end"].map(bytes),
  );
});

Deno.test("line framer reports an unterminated last line as truncated", () => {
  assertThrows(() => decodeFrames(new LineFramer(), bytes("a\nb")), TruncatedFrameError, "1 bytes");
});

Deno.test("line framer keeps bytes after a switch to a chunk framer (Tendril's SMTP switch)", () => {
  // shared/vectors/cobs.txt: "HELO\r\nDATA 5\r\n12" then "345QUIT\r\n".
  const switching = (frame: Uint8Array, state: Switchable<Uint8Array>) => {
    if (state.decoder instanceof ChunkFramer) {
      if (state.decoder.done) state.decoder = new LineFramer();
    } else if (text(frame) === "DATA 5") {
      state.decoder = new ChunkFramer(5, { partial: true });
    }
  };
  const observed = decodeChunks<Uint8Array>(new LineFramer(), [
    bytes("HELO\r\nDATA 5\r\n12"),
    bytes("345QUIT\r\n"),
  ], switching);
  assertEquals(texts(observed), ["HELO", "DATA 5", "12", "345", "QUIT"]);
  // Whole chunks: the same four frames however the input is split.
  const whole = (frame: Uint8Array, state: Switchable<Uint8Array>) => {
    if (state.decoder instanceof ChunkFramer) state.decoder = new LineFramer();
    else if (text(frame) === "DATA 5") state.decoder = new ChunkFramer(5);
  };
  assertEverySplit(
    () => new LineFramer(),
    bytes("HELO\r\nDATA 5\r\n12345QUIT\r\n"),
    ["HELO", "DATA 5", "12345", "QUIT"].map(bytes),
    whole,
  );
  // Partial chunks: the data bytes join up to the same 5 bytes in every split.
  assertEverySplit(
    () => new LineFramer(),
    bytes("HELO\r\nDATA 5\r\n12345QUIT\r\n"),
    ["HELO", "DATA 5", "12345", "QUIT"].map(bytes),
    switching,
    (frames) => {
      const t = texts(frames);
      return [t[0], t[1], t.slice(2, -1).join(""), t.at(-1)];
    },
  );
});

Deno.test("delimiter framer splits at the delimiter giving the shortest frame", () => {
  const make = () => new DelimiterFramer({ delimiters: ["\r\n", "\n", "||"] });
  assertEverySplit(
    make,
    bytes("ABC\nDEF\r\nG||H|I\n||"),
    ["ABC", "DEF", "G", "H|I", ""].map(bytes),
  );
  assertEquals(
    texts(
      decodeFrames(
        new DelimiterFramer({ delimiters: ["ab", "b"], stripDelimiter: false }),
        bytes("xab"),
      ),
    ),
    ["xab"],
  );
  assertEquals(text(encodeFrame(make(), bytes("x"))), "x\r\n");
  assertThrows(() => encodeFrame(make(), bytes("a||b")), CorruptFrameError, "offset 1");
});

Deno.test("delimiter framer refuses a frame once maxFrameLength plus the delimiter arrive", () => {
  const make = () => new DelimiterFramer({ delimiters: ["||"], maxFrameLength: 4 });
  assertEquals(texts(decodeFrames(make(), bytes("abcd||"))), ["abcd"]);
  assertThrows(() => decodeChunks(make(), [bytes("abcd|")]), TruncatedFrameError, "5 bytes");
  assertThrows(
    () => decodeChunks(make(), [bytes("abcdef")]),
    FrameTooLongError,
    "length 6 exceeds maxFrameLength 4",
  );
  assertThrows(
    () => decodeFrames(make(), bytes("abcde||")),
    FrameTooLongError,
    "length 5 exceeds maxFrameLength 4",
  );
});
