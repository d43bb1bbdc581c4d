import { assertEquals, assertThrows } from "@std/assert";
import {
  CobsFramer,
  type CobsVariant,
  CorruptFrameError,
  decodeFrames,
  encodeFrame,
  FrameTooLongError,
} from "@plexus/net/framing";
import { assertEverySplit, concat, hex, prng, randomBytes } from "./_helpers.ts";

const range = (from: number, to: number) =>
  Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);

// shared/vectors/cobs.txt (Tendril), plus COBS/R vectors of the `cobs` Python package.
const VECTORS: [CobsVariant, Uint8Array, Uint8Array][] = [
  ["cobs", hex(""), hex("01 00")],
  ["cobs", hex("00"), hex("01 01 00")],
  ["cobs", hex("11 22 00 33"), hex("03 11 22 02 33 00")],
  ["cobs", hex("11 00 00 00"), hex("02 11 01 01 01 00")],
  ["cobs", range(1, 255), concat([hex("ff"), range(1, 254), hex("02 ff 00")])],
  ["zpe", hex("00"), hex("e1 00")],
  ["zpe", hex("11 00 00 00"), hex("e2 11 e1 00")],
  [
    "zpe",
    range(1, 255),
    concat([hex("e0"), range(1, 0xdf), hex("21"), range(0xe0, 0xff), hex("00")]),
  ],
  ["cobsr", hex(""), hex("01 00")],
  ["cobsr", hex("01"), hex("02 01 00")],
  ["cobsr", hex("02"), hex("02 00")],
  [
    "cobsr",
    new TextEncoder().encode("12345"),
    concat([new TextEncoder().encode("51234"), hex("00")]),
  ],
  ["cobsr", hex("00 00"), hex("01 01 01 00")],
  ["cobsr", range(1, 254), concat([hex("ff"), range(1, 254), hex("00")])],
  ["cobsr", range(1, 255), concat([hex("ff"), range(1, 254), hex("ff 00")])],
  ["cobsr", range(0, 255), concat([hex("01 ff"), range(1, 254), hex("ff 00")])],
];

for (const [variant, frame, wire] of VECTORS) {
  Deno.test(`${variant} framer matches the vector for ${frame.byteLength} bytes ${hexOf(frame.subarray(0, 4))}`, () => {
    assertEquals(encodeFrame(new CobsFramer({ variant }), frame), wire);
    assertEquals(decodeFrames(new CobsFramer({ variant }), wire), [frame]);
  });
}

function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

for (const variant of ["cobs", "zpe", "cobsr"] as const) {
  Deno.test(`${variant} framer decodes every split of a stream of frames identically`, () => {
    const frames = [hex(""), hex("00"), hex("11 00 00 00"), hex("ff 00 fe"), range(1, 40)];
    const framer = new CobsFramer({ variant });
    const wire = concat(frames.map((f) => encodeFrame(framer, f)));
    assertEverySplit(() => new CobsFramer({ variant }), wire, frames);
  });

  Deno.test(`${variant} framer round-trips random frames with zero runs`, () => {
    const random = prng(7);
    for (let i = 0; i < 300; i++) {
      const frame = randomBytes(random, Math.floor(random() * 700));
      // Make zeros and zero pairs common.
      for (let j = 0; j < frame.length; j++) if (random() < 0.3) frame[j] = 0;
      const wire = encodeFrame(new CobsFramer({ variant }), frame);
      assertEquals(wire.indexOf(0), wire.length - 1, "only the delimiter is zero");
      assertEquals(decodeFrames(new CobsFramer({ variant }), wire), [frame]);
    }
  });
}

Deno.test("cobs framer skips empty frames between delimiters", () => {
  assertEquals(decodeFrames(new CobsFramer(), hex("00 00 02 11 00 00")), [hex("11")]);
});

Deno.test("cobs framer rejects a code that runs past the frame", () => {
  assertThrows(
    () => decodeFrames(new CobsFramer(), hex("05 11 22 00")),
    CorruptFrameError,
    "code 0x05 at offset 0 needs 4 bytes, only 2 left",
  );
});

Deno.test("cobs framer refuses frames over maxFrameLength, encoded or decoded", () => {
  const framer = new CobsFramer({ maxFrameLength: 10 });
  assertThrows(
    () => encodeFrame(framer, new Uint8Array(11)),
    FrameTooLongError,
    "length 11 exceeds maxFrameLength 10",
  );
  // 11 zeros encode to 12 code bytes: within the encoded bound, too long once measured.
  assertThrows(
    () =>
      decodeFrames(
        new CobsFramer({ maxFrameLength: 10 }),
        encodeFrame(new CobsFramer(), new Uint8Array(11)),
      ),
    FrameTooLongError,
    "length 11 exceeds maxFrameLength 10",
  );
  // No delimiter within the encoded bound: refused before it arrives.
  assertThrows(
    () => decodeFrames(new CobsFramer({ maxFrameLength: 10 }), new Uint8Array(20).fill(1)),
    FrameTooLongError,
    "exceeds the encoded maximum 12",
  );
});
