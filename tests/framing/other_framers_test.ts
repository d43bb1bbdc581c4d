import { bsuintVectors } from "../_shared.ts";
import { assertEquals, assertThrows } from "@std/assert";
import {
  ChunkFramer,
  CorruptFrameError,
  decodeBSUInt,
  decodeFrames,
  decodeLeb128,
  DotTerminatedFramer,
  encodeBSUInt,
  encodeFrame,
  encodeLeb128,
  FrameTooLongError,
  IdentityFramer,
  NetstringFramer,
  ReceiveBuffer,
  StuffingFramer,
  TruncatedFrameError,
} from "@plexus/net/framing";
import {
  assertEverySplit,
  bytes,
  concat,
  decodeChunks,
  hex,
  prng,
  randomBytes,
  text,
} from "./_helpers.ts";

Deno.test("netstring framer round-trips and decodes every split", () => {
  const frames = ["hello", "", "a:b,c", "x".repeat(123)].map(bytes);
  const wire = concat(frames.map((f) => encodeFrame(new NetstringFramer(), f)));
  assertEquals(text(wire.subarray(0, 12)), "5:hello,0:,5");
  assertEverySplit(() => new NetstringFramer(), wire, frames);
});

Deno.test("netstring framer rejects malformed netstrings", () => {
  const cases: [string, string][] = [
    ["x:", "expected a digit or ':' at offset 0, got 0x78"],
    [":", "expected a digit at offset 0"],
    ["05:hello,", "leading zero"],
    ["3:abc!", "expected ',' at offset 5, got 0x21"],
  ];
  for (const [input, message] of cases) {
    assertThrows(
      () => decodeFrames(new NetstringFramer(), bytes(input)),
      CorruptFrameError,
      message,
    );
  }
});

Deno.test("netstring framer refuses an oversize length digit by digit", () => {
  assertThrows(
    () => decodeChunks(new NetstringFramer({ maxFrameLength: 99 }), [bytes("100")]),
    FrameTooLongError,
    "Cannot decode netstring: length 100 exceeds maxFrameLength 99",
  );
});

Deno.test("stuffing framer stuffs the prefix, skips garbage and decodes every split", () => {
  const frames = [
    hex("ff ff ff ff 41"),
    hex(""),
    hex("ff ff ff"),
    hex("ff ff ff ff ff ff ff fe"),
    bytes("plain"),
  ];
  const framer = new StuffingFramer();
  const wire = concat([
    bytes("garbage"),
    ...frames.map((f) => encodeFrame(framer, f)),
    hex("ff ff"),
  ]);
  assertEquals(
    encodeFrame(framer, frames[0]),
    hex("ff ff ff ff ff  ff ff ff ff 00 41  ff ff ff ff fe"),
  );
  const trailing = wire.subarray(0, wire.length - 2);
  assertEverySplit(() => new StuffingFramer(), trailing, frames);
});

Deno.test("stuffing framer works with custom markers and refuses long frames", () => {
  const framer = () =>
    new StuffingFramer({
      prefix: bytes("~~"),
      begin: 0x5b,
      end: 0x5d,
      nop: 0x2d,
      maxFrameLength: 8,
    });
  const frame = bytes("a~~b~");
  const wire = encodeFrame(framer(), frame);
  assertEquals(text(wire), "~~[a~~-b~~~]");
  assertEquals(decodeFrames(framer(), wire), [frame]);
  assertThrows(() => decodeChunks(framer(), [bytes("~~[" + "x".repeat(20))]), FrameTooLongError);
  assertThrows(() => new StuffingFramer({ begin: 1, end: 1 }), RangeError);
});

Deno.test("dot-terminated framer unstuffs dots and ends at the dot line in every split", () => {
  const wire = bytes("Hi\r\n..dots\r\n...more\r\nbye\r\n.\r\n.\r\nnext\n.\n");
  assertEverySplit(
    () => new DotTerminatedFramer(),
    wire,
    ["Hi\r\n.dots\r\n..more\r\nbye\r\n", "", "next\n"].map(bytes),
  );
});

Deno.test("dot-terminated framer stuffs dots and ends the last line", () => {
  const enc = (s: string) => text(encodeFrame(new DotTerminatedFramer(), bytes(s)));
  assertEquals(enc(".a\r\nb\r\n.\r\n"), "..a\r\nb\r\n..\r\n.\r\n");
  assertEquals(enc("no end"), "no end\r\n.\r\n");
  assertEquals(enc(""), ".\r\n");
  assertThrows(
    () =>
      decodeChunks(new DotTerminatedFramer({ maxFrameLength: 10 }), [bytes("0123456789\r\nmore")]),
    FrameTooLongError,
    "Cannot decode message: length 12 exceeds maxFrameLength 10",
  );
  // Dots removed by unstuffing do not count.
  assertEquals(
    decodeFrames(new DotTerminatedFramer({ maxFrameLength: 5 }), bytes("..ab\r\n.\r\n")),
    [bytes(".ab\r\n")],
  );
});

