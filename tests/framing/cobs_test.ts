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
import { toHex } from "../_shared.ts";

const range = (from: number, to: number) =>
  Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * Bytes from the vector file's notation: hex bytes, `""` for none, and ranges written `01..ff`
 * or `01 .. fe` (both ends included).
 */
function parseSpec(spec: string): Uint8Array {
  const out: number[] = [];
  const tokens = spec.trim().split(/\s+/);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === '""') continue;
    if (token === "..") {
      const from = out.pop()!;
      out.push(...range(from, parseInt(tokens[++i], 16)));
    } else if (token.includes("..")) {
      const [from, to] = token.split("..").map((h) => parseInt(h, 16));
      out.push(...range(from, to));
    } else {
      out.push(parseInt(token, 16));
    }
  }
  return new Uint8Array(out);
}

/** `tests/fixtures/vectors/cobs.txt` (Tendril, copied from shared/vectors): `variant frame  wire` per line, read as it is. */
async function readTendrilVectors(): Promise<[CobsVariant, Uint8Array, Uint8Array][]> {
  const file = await Deno.readTextFile(
    new URL("../fixtures/vectors/cobs.txt", import.meta.url),
  );
  const vectors: [CobsVariant, Uint8Array, Uint8Array][] = [];
  for (const line of file.split("\n")) {
    const match = /^(cobs|zpe) (.*?)(?: \(\d+ bytes\) | {2,})(.*)$/.exec(line);
    if (match) vectors.push([match[1] as CobsVariant, parseSpec(match[2]), parseSpec(match[3])]);
  }
  return vectors;
}

const TENDRIL = await readTendrilVectors();

// COBS/R vectors of the `cobs` Python package (not in the shared file).
const COBSR: [CobsVariant, Uint8Array, Uint8Array][] = [
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

const VECTORS = [...TENDRIL, ...COBSR];

Deno.test("cobs vectors are read from the vector file", () => {
  assertEquals(TENDRIL.length, 8, "every cobs and zpe line of the file");
  assertEquals(TENDRIL[4][1], range(1, 255));
  assertEquals(TENDRIL[4][2], concat([hex("ff"), range(1, 254), hex("02 ff 00")]));
  assertEquals(
    TENDRIL[7][2],
    concat([hex("e0"), range(1, 0xdf), hex("21"), range(0xe0, 0xff), hex("00")]),
  );
});

for (const [variant, frame, wire] of VECTORS) {
  Deno.test(`${variant} framer matches the vector for ${frame.byteLength} bytes ${toHex(frame.subarray(0, 4))}`, () => {
    assertEquals(encodeFrame(new CobsFramer({ variant }), frame), wire);
    assertEquals(decodeFrames(new CobsFramer({ variant }), wire), [frame]);
  });
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
