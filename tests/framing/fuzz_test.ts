import { WatchedBuffer } from "../_shared.ts";
import { assert, assertEquals, assertInstanceOf } from "@std/assert";
import {
  ChunkFramer,
  CobsFramer,
  decodeFrames,
  type Decoder,
  DelimiterFramer,
  DotTerminatedFramer,
  encodeFrame,
  type Framer,
  FramingError,
  IdentityFramer,
  LengthPrefixedFramer,
  LineFramer,
  NetstringFramer,
  StuffingFramer,
} from "@plexus/net/framing";
import { concat, decodeChunks, prng } from "./_helpers.ts";

const LIMIT = 1000;
const MAX_CHUNK = 700;
const READ = 64;

/** Every framer, with a small limit so the fuzzer reaches it. */
/** Framers both fuzzers use. */
const COMMON: Record<string, () => Framer<Uint8Array>> = {
  "length 4": () => new LengthPrefixedFramer({ maxFrameLength: LIMIT }),
  "length 8": () => new LengthPrefixedFramer({ lengthFieldLength: 8, maxFrameLength: LIMIT }),
  leb128: () => new LengthPrefixedFramer({ lengthFieldLength: "leb128", maxFrameLength: LIMIT }),
  bsuint: () => new LengthPrefixedFramer({ lengthFieldLength: "bsuint", maxFrameLength: LIMIT }),
  "netty offsets": () =>
    new LengthPrefixedFramer({
      lengthFieldOffset: 3,
      lengthFieldLength: 2,
      lengthAdjustment: -4,
      bytesToStrip: 1,
      maxFrameLength: LIMIT,
    }),
  netstring: () => new NetstringFramer({ maxFrameLength: LIMIT }),
  cobs: () => new CobsFramer({ maxFrameLength: LIMIT }),
  zpe: () => new CobsFramer({ variant: "zpe", maxFrameLength: LIMIT }),
  cobsr: () => new CobsFramer({ variant: "cobsr", maxFrameLength: LIMIT }),
  stuffing: () => new StuffingFramer({ maxFrameLength: LIMIT }),
  "dot-terminated": () => new DotTerminatedFramer({ maxFrameLength: LIMIT }),
};

const FRAMERS: Record<string, () => Decoder<Uint8Array>> = {
  line: () => new LineFramer({ maxLength: LIMIT }),
  "line (discard)": () => new LineFramer({ maxLength: LIMIT, discardTooLong: true }),
  delimiter: () =>
    new DelimiterFramer({ delimiters: ["\r\n", "\0\0", "x"], maxFrameLength: LIMIT }),
  "delimiter (overlapping)": () =>
    new DelimiterFramer({ delimiters: ["\r", "\r\n", "\xff\n\xff", "\n"], maxFrameLength: LIMIT }),
  "length 1": () => new LengthPrefixedFramer({ lengthFieldLength: 1, maxFrameLength: LIMIT }),
  "length 2 LE": () =>
    new LengthPrefixedFramer({ lengthFieldLength: 2, littleEndian: true, maxFrameLength: LIMIT }),
  "length 3": () => new LengthPrefixedFramer({ lengthFieldLength: 3, maxFrameLength: LIMIT }),
  ...COMMON,
  chunk: () => new ChunkFramer(LIMIT, { partial: true, maxTrailing: LIMIT }),
  identity: () => new IdentityFramer(),
};

/** Garbage biased towards the bytes framers care about. */
function garbage(random: () => number, n: number): Uint8Array {
  const special = [0x00, 0x0a, 0x0d, 0x2e, 0x3a, 0x2c, 0x30, 0x35, 0x78, 0x80, 0xfe, 0xff];
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = random() < 0.5
      ? special[Math.floor(random() * special.length)]
      : Math.floor(random() * 256);
  }
  return out;
}

function chunksOf(random: () => number, data: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < data.length;) {
    const n = 1 + Math.floor(random() * MAX_CHUNK);
    chunks.push(data.subarray(i, i + n));
    i += n;
  }
  return chunks;
}