Deno.test("chunk framer delivers exactly its length, whole or in pieces, then stops", () => {
  const whole = new ChunkFramer(5);
  const frames: string[] = [];
  assertThrows(
    () =>
      decodeChunks(whole, [bytes("12"), bytes("345"), bytes("tail")], (f) => frames.push(text(f))),
    TruncatedFrameError,
    "4 bytes",
  );
  assertEquals(frames, ["12345"]);
  assertEquals(whole.done, true);
  const partial = new ChunkFramer(5, { partial: true });
  frames.length = 0;
  assertThrows(
    () =>
      decodeChunks(
        partial,
        [bytes("12"), bytes("345"), bytes("tail")],
        (f) => frames.push(text(f)),
      ),
    TruncatedFrameError,
    "4 bytes",
  );
  assertEquals(frames, ["12", "345"]);
  assertEquals(partial.remaining, 0);
  assertEquals(decodeFrames(new ChunkFramer(0), new Uint8Array(0)), [new Uint8Array(0)]);
});

Deno.test("identity framer passes bytes through as they come", () => {
  assertEquals(decodeChunks(new IdentityFramer(), [bytes("ab"), bytes("c")]).map(text), [
    "ab",
    "c",
  ]);
  assertEquals(encodeFrame(new IdentityFramer(), bytes("x")), bytes("x"));
});

const BSUINT = bsuintVectors();

Deno.test("BSUInt helpers match the cs.packetstream vectors", () => {
  for (const [value, wire] of BSUINT) {
    assertEquals(encodeBSUInt(value), hex(wire), `encode ${value}`);
    assertEquals(decodeBSUInt(concat([hex("ee"), hex(wire), hex("77")]), 1), {
      value,
      length: hex(wire).length,
    });
    assertEquals(decodeBSUInt(hex(wire).subarray(0, -1)), undefined, `incomplete ${value}`);
  }
  assertThrows(() => decodeBSUInt(hex("ff ff ff ff ff ff ff ff 7f")), CorruptFrameError);
  assertThrows(() => encodeBSUInt(-1), RangeError);
});

Deno.test("LEB128 helpers round-trip up to Number.MAX_SAFE_INTEGER", () => {
  for (const value of [0, 1, 127, 128, 300, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    assertEquals(decodeLeb128(encodeLeb128(value)), { value, length: encodeLeb128(value).length });
  }
  assertEquals(encodeLeb128(300), hex("ac 02"));
});

Deno.test("partial chunk framer reports a stream that ends inside the chunk", () => {
  const pieces: string[] = [];
  assertThrows(
    () =>
      decodeChunks(
        new ChunkFramer(10, { partial: true }),
        [bytes("ab"), bytes("c")],
        (piece) => pieces.push(text(piece)),
      ),
    TruncatedFrameError,
    "Cannot decode chunk of 10 bytes: the stream ended with 3 bytes of an incomplete frame",
  );
  assertEquals(pieces, ["ab", "c"]);
  // A chunk delivered whole, or never begun, ends cleanly.
  assertEquals(decodeFrames(new ChunkFramer(3, { partial: true }), bytes("abc")).map(text), [
    "abc",
  ]);
  assertEquals(decodeFrames(new ChunkFramer(3, { partial: true }), new Uint8Array(0)), []);
});

Deno.test("chunk framer refuses a length over its maxFrameLength", () => {
  assertThrows(
    () => new ChunkFramer(8 * 1024 * 1024 + 1),
    RangeError,
    "Cannot create chunk framer: length 8388609 exceeds maxFrameLength 8388608",
  );
  assertThrows(() => new ChunkFramer(11, { maxFrameLength: 10 }), RangeError, "exceeds");
  assertEquals(
    new ChunkFramer(64 * 1024 * 1024, { maxFrameLength: 64 * 1024 * 1024 }).length,
    64 * 1024 * 1024,
  );
});

Deno.test("stuffing framer refuses a prefix that contains the nop byte", () => {
  assertThrows(
    () => new StuffingFramer({ prefix: hex("00 01"), begin: 0xaa, end: 0xfe, nop: 0x00 }),
    RangeError,
    "the prefix must not contain the nop byte 0x00, found at offset 0 of the prefix",
  );
  assertThrows(
    () => new StuffingFramer({ prefix: hex("ff 2d ff"), nop: 0x2d }),
    RangeError,
    "nop byte 0x2d, found at offset 1",
  );
});

Deno.test("stuffing framer round-trips random frames for random valid markers", () => {
  const random = prng(5);
  for (let round = 0; round < 2000; round++) {
    // A small alphabet so that prefixes, markers and frame bytes collide often.
    const prefix = randomBytes(random, 1 + Math.floor(random() * 3)).map((b) => 1 + b % 3);
    const framer = () => new StuffingFramer({ prefix, begin: 4, end: 5, nop: 0 });
    const frames = Array.from(
      { length: 1 + Math.floor(random() * 3) },
      () => randomBytes(random, Math.floor(random() * 8)).map((b) => b % 6),
    );
    const wire = concat(frames.map((f) => encodeFrame(framer(), f)));
    assertEquals(decodeFrames(framer(), wire), frames, `prefix ${prefix}`);
  }
});

Deno.test("chunk framer: a 0-byte chunk is delivered before trailing bytes are checked, like any chunk", () => {
  // A 2-byte chunk followed by 10 bytes for the next framer: delivered (the app switches then).
  const b1 = new ReceiveBuffer();
  b1.append(new Uint8Array(12));
  assertEquals(new ChunkFramer(2, { maxTrailing: 4 }).decode(b1)?.byteLength, 2);
  // A 0-byte chunk ("DATA 0") followed by the same 10 bytes: the empty chunk comes first.
  const b0 = new ReceiveBuffer();
  b0.append(new Uint8Array(10));
  assertEquals(new ChunkFramer(0, { maxTrailing: 4 }).decode(b0)?.byteLength, 0);
});
