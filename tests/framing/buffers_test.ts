import {
  assert,
  assertEquals,
  assertNotStrictEquals,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { ReceiveBuffer } from "@plexus/net/framing";
import { SendBuffer } from "@plexus/net/transport";
import { hex } from "./_helpers.ts";

Deno.test("receive buffer never writes over a region handed out by take()", () => {
  const buffer = new ReceiveBuffer({ initialCapacity: 8, minReadSize: 4 });
  buffer.append(hex("01 02 03 04 05 06"));
  const frame = buffer.take(4);
  const storage = buffer.bytes;
  // The tail is short: the unconsumed bytes move to fresh storage, the view keeps its bytes.
  buffer.append(hex("07 08 09 0a"));
  assertNotStrictEquals(buffer.bytes, storage);
  assertEquals(frame, hex("01 02 03 04"));
  assertEquals(buffer.peek(), hex("05 06 07 08 09 0a"));
});

Deno.test("receive buffer reuses its storage in place while no view is out", () => {
  const buffer = new ReceiveBuffer({ initialCapacity: 8, minReadSize: 4 });
  buffer.append(hex("01 02 03 04 05 06"));
  buffer.skip(5);
  const storage = buffer.bytes;
  buffer.getWriteBuffer(4);
  assertStrictEquals(buffer.bytes, storage, "slid to the front, no allocation");
  assertEquals(buffer.peek(), hex("06"));
  assertEquals(buffer.position, 5);
  const copy = buffer.takeCopy(1);
  buffer.append(hex("ff ff ff ff ff ff ff"));
  assertEquals(copy, hex("06"), "a copy is never overwritten either");
});

Deno.test("receive buffer hands out at least minReadSize and grows only for what is unconsumed", () => {
  const buffer = new ReceiveBuffer({ initialCapacity: 0, minReadSize: 1024 });
  for (let i = 0; i < 100; i++) {
    const tail = buffer.getWriteBuffer(4096);
    assert(tail.byteLength >= 1024);
    buffer.commit(1000);
    buffer.take(990); // leaves 10 more unconsumed bytes each round
    assert(buffer.capacity <= buffer.length + 4096 + 1024, `capacity ${buffer.capacity}`);
  }
  assertEquals(buffer.length, 1000);
});

/**
 * Pipelined 68-byte frames read 10 000 bytes at a time with a 64 KiB hint, 100 reads (1 MB),
 * every whole frame taken after each read. Returns the storage blocks the reads went to.
 */
function readPipelined(buffer: ReceiveBuffer): Set<ArrayBufferLike> {
  const blocks = new Set<ArrayBufferLike>();
  for (let read = 0; read < 100; read++) {
    const tail = buffer.getWriteBuffer(64 * 1024);
    blocks.add(tail.buffer);
    buffer.commit(Math.min(10_000, tail.byteLength));
    while (buffer.length >= 68) buffer.take(68);
  }
  return blocks;
}

Deno.test("receive buffer keeps reading into a block's tail after frames were taken from it", () => {
  // The tail after each read is a little under the hint, yet large enough for the next read.
  const blocks = readPipelined(new ReceiveBuffer({ minReadSize: 4096 }));
  // 1 MB arrived: a new block about every 64 KiB, not one per read.
  assert(blocks.size <= 20, `${blocks.size} blocks for 100 reads`);
});

Deno.test("receive buffer reads small answers into one block; large reads get no extra room", () => {
  // A request/response client: each read brings one 40-byte answer, asked for with a 4 KiB
  // hint (the buffer's minReadSize); the tail after a frame is taken is just short of it.
  const small = new ReceiveBuffer({ minReadSize: 4096 });
  const blocks = new Set<ArrayBufferLike>();
  for (let read = 0; read < 100; read++) {
    const tail = small.getWriteBuffer(4096);
    assert(tail.byteLength >= 4096);
    tail.set([0, 0, 0, 36]);
    small.commit(40);
    blocks.add(small.take(36, 4).buffer);
  }
  assert(blocks.size <= 2, `${blocks.size} blocks for 100 small reads`);
  assert(small.capacity <= 2 * 4096, `capacity ${small.capacity}`);
  // Reads that fill most of a block: each replacement has one read's room, as asked.
  const large = new ReceiveBuffer({ minReadSize: 4096 });
  for (let read = 0; read < 10; read++) {
    const tail = large.getWriteBuffer(4096);
    assertEquals(tail.byteLength, 4096);
    for (let at = 0; at + 40 <= 4000; at += 40) tail.set([0, 0, 0, 36], at);
    large.commit(4000);
    while (large.length > 0) large.take(36, 4);
  }
  assertEquals(large.capacity, 4096);
});

Deno.test("receive buffer with reuse slides into its own storage although frames were taken", () => {
  const buffer = new ReceiveBuffer({ minReadSize: 4096, reuse: true });
  assertEquals(readPipelined(buffer).size, 1, "one block for the whole stream");
  // A frame is valid until the next write; then its memory may hold later bytes.
  buffer.skip(buffer.length);
  buffer.append(hex("01 02 03 04"));
  const frame = buffer.take(2);
  assertEquals(frame, hex("01 02"));
  buffer.skip(2);
  buffer.getWriteBuffer(buffer.capacity).fill(0xee);
  assertEquals(frame, hex("ee ee"), "the storage was reused in place");
});

/** Reads that bring nothing (a unit test's small reads): `n` calls with a 1 KiB hint. */
function quietReads(buffer: ReceiveBuffer, n: number): void {
  for (let i = 0; i < n; i++) {
    buffer.getWriteBuffer(1024);
    buffer.commit(0);
  }
}

Deno.test("receive buffer lets a block grown for a burst go after a run of small reads", () => {
  for (const reuse of [false, true]) {
    const buffer = new ReceiveBuffer({ reuse });
    // A burst: 256 KiB reads of 68-byte frames, the last one partial.
    let frame: Uint8Array = new Uint8Array(0);
    for (let read = 0; read < 4; read++) {
      const tail = buffer.getWriteBuffer(256 * 1024);
      for (let at = 0; at + 68 <= tail.byteLength; at += 68) {
        tail.set([0, 0, 0, 64], at);
        tail.fill(read + 1, at + 4, at + 68);
      }
      buffer.commit(read < 3 ? tail.byteLength : 1000);
      while (buffer.length >= 68) frame = buffer.take(64, 4);
    }
    assert(buffer.capacity >= 256 * 1024, `capacity ${buffer.capacity}`);
    const pending = buffer.peek().slice();
    const taken = frame.slice();
    // Three small reads keep the block (traffic may turn large again)...
    quietReads(buffer, 3);
    assert(buffer.capacity >= 256 * 1024, `reuse ${reuse}: kept, capacity ${buffer.capacity}`);
    // ...the fourth gets a block of a few KiB, the bytes of the frame in progress moved along.
    quietReads(buffer, 1);
    assert(buffer.capacity <= 4 * 1024, `reuse ${reuse}: capacity ${buffer.capacity}`);
    assertEquals(buffer.peek(), pending);
    buffer.getWriteBuffer(1024).fill(0xee);
    if (!reuse) assertEquals(frame, taken, "a frame taken before stays intact");
  }
});

Deno.test("receive buffer keeps room for a large frame in progress, not after it was taken", () => {
  // A 1 MiB frame in progress keeps its room however small the reads.
  const large = new ReceiveBuffer();
  large.getWriteBuffer(256 * 1024).set([0, 0x10, 0, 0]);
  large.commit(10 * 1024);
  large.reserve(1024 * 1024 + 4);
  const block = large.bytes;
  quietReads(large, 20);
  assertStrictEquals(large.bytes, block);
  // A 200 000-byte frame whose last read went into the block's tail: once it is taken, its
  // reserve() no longer holds the block.
  const buffer = new ReceiveBuffer();
  buffer.getWriteBuffer(256 * 1024).set([0, 0x03, 0x0d, 0x40]);
  buffer.commit(100_000);
  buffer.reserve(200_004); // as a framer does when the frame is incomplete
  assert(buffer.getWriteBuffer(100_000).byteLength >= 100_004, "read into the tail");
  buffer.commit(100_004);
  assertEquals(buffer.take(200_000, 4).byteLength, 200_000);
  quietReads(buffer, 4);
  assert(buffer.capacity <= 4 * 1024, `capacity ${buffer.capacity}`);
});

Deno.test("receive buffer with reuse keeps its block for large frames mixed with small ones", () => {
  const buffer = new ReceiveBuffer({ reuse: true });
  const blocks = new Set<ArrayBufferLike>();
  for (let cycle = 0; cycle < 50; cycle++) {
    // An 8 KiB frame in one read, then two small ones: the read size the transport asks for
    // drops to 1 KiB after the small reads and doubles again.
    for (const [hint, size] of [[8192, 8196], [1024, 40], [1024, 40]]) {
      const tail = buffer.getWriteBuffer(hint);
      blocks.add(tail.buffer);
      tail.set([0, 0, (size - 4) >> 8, (size - 4) & 0xff]);
      buffer.commit(size);
      buffer.take(size - 4, 4);
    }
  }
  assert(blocks.size <= 2, `${blocks.size} blocks`);
});

Deno.test("receive buffer take(n, skip) drops a header and takes the frame after it", () => {
  const buffer = new ReceiveBuffer({ initialCapacity: 16 });
  buffer.append(hex("00 02 aa bb cc"));
  assertThrows(
    () => buffer.take(4, 2),
    RangeError,
    "Cannot take 4 bytes after 2: only 5 bytes are buffered",
  );
  assertThrows(() => buffer.take(1, -1), RangeError, "Cannot take 1 bytes after -1");
  assertThrows(() => buffer.take(1, NaN), RangeError);
  assertEquals(buffer.length, 5, "a refused take consumes nothing");
  assertEquals(buffer.take(2, 2), hex("aa bb"));
  assertEquals(buffer.position, 4);
  assertEquals(buffer.peek(), hex("cc"));
});

Deno.test("receive buffer rejects taking, skipping or committing more than there is", () => {
  const buffer = new ReceiveBuffer({ initialCapacity: 4 });
  buffer.append(hex("01"));
  assertThrows(() => buffer.take(2), RangeError, "Cannot take 2 bytes: only 1 bytes are buffered");
  assertThrows(() => buffer.skip(2), RangeError);
  assertThrows(() => buffer.commit(1000), RangeError, "are free");
  assertEquals(buffer.indexOf(1), 0);
  assertEquals(buffer.at(1), undefined);
});

Deno.test("send buffer hands out views that later writes never touch", () => {
  const out = new SendBuffer({ blockSize: 16 });
  out.write(hex("01 02 03"));
  const first = out.take();
  for (let i = 0; i < 10; i++) out.writeUint(0xaabbcc, 3, i % 2 === 0);
  const second = out.take();
  assertEquals(first, hex("01 02 03"));
  assertEquals(second.length, 30);
  assertEquals(second.subarray(0, 6), hex("cc bb aa aa bb cc"));
  assertEquals(out.take().length, 0);
});
