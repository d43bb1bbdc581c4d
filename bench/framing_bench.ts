/**
 * Decode micro-benchmarks, one per framer: each iteration decodes 1 MiB of encoded frames
 * (mostly 64-byte payloads), so the `iter/s` column reads as MiB/s.
 *
 * ```
 * deno bench bench/framing_bench.ts
 * ```
 *
 * @module
 */

import {
  CobsFramer,
  type Decoder,
  DelimiterFramer,
  DotTerminatedFramer,
  type Framer,
  IdentityFramer,
  LengthPrefixedFramer,
  LineFramer,
  NetstringFramer,
  ReceiveBuffer,
  StuffingFramer,
} from "@plexus/net/framing";
import { SendBuffer } from "@plexus/net/transport";

const MIB = 1024 * 1024;

/** Printable payloads (text framers need no delimiter inside), 64 bytes each. */
function payload(i: number): Uint8Array {
  const out = new Uint8Array(64);
  for (let j = 0; j < 64; j++) out[j] = 0x21 + ((i * 7 + j) % 90);
  return out;
}

/** Exactly 1 MiB of encoded frames (padded with whole frames, then cut to a frame end). */
function wireFor(framer: Framer<Uint8Array>): Uint8Array {
  const out = new SendBuffer({ blockSize: 2 * MIB });
  let last = 0;
  for (let i = 0; out.length < MIB; i++) {
    last = out.length;
    framer.encode(payload(i), out);
  }
  return out.take().subarray(0, last);
}

const FRAMERS: [string, () => Framer<Uint8Array>][] = [
  ["length-prefixed (4-byte BE)", () => new LengthPrefixedFramer()],
  [
    "length-prefixed (2-byte LE)",
    () => new LengthPrefixedFramer({ lengthFieldLength: 2, littleEndian: true }),
  ],
  ["length-prefixed (bsuint)", () => new LengthPrefixedFramer({ lengthFieldLength: "bsuint" })],
  ["line", () => new LineFramer()],
  ["delimiter (2 delimiters)", () => new DelimiterFramer({ delimiters: ["\r\n", "\0"] })],
  ["netstring", () => new NetstringFramer()],
  ["cobs", () => new CobsFramer()],
  ["cobs (zpe)", () => new CobsFramer({ variant: "zpe" })],
  ["cobs/r", () => new CobsFramer({ variant: "cobsr" })],
  ["stuffing", () => new StuffingFramer()],
  ["dot-terminated", () => new DotTerminatedFramer()],
  ["identity", () => new IdentityFramer()],
];

for (const [name, make] of FRAMERS) {
  const wire = wireFor(make());
  Deno.bench(`${name}: decode 1 MiB`, { group: "decode" }, () => {
    const decoder: Decoder<Uint8Array> = make();
    // Read in 64 KiB pieces, as a transport would.
    const buffer = new ReceiveBuffer({ initialCapacity: 256 * 1024 });
    let frames = 0;
    for (let at = 0; at < wire.length;) {
      const tail = buffer.getWriteBuffer(64 * 1024);
      const n = Math.min(64 * 1024, tail.length, wire.length - at);
      tail.set(wire.subarray(at, at + n));
      buffer.commit(n);
      at += n;
      while (decoder.decode(buffer) !== undefined) frames++;
    }
    if (buffer.length !== 0 || frames === 0) throw new Error(`${name}: decoding failed`);
  });
}
