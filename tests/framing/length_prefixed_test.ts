import { assertEquals, assertThrows } from "@std/assert";
import {
  CorruptFrameError,
  decodeFrames,
  encodeFrame,
  FrameTooLongError,
  type LengthFieldLength,
  LengthPrefixedFramer,
  ReceiveBuffer,
  TruncatedFrameError,
} from "@plexus/net/framing";
import type { SendBuffer } from "@plexus/net/transport";
import { assertEverySplit, bytes, concat, decodeChunks, hex, text } from "./_helpers.ts";

const FIELDS: [LengthFieldLength, boolean, string][] = [
  [1, false, "05"],
  [2, false, "00 05"],
  [2, true, "05 00"],
  [3, false, "00 00 05"],
  [3, true, "05 00 00"],
  [4, false, "00 00 00 05"],
  [4, true, "05 00 00 00"],
  [8, false, "00 00 00 00 00 00 00 05"],
  [8, true, "05 00 00 00 00 00 00 00"],
  ["leb128", false, "05"],
  ["bsuint", false, "05"],
];

for (const [lengthFieldLength, littleEndian, header] of FIELDS) {
  const name = `${lengthFieldLength}${
    typeof lengthFieldLength === "number" ? (littleEndian ? "-byte LE" : "-byte BE") : ""
  }`;
  const make = () => new LengthPrefixedFramer({ lengthFieldLength, littleEndian });
  Deno.test(`length-prefixed framer (${name}) encodes the header and decodes every split`, () => {
    assertEquals(encodeFrame(make(), bytes("hello")), concat([hex(header), bytes("hello")]));
    const frames = [bytes("hello"), new Uint8Array(0), new Uint8Array(300).fill(7), bytes("x")];
    const fits = lengthFieldLength !== 1 || frames.every((f) => f.length <= 255);
    const sendable = fits ? frames : frames.filter((f) => f.length <= 255);
    const wire = concat(sendable.map((f) => encodeFrame(make(), f)));
    assertEverySplit(make, wire, sendable);
  });
}

Deno.test("length-prefixed framer decodes varints of cs.packetstream and LEB128 sizes", () => {
  const body = new Uint8Array(300).fill(1);
  assertEquals(
    encodeFrame(new LengthPrefixedFramer({ lengthFieldLength: "bsuint" }), body).subarray(0, 2),
    hex("82 2c"),
  );
  assertEquals(
    encodeFrame(new LengthPrefixedFramer({ lengthFieldLength: "leb128" }), body).subarray(0, 2),
    hex("ac 02"),
  );
  // An overlong BSUInt (80 05 = 5) still counts its real header size.
  assertEquals(
    decodeFrames(
      new LengthPrefixedFramer({ lengthFieldLength: "bsuint" }),
      hex("80 05 01 02 03 04 05"),
    ),
    [
      hex("01 02 03 04 05"),
    ],
  );
});

Deno.test("length-prefixed framer follows Netty's offset, adjustment and strip examples", () => {
  const wire = concat([hex("ca fe 00 0e"), bytes("HELLO, WORLD")]);
  const keepAll = () =>
    new LengthPrefixedFramer({
      lengthFieldOffset: 2,
      lengthFieldLength: 2,
      lengthAdjustment: -2,
      bytesToStrip: 0,
    });
  assertEverySplit(keepAll, wire, [wire]);
  assertEquals(
    encodeFrame(keepAll(), concat([hex("ca fe"), bytes("HELLO, WORLD")])),
    wire,
    "the frame's first 2 bytes go before the field",
  );
  const stripped = new LengthPrefixedFramer({
    lengthFieldOffset: 2,
    lengthFieldLength: 2,
    lengthAdjustment: -2,
  });
  assertEquals(text(decodeFrames(stripped, wire)[0]), "HELLO, WORLD");
  // Netty: 2-byte length, then a 1-byte header HDR2, strip the length only.
  const netty = new LengthPrefixedFramer({
    lengthFieldLength: 2,
    lengthAdjustment: 1,
    bytesToStrip: 2,
  });
  assertEquals(decodeFrames(netty, concat([hex("00 0c fe"), bytes("HELLO, WORLD")])), [
    concat([hex("fe"), bytes("HELLO, WORLD")]),
  ]);
});