/** Runs one seeded case; only framing errors may escape, and the buffer stays bounded. */
function fuzz(seed: number, first: () => Decoder<Uint8Array>, switching: boolean): void {
  const random = prng(seed);
  const data = garbage(random, 200 + Math.floor(random() * 6000));
  const names = Object.keys(FRAMERS);
  const buffer = new WatchedBuffer({ initialCapacity: 64, minReadSize: READ });
  try {
    decodeChunks(first(), chunksOf(random, data), (frame, state) => {
      assert(frame.byteLength <= LIMIT, `frame of ${frame.byteLength} bytes`);
      if (switching && random() < 0.3) {
        state.decoder = FRAMERS[names[Math.floor(random() * names.length)]]();
      }
    }, buffer);
  } catch (error) {
    assertInstanceOf(error, FramingError, `seed ${seed}: ${error}`);
  }
  // Unconsumed bytes stay under the limit plus a header; a read adds at most one chunk.
  const bound = LIMIT + Math.floor(LIMIT / 2) + 16 + MAX_CHUNK + READ;
  assert(buffer.maxCapacity <= bound, `seed ${seed}: capacity ${buffer.maxCapacity} > ${bound}`);
}

for (const [name, make] of Object.entries(FRAMERS)) {
  Deno.test(`${name} framer throws only framing errors on random input and stays bounded`, () => {
    for (let seed = 1; seed <= 150; seed++) fuzz(seed * 7919 + name.length, make, false);
  });
}

Deno.test("random switches between framers inside frame callbacks throw only framing errors", () => {
  const names = Object.keys(FRAMERS);
  for (let seed = 1; seed <= 400; seed++) fuzz(seed, FRAMERS[names[seed % names.length]], true);
});

/**
 * Framers whose encodings can follow each other in one stream, each made for the frame it will
 * carry (a chunk framer is as long as its frame).
 */
const SEQUENCED: Record<string, (frame: Uint8Array) => Framer<Uint8Array>> = {
  line: () => new LineFramer({ maxLength: LIMIT }),
  delimiter: () =>
    new DelimiterFramer({ delimiters: ["\r\n", "\0\0", "x"], maxFrameLength: LIMIT }),
  "length 1": () => new LengthPrefixedFramer({ lengthFieldLength: 1, maxFrameLength: LIMIT }),
  "length 3 LE": () =>
    new LengthPrefixedFramer({ lengthFieldLength: 3, littleEndian: true, maxFrameLength: LIMIT }),
  ...COMMON,
  chunk: (frame) => new ChunkFramer(frame.byteLength),
};

/** A stream of frames, each in the framer picked for it, and what each decodes to. */
function sequence(random: () => number, count: number) {
  const names = Object.keys(SEQUENCED);
  const steps: { make: () => Framer<Uint8Array>; expected: Uint8Array }[] = [];
  const wire: Uint8Array[] = [];
  while (steps.length < count) {
    const name = names[Math.floor(random() * names.length)];
    const frame = garbage(random, Math.floor(random() * 300));
    const make = () => SEQUENCED[name](frame);
    let encoded: Uint8Array;
    try {
      encoded = encodeFrame(make(), frame);
    } catch (error) {
      if (error instanceof FramingError || error instanceof RangeError) continue; // not encodable
      throw error;
    }
    // What the frame decodes to on its own (a header stripped, a line ending added ...).
    const alone = decodeFrames(make(), encoded);
    if (alone.length !== 1) continue; // an encoding that is not one frame (none here, in fact)
    steps.push({ make, expected: alone[0] });
    wire.push(encoded);
  }
  return { steps, wire: concat(wire) };
}

Deno.test("random switches between framers inside frame callbacks lose and reorder no byte", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const random = prng(seed);
    const { steps, wire } = sequence(random, 1 + Math.floor(random() * 25));
    let next = 1;
    const frames = decodeChunks(steps[0].make(), chunksOf(random, wire), (_frame, state) => {
      if (next < steps.length) state.decoder = steps[next++].make();
    });
    assertEquals(frames, steps.map((s) => s.expected), `seed ${seed}`);
  }
});
