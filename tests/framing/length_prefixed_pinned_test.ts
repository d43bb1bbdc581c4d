import { assertEquals, assertThrows } from "@std/assert";
import {
  decodeFrames,
  encodeFrame,
  FrameTooLongError,
  LengthPrefixedFramer,
  ReceiveBuffer,
} from "@plexus/net/framing";
import { hex } from "./_helpers.ts";

Deno.test("length-prefixed framer encodes a frame whose length is exactly the field's maximum", () => {
  const framer = new LengthPrefixedFramer({ lengthFieldLength: 1 });
  const frame = new Uint8Array(255).fill(9);
  const encoded = encodeFrame(framer, frame);
  assertEquals(encoded[0], 255);
  assertEquals(decodeFrames(new LengthPrefixedFramer({ lengthFieldLength: 1 }), encoded), [frame]);
});

Deno.test("length-prefixed framer refuses to encode a frame too short for a positive lengthAdjustment", () => {
  // The field counts 4 bytes fewer than follow it: a 2-byte frame would need a field of -2.
  const framer = new LengthPrefixedFramer({ lengthFieldLength: 2, lengthAdjustment: 4 });
  assertThrows(() => encodeFrame(framer, hex("aa bb")), RangeError, "too short");
  assertEquals(encodeFrame(framer, hex("01 02 03 04 05")), hex("00 01 01 02 03 04 05"));
});

Deno.test("length-prefixed framer refuses to encode over maxFrameLength with any field layout", () => {
  for (
    const options of [{ lengthFieldLength: 2 as const }, { lengthFieldLength: "leb128" as const }]
  ) {
    const framer = new LengthPrefixedFramer({ ...options, maxFrameLength: 10 });
    assertThrows(
      () => encodeFrame(framer, new Uint8Array(11)),
      FrameTooLongError,
      "Cannot encode frame: length 11 exceeds maxFrameLength 10",
    );
    const encoded = encodeFrame(framer, new Uint8Array(10));
    assertEquals(decodeFrames(framer, encoded), [new Uint8Array(10)]);
  }
});

Deno.test("length-prefixed framer refuses an incomplete varint once it exceeds the limit with lengthAdjustment", () => {
  const framer = new LengthPrefixedFramer({
    lengthFieldLength: "bsuint",
    lengthAdjustment: 50,
    maxFrameLength: 100,
  });
  const buffer = new ReceiveBuffer({ initialCapacity: 8 });
  buffer.append(hex("bc")); // 60 so far, more to come: 60 + 50 already exceeds 100
  assertThrows(() => framer.decode(buffer), FrameTooLongError, "length 110 exceeds");
});

Deno.test("length-prefixed framer with bytesToStrip 0 keeps the 4-byte header", () => {
  const framer = new LengthPrefixedFramer({ bytesToStrip: 0 });
  assertEquals(decodeFrames(framer, hex("00 00 00 02 aa bb")), [hex("00 00 00 02 aa bb")]);
});

Deno.test("length-prefixed framer names the exact oversize value of a little-endian 8-byte field", () => {
  const framer = new LengthPrefixedFramer({ lengthFieldLength: 8, littleEndian: true });
  const buffer = new ReceiveBuffer({ initialCapacity: 16 });
  buffer.append(hex("01 00 00 00 00 00 00 80")); // 2^63 + 1
  assertThrows(
    () => framer.decode(buffer),
    FrameTooLongError,
    "length 9223372036854775809 exceeds",
  );
});