Deno.test("length-prefixed framer refuses an oversize announcement before waiting or allocating", () => {
  const buffer = new ReceiveBuffer({ initialCapacity: 64 });
  buffer.append(hex("00 89 54 40")); // 9000000, and not one byte of body
  assertThrows(
    () => new LengthPrefixedFramer().decode(buffer),
    FrameTooLongError,
    "Cannot decode frame: length 9000000 exceeds maxFrameLength 8388608",
  );
  assertEquals(buffer.capacity, 64, "nothing was allocated for the frame");
  assertThrows(
    () =>
      decodeChunks(new LengthPrefixedFramer({ lengthFieldLength: 8 }), [
        hex("ff ff ff ff ff ff ff ff"),
      ]),
    FrameTooLongError,
    "length 18446744073709551615 exceeds",
  );
  // A varint is refused while incomplete, once what is known already exceeds the limit.
  assertThrows(
    () =>
      decodeChunks(new LengthPrefixedFramer({ lengthFieldLength: "bsuint", maxFrameLength: 100 }), [
        hex("81 80"),
      ]),
    FrameTooLongError,
    "length 128 exceeds maxFrameLength 100",
  );
  assertThrows(
    () => encodeFrame(new LengthPrefixedFramer({ maxFrameLength: 4 }), bytes("hello")),
    FrameTooLongError,
    "Cannot encode frame: length 5 exceeds maxFrameLength 4",
  );
  assertThrows(
    () => encodeFrame(new LengthPrefixedFramer({ lengthFieldLength: 1 }), new Uint8Array(256)),
    FrameTooLongError,
    "length 256 exceeds the 1-byte length field's maximum 255",
  );
});

Deno.test("length-prefixed framer rejects negative lengths, bad strips and runaway varints", () => {
  assertThrows(
    () =>
      decodeFrames(
        new LengthPrefixedFramer({ lengthFieldLength: 1, lengthAdjustment: -2 }),
        hex("01 00"),
      ),
    CorruptFrameError,
    "is negative",
  );
  assertThrows(
    () =>
      decodeFrames(
        new LengthPrefixedFramer({ lengthFieldLength: 1, bytesToStrip: 5 }),
        hex("01 00"),
      ),
    CorruptFrameError,
    "bytesToStrip 5 exceeds the frame length 2",
  );
  assertThrows(
    () =>
      decodeFrames(
        new LengthPrefixedFramer({ lengthFieldLength: "leb128" }),
        hex("80 80 80 80 80 80 80 80 00"),
      ),
    CorruptFrameError,
    "exceeds 8 bytes",
  );
  assertThrows(
    () => new LengthPrefixedFramer({ lengthFieldLength: 5 as LengthFieldLength }),
    RangeError,
  );
});

Deno.test("length-prefixed framer reports a partial frame at end of stream", () => {
  assertThrows(
    () => decodeFrames(new LengthPrefixedFramer(), hex("00 00 00 05 01 02")),
    TruncatedFrameError,
    "6 bytes",
  );
});

Deno.test("length-prefixed framer: a maxFrameLength past the 4-byte field refuses, never wraps, a frame the field cannot hold", () => {
  const framer = new LengthPrefixedFramer({ maxFrameLength: 2 ** 33 });
  // A 4 GiB frame, claimed without allocating it; the buffer refuses to be written to.
  const huge = new Uint8Array(0);
  Object.defineProperty(huge, "byteLength", { value: 2 ** 32 });
  const refusing = {
    reserve(): never {
      throw new Error("reserved room for a frame whose length field would wrap to 0");
    },
  } as unknown as SendBuffer;
  assertThrows(
    () => framer.encode(huge, refusing),
    FrameTooLongError,
    "Cannot encode frame: length 4294967296 exceeds the 4-byte length field's maximum 4294967295",
  );
  // Frames that fit still go both ways.
  const encoded = encodeFrame(framer, bytes("hello"));
  assertEquals(encoded.subarray(0, 4), hex("00 00 00 05"));
  assertEquals(decodeFrames(new LengthPrefixedFramer({ maxFrameLength: 2 ** 33 }), encoded), [
    bytes("hello"),
  ]);
});

Deno.test("a length field past 2^53 with a large negative lengthAdjustment is refused, not rounded", () => {
  // 2^53 + 1 - (2^53 - 1) is 2, but 2^53 + 1 reads as the float 2^53, which gave a 1-byte frame.
  for (const field of [8, "bsuint"] as const) {
    const framer = new LengthPrefixedFramer({
      lengthFieldLength: field,
      lengthAdjustment: -(2 ** 53 - 1),
      maxFrameLength: 100,
    });
    const header = field === 8
      ? [0x00, 0x20, 0, 0, 0, 0, 0, 0x01]
      : [0x90, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]; // BSUInt 2^53 + 1
    const error = assertThrows(
      () => decodeChunks(framer, [new Uint8Array([...header, 0x61, 0x62])]),
      CorruptFrameError,
    );
    assertEquals(
      error.message,
      `Cannot decode frame: the length field exceeds Number.MAX_SAFE_INTEGER, so lengthAdjustment ${-(2 **
          53 - 1)} cannot be applied exactly`,
    );
  }
});
