/**
 * A peer can never make us allocate what it merely announces: the receive buffer grows with
 * the bytes that actually arrive, however large the announced frame.
 */

import { assertEquals, assertLess } from "@std/assert";
import {
  ChunkFramer,
  type Decoder,
  LengthPrefixedFramer,
  NetstringFramer,
  ReceiveBuffer,
  TinyprotoProtocol,
} from "@plexus/net/framing";
import { SendBuffer } from "@plexus/net/transport";
import { createMemoryChannelPair, StreamTransport } from "@plexus/net/transport";
import { bytes, concat, hex } from "./_helpers.ts";

const MiB = 1024 * 1024;
const READ = 8 * 1024;

/** Decoders that announce (or are told) a frame of 8 MiB, with the bytes that announce it. */
const ANNOUNCERS: [string, () => Decoder<Uint8Array>, Uint8Array][] = [
  ["4-byte length", () => new LengthPrefixedFramer(), hex("00 80 00 00")],
  [
    "8-byte LE length after a header byte",
    () =>
      new LengthPrefixedFramer({
        lengthFieldLength: 8,
        littleEndian: true,
        lengthFieldOffset: 1,
      }),
    hex("aa 00 00 80 00 00 00 00 00"),
  ],
  [
    "BSUInt length",
    () => new LengthPrefixedFramer({ lengthFieldLength: "bsuint" }),
    hex("84 80 80 00"),
  ],
  ["netstring", () => new NetstringFramer(), bytes("8388608:")],
  ["chunk", () => new ChunkFramer(8 * MiB), bytes("x")],
];

/** Reads `data` into `buffer` as a transport does, `READ` bytes at a time. */
function read(buffer: ReceiveBuffer, data: Uint8Array): void {
  for (let at = 0; at < data.byteLength;) {
    const tail = buffer.getWriteBuffer(READ);
    const n = Math.min(tail.byteLength, READ, data.byteLength - at);
    tail.set(data.subarray(at, at + n));
    buffer.commit(n);
    at += n;
  }
}

for (const [name, make, announcement] of ANNOUNCERS) {
  Deno.test(`${name} framer does not size the buffer by an announced 8 MiB frame`, () => {
    const buffer = new ReceiveBuffer();
    const decoder = make();
    read(buffer, announcement);
    assertEquals(decoder.decode(buffer), undefined);
    buffer.getWriteBuffer(READ);
    // At most the 64 KiB growth step plus a read, not 8 MiB.
    assertLess(buffer.capacity, 128 * 1024, `capacity ${buffer.capacity}`);
  });
}

Deno.test("length-prefixed framer still decodes an 8 MiB frame with few buffer moves", () => {
  const payload = new Uint8Array(8 * MiB).map((_, i) => i * 7);
  const wire = concat([hex("00 80 00 00"), payload]);
  const buffer = new ReceiveBuffer();
  const framer = new LengthPrefixedFramer();
  const blocks = new Set<Uint8Array>();
  let frame: Uint8Array | undefined;
  for (let at = 0; at < wire.byteLength && !frame;) {
    const tail = buffer.getWriteBuffer(256 * 1024);
    blocks.add(buffer.bytes);
    const n = Math.min(tail.byteLength, 256 * 1024, wire.byteLength - at);
    tail.set(wire.subarray(at, at + n));
    buffer.commit(n);
    at += n;
    frame = framer.decode(buffer);
  }
  if (frame === undefined) throw new Error("no frame after all the bytes");
  assertEquals(frame.byteLength, payload.byteLength);
  assertEquals(frame, payload);
  // The storage doubles with what arrived: about log2(8 MiB / 256 KiB) moves, not one per read.
  assertLess(blocks.size, 10, `${blocks.size} storage blocks`);
});

Deno.test("tinyproto does not size its buffer by an announced transmission", async () => {
  const [mine, raw] = createMemoryChannelPair();
  const tp = new TinyprotoProtocol({ transmissionReceived() {} });
  // Watch the storage behind every read, and how many bytes were read so far.
  const storage: number[] = [];
  let received = 0;
  const readAll = Promise.withResolvers<void>();
  const transport = new StreamTransport(mine, {
    connectionMade: (t) => tp.connectionMade(t),
    getBuffer(hint) {
      const tail = tp.getBuffer(hint);
      storage.push(tail.buffer.byteLength);
      if (received === 6) readAll.resolve(); // the read after the last byte: sized by now
      return tail;
    },
    bufferUpdated(n) {
      received += n;
      tp.bufferUpdated(n);
    },
    eofReceived: () => tp.eofReceived(),
    connectionLost: (e) => tp.connectionLost(e),
  });
  assertEquals(await readExactly(raw, 1), hex("ff"), "handshake");
  // Handshake, an announcement of 8 MiB (accepted with ff), then one byte of it.
  await raw.write(hex("ff 00 80 00 00"));
  assertEquals(await readExactly(raw, 1), hex("ff"));
  await raw.write(bytes("x"));
  await readAll.promise;
  const largest = Math.max(...storage);
  assertLess(largest, 256 * 1024, `storage of ${largest} bytes`);
  raw.close();
  await transport.closed;
});

/** Reads exactly `n` bytes from a raw channel. */
async function readExactly(
  channel: { read(p: Uint8Array): Promise<number | null> },
  n: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let at = 0; at < n;) {
    const got = await channel.read(out.subarray(at));
    if (got === null) return out.subarray(0, at);
    at += got;
  }
  return out;
}

Deno.test("send buffer lets go of a block grown for one big batch", () => {
  const out = new SendBuffer({ blockSize: 16 * 1024 });
  const framer = new LengthPrefixedFramer();
  framer.encode(new Uint8Array(10), out);
  framer.encode(new Uint8Array(8 * MiB), out);
  assertEquals(out.take().byteLength, 14 + 8 * MiB + 4);
  assertLess(out.bytes.byteLength, 2 * MiB, `kept ${out.bytes.byteLength} bytes`);
  framer.encode(new Uint8Array(10), out);
  assertLess(out.bytes.byteLength, 2 * MiB);
  assertEquals(out.take().byteLength, 14);
});
