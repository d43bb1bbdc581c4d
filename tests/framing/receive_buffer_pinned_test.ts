import { assert, assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { encodeFrame, LengthPrefixedFramer, LineFramer, ReceiveBuffer } from "@plexus/net/framing";
import { hex } from "./_helpers.ts";

Deno.test("receive buffer peek() stops at the unconsumed bytes, however much is asked", () => {
  const buffer = new ReceiveBuffer({ initialCapacity: 16 });
  buffer.append(hex("01 02 03 04"));
  buffer.skip(1);
  assertEquals(buffer.peek(10), hex("02 03 04"));
  assertEquals(buffer.peek(10, 2), hex("04"));
  assertEquals(buffer.peek(2, 1), hex("03 04"));
});

Deno.test("receive buffer takeCopy() advances the stream position", () => {
  const buffer = new ReceiveBuffer({ initialCapacity: 16 });
  buffer.append(hex("01 02 03 04 05"));
  assertEquals(buffer.takeCopy(2), hex("01 02"));
  assertEquals(buffer.position, 2);
  buffer.skip(1);
  assertEquals(buffer.takeCopy(2), hex("04 05"));
  assertEquals(buffer.position, 5);
  assertEquals(buffer.length, 0);
});

Deno.test("receive buffer allocate() starts a new slab when an allocated frame's buffer was transferred", () => {
  const buffer = new ReceiveBuffer();
  const first = buffer.allocate(8);
  (first.buffer as ArrayBuffer).transfer(); // an application moved the frame's memory away (detaching the slab)
  const second = buffer.allocate(8);
  assertEquals(second, new Uint8Array(8));
  assert(!(second.buffer as ArrayBuffer).detached);
  second.fill(1);
  assertEquals(buffer.allocate(4), new Uint8Array(4), "zero-filled, not sharing with second");
});

Deno.test("receive buffer keeps a large block while small reads alternate with large ones", () => {
  // Only a run of SHRINK_AFTER (4) small reads in a row lets the block go; a read that needs
  // the block starts the count again.
  const buffer = new ReceiveBuffer();
  buffer.getWriteBuffer(256 * 1024);
  buffer.commit(0);
  const block = buffer.bytes;
  for (let cycle = 0; cycle < 4; cycle++) {
    for (let i = 0; i < 3; i++) {
      buffer.getWriteBuffer(1024);
      buffer.commit(0);
    }
    buffer.getWriteBuffer(64 * 1024);
    buffer.commit(0);
  }
  assertStrictEquals(buffer.bytes, block);
  for (let i = 0; i < 4; i++) {
    buffer.getWriteBuffer(1024);
    buffer.commit(0);
  }
  assert(buffer.capacity <= 4 * 1024, `a run of 4 small reads lets it go: ${buffer.capacity}`);
});

Deno.test("receive buffer lets a block grown for one large frame go at the next read", () => {
  // A quiet connection's pending read would otherwise hold the 8 MiB block (until 4 small
  // reads in a row), and a small frame kept from it would pin all of it.
  const framer = new LengthPrefixedFramer({ maxFrameLength: 16 << 20 });
  const buffer = new ReceiveBuffer();
  const receive = (wire: Uint8Array): Uint8Array => {
    for (let at = 0;;) {
      const frame = framer.decode(buffer);
      if (frame !== undefined) return frame;
      const tail = buffer.getWriteBuffer(256 * 1024);
      const n = Math.min(tail.byteLength, 256 * 1024, wire.byteLength - at);
      tail.set(wire.subarray(at, at + n));
      buffer.commit(n);
      at += n;
    }
  };
  const large = receive(encodeFrame(framer, new Uint8Array(8 << 20).fill(7)));
  assertEquals(large.byteLength, 8 << 20);
  assert(buffer.capacity >= 8 << 20, `the block grew for the frame: ${buffer.capacity}`);
  const small = receive(encodeFrame(framer, hex("01 02 03")));
  assertEquals(small, hex("01 02 03"));
  buffer.getWriteBuffer(1024); // the next read, pending while the connection is quiet
  buffer.commit(0);
  assert(buffer.capacity <= 256 * 1024, `the quiet connection holds ${buffer.capacity} bytes`);
  assert(small.buffer.byteLength <= 256 * 1024, `a 3-byte frame pins ${small.buffer.byteLength}`);
  assert(large.every((b) => b === 7), "the large frame is intact");
});

Deno.test("receive buffer grows towards a reserved frame when it moves, rather than sliding in place", () => {
  const buffer = new ReceiveBuffer({ initialCapacity: 2048, minReadSize: 1024 });
  buffer.append(new Uint8Array(1500).fill(7));
  buffer.skip(1000); // no view out: sliding in place would make room for the read
  buffer.reserve(10_000); // but the frame in progress needs 10 000 bytes
  assert(buffer.getWriteBuffer(1024).byteLength >= 1024);
  assert(buffer.capacity >= 10_000, `capacity ${buffer.capacity}`);
  assertEquals(buffer.peek(), new Uint8Array(500).fill(7));
});

Deno.test("receive buffer refuses a minReadSize below 1", () => {
  assertThrows(() => new ReceiveBuffer({ minReadSize: 0 }), RangeError, "need minReadSize >= 1");
  assertThrows(() => new ReceiveBuffer({ initialCapacity: -1 }), RangeError);
});

Deno.test("receive buffer copies a long line a few times, not once per read", () => {
  // A line's length is unknown until its end: growing by one read each time copied the line so
  // far on every read (2 GiB copied for a 16 MiB line read in 64 KiB pieces).
  const size = 16 * 1024 * 1024;
  for (const reuse of [false, true]) {
    const framer = new LineFramer({ maxLength: size });
    const buffer = new ReceiveBuffer({ reuse });
    const piece = new Uint8Array(64 * 1024).fill(0x61);
    let copied = 0;
    let block: ArrayBufferLike | undefined;
    for (let sent = 0; sent < size; sent += piece.length) {
      const buffered = buffer.length;
      const tail = buffer.getWriteBuffer(piece.length);
      if (tail.buffer !== block) {
        if (block !== undefined) copied += buffered;
        block = tail.buffer;
      }
      tail.set(piece.subarray(0, Math.min(piece.length, tail.byteLength)));
      buffer.commit(Math.min(piece.length, tail.byteLength));
      assertEquals(framer.decode(buffer), undefined);
    }
    assert(copied <= 4 * size, `${Math.round(copied / 2 ** 20)} MiB copied for a 16 MiB line`);
    assert(buffer.capacity <= 3 * size, `the block grew to ${buffer.capacity} bytes`);
  }
});
