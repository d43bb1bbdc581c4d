import { assertEquals, assertThrows } from "@std/assert";
import {
  APPEND_BY_REFERENCE,
  createMemoryTransportPair,
  type Protocol,
  SendBuffer,
  StreamTransport,
  type Transport,
  TransportError,
} from "@plexus/net/transport";
import { CountingChannel } from "../_counting_channel.ts";
import { channelPair } from "../_net.ts";
import { Recorder } from "../_recorder.ts";
import { bytes, concat, text } from "../_shared.ts";

Deno.test("send buffer: a big chunk is queued by reference, in order, and shifted as it is", () => {
  const out = new SendBuffer({ blockSize: 16 });
  const big = new Uint8Array(APPEND_BY_REFERENCE).fill(7);
  out.write(bytes("ab"));
  out.append(big);
  out.append(bytes("cd")); // small: copied
  assertEquals(out.length, 4 + big.byteLength);
  assertEquals(text(out.shift(Infinity)!), "ab");
  assertEquals(out.shift(Infinity) === big, true, "not copied");
  assertEquals(text(out.shift(Infinity)!), "cd");
  assertEquals(out.shift(Infinity), undefined);
});

Deno.test("send buffer: shift(max) splits, truncate drops the tail, take joins", () => {
  const out = new SendBuffer({ blockSize: 16 });
  const big = new Uint8Array(APPEND_BY_REFERENCE).fill(1);
  out.write(bytes("xyz"));
  out.append(big);
  out.write(bytes("tail"));
  out.truncate(3 + 10); // keeps "xyz" and 10 bytes of big
  assertEquals(out.length, 13);
  assertEquals(text(out.shift(2)!), "xy");
  const joined = out.take();
  assertEquals(joined, concat([bytes("z"), big.subarray(0, 10)]));
  assertEquals(out.length, 0);
});

Deno.test("send buffer: rewind reuses the block once everything was shifted", () => {
  const out = new SendBuffer({ blockSize: 64 });
  out.write(bytes("one"));
  const first = out.shift(Infinity)!;
  out.rewind();
  out.write(bytes("two"));
  const second = out.shift(Infinity)!;
  assertEquals(second.buffer === first.buffer && second.byteOffset === first.byteOffset, true);
  // Bytes appended and not shifted: no rewind.
  out.write(bytes("3"));
  out.rewind();
  out.write(bytes("4"));
  assertEquals(text(out.take()), "34");
});

Deno.test("send buffer: a block grown for a burst is let go after a run of small batches", () => {
  const out = new SendBuffer({ blockSize: 256 });
  const batch = (size: number): void => {
    for (let left = size; left > 0; left -= 100) out.write(new Uint8Array(Math.min(100, left)));
    out.shift(Infinity);
    out.rewind();
  };
  batch(100_000);
  const grown = out.bytes.byteLength;
  assertEquals(grown >= 100_000, true, `${grown}`);
  // Large batches mixed with a few small ones (answers and acknowledgements) keep the block.
  for (let i = 0; i < 10; i++) {
    batch(5);
    batch(5);
    batch(5);
    batch(60_000);
  }
  assertEquals(out.bytes.byteLength, grown, "kept");
  // A run of small batches: let go, and the next write takes a block its size.
  for (let i = 0; i < 3; i++) batch(5);
  assertEquals(out.bytes.byteLength, grown, "three small batches: kept");
  batch(5);
  assertEquals(out.bytes.byteLength, 0, "the fourth: let go");
  out.write(bytes("next"));
  assertEquals(out.bytes.byteLength, 256);
});

Deno.test("send buffer: writes during a write in flight switch between two blocks, no more", () => {
  const out = new SendBuffer({ blockSize: 64 });
  const fill = (byte: number) => out.write(new Uint8Array(40).fill(byte));
  fill(1);
  const a = out.shift(Infinity)!; // in flight; its block has no room for another 40 bytes
  fill(2);
  assertEquals(a.every((b) => b === 1), true, "the piece in flight is not written over");
  out.rewind(); // a was written: its block becomes the spare
  const b = out.shift(Infinity)!;
  fill(3); // goes into a's block, not a new one
  const c = out.shift(Infinity)!;
  assertEquals(c.buffer === a.buffer, true, "the spare block is reused");
  assertEquals(b.every((x) => x === 2) && c.every((x) => x === 3), true);
  assertEquals(b.buffer === a.buffer, false);
});

Deno.test("send buffer: past 256 KiB pending, a full block is sealed, not copied", () => {
  const out = new SendBuffer({ blockSize: 16 * 1024 });
  const frame = new Uint8Array(1000).fill(9);
  for (let i = 0; i < 1000; i++) out.write(frame);
  let pieces = 0;
  let total = 0;
  for (let p = out.shift(Infinity); p; p = out.shift(Infinity)) {
    pieces++;
    total += p.byteLength;
  }
  assertEquals(total, 1_000_000);
  assertEquals(pieces > 1 && pieces < 8, true, `${pieces} pieces`);
});

Deno.test("commit(): encoded bytes and write() leave in call order, in one channel write", async () => {
  const pair = await channelPair("memory", 1 << 20);
  const counted = new CountingChannel(pair.client);
  const server = new Recorder();
  const st = new StreamTransport(pair.server, server);
  const ct = new StreamTransport(counted, new Recorder());
  const big = new Uint8Array(100_000).fill(0x41);
  ct.out.write(bytes("<"));
  ct.commit();
  ct.write(bytes("a"));
  ct.out.writeUint(0x626364, 3);
  ct.commit();
  ct.write(big); // by reference
  ct.out.write(bytes(">"));
  ct.commit();
  assertEquals(ct.getWriteBufferSize(), 5 + big.byteLength + 1);
  await ct.flushed();
  assertEquals(counted.writes <= 3, true, `${counted.writes} writes`);
  ct.close();
  await st.closed;
  assertEquals(text(concat(server.chunks)), "<abcd" + "A".repeat(100_000) + ">");
});

Deno.test("a reply written in dataReceived() reaches the channel when the callback returns", async () => {
  const pair = await channelPair("memory");
  const counted = new CountingChannel(pair.server);
  // The write count each microtask the callback queued saw, ahead of its reply or behind it.
  const seen: number[] = [];
  const st: StreamTransport = new StreamTransport(counted, {
    dataReceived(data) {
      queueMicrotask(() => seen.push(counted.writes));
      st.write(data);
      st.write(data); // joins the same channel write
      queueMicrotask(() => seen.push(counted.writes));
    },
  });
  const client = new Recorder();
  const ct = new StreamTransport(pair.client, client);
  ct.write(bytes("ab"));
  await client.untilReceived(4);
  assertEquals(seen, [1, 1], "no microtask ran before the reply was handed over");
  assertEquals(counted.writes, 1);
  assertEquals(text(concat(client.chunks)), "abab");
  ct.close();
  await Promise.all([ct.closed, st.closed]);
  await pair.cleanup();
});

Deno.test("a reply from dataReceived() leaves before close() in it; one before a throw is dropped", async () => {
  for (const end of ["close", "throw"] as const) {
    const pair = await channelPair("memory");
    const counted = new CountingChannel(pair.server);
    const boom = new Error("boom");
    const st: StreamTransport = new StreamTransport(counted, {
      dataReceived(data) {
        st.write(data);
        if (end === "throw") throw boom;
        st.close();
      },
    });
    const client = new Recorder();
    const ct = new StreamTransport(pair.client, client);
    ct.write(bytes("bye"));
    assertEquals(await st.closed, end === "throw" ? boom : undefined);
    assertEquals(await ct.closed, undefined);
    assertEquals(text(concat(client.chunks)), end === "throw" ? "" : "bye", end);
    assertEquals(counted.writes, end === "throw" ? 0 : 1, end);
    await pair.cleanup();
  }
});

/** A memory pair whose client has watermarks 10 / 2 and logs its pause and resume calls. */
async function watermarkPair(): Promise<
  { st: StreamTransport; ct: StreamTransport; events: string[] }
> {
  const pair = await channelPair("memory");
  const events: string[] = [];
  const st = new StreamTransport(pair.server, new Recorder());
  const ct = new StreamTransport(pair.client, {
    dataReceived() {},
    pauseWriting: () => events.push("pause"),
    resumeWriting: () => events.push("resume"),
  }, { writeBufferLimits: { high: 10, low: 2 } });
  return { st, ct, events };
}

Deno.test("commit(): pauseWriting inside commit() when strictly over high", async () => {
  const { st, ct, events } = await watermarkPair();
  ct.out.write(new Uint8Array(10));
  ct.commit();
  assertEquals(events, []);
  ct.out.writeByte(1);
  assertEquals(events, [], "nothing is counted before commit()");
  ct.commit();
  assertEquals(events, ["pause"]);
  await ct.flushed();
  assertEquals(events, ["pause", "resume"]);
  ct.close();
  st.close();
  await Promise.all([ct.closed, st.closed]);
});

Deno.test("commit(): while paused, commits go by the cap alone", async () => {
  const pair = await channelPair("memory");
  const st = new StreamTransport(pair.server, new Recorder());
  const events: string[] = [];
  const ct = new StreamTransport(pair.client, {
    dataReceived() {},
    pauseWriting: () => events.push("pause"),
    resumeWriting: () => events.push("resume"),
  }, { writeBufferLimits: { high: 10, low: 2 }, maxWriteBuffer: 100 });
  ct.out.write(new Uint8Array(11));
  ct.commit();
  for (let i = 0; i < 80; i++) {
    ct.out.writeByte(i);
    ct.commit(); // past high, within the cap: nothing to signal
  }
  assertEquals([events, ct.getWriteBufferSize()], [["pause"], 91]);
  ct.out.write(new Uint8Array(10));
  ct.commit(); // 101 bytes: past the cap
  assertEquals((await ct.closed)?.name, "WriteBufferOverflowError");
  await st.closed;
  await pair.cleanup();
});

Deno.test("commit(): from resumeWriting on, commits go by the high watermark again", async () => {
  const pair = await channelPair("memory");
  const st = new StreamTransport(pair.server, new Recorder());
  const events: string[] = [];
  let ct: StreamTransport | undefined = undefined;
  ct = new StreamTransport(pair.client, {
    dataReceived() {},
    pauseWriting: () => events.push("pause"),
    resumeWriting() {
      events.push("resume");
      if (events.length > 2) return;
      // Inside the flush: the room given while paused (by the cap alone) must be gone.
      ct!.out.write(new Uint8Array(11));
      ct!.commit();
      events.push("wrote 11");
    },
  }, { writeBufferLimits: { high: 10, low: 2 } });
  ct.out.write(new Uint8Array(11));
  ct.commit();
  ct.out.writeByte(1);
  ct.commit(); // while paused: leaves a room by the cap
  await ct.flushed();
  assertEquals(events.slice(0, 4), ["pause", "resume", "pause", "wrote 11"]);
  await ct.flushed();
  ct.close();
  st.close();
  await Promise.all([ct.closed, st.closed]);
  await pair.cleanup();
});

Deno.test("commit(): discards on a closing transport, throws after writeEof()", async () => {
  const pair = await channelPair("memory");
  const server = new Recorder();
  const st = new StreamTransport(pair.server, server);
  const ct = new StreamTransport(pair.client, new Recorder());
  ct.out.write(bytes("kept"));
  ct.commit();
  ct.out.write(bytes("uncommitted"));
  ct.writeEof();
  assertThrows(() => ct.commit(), TransportError, "Cannot write after writeEof()");
  assertEquals(ct.out.length, 4, "the uncommitted bytes were dropped");
  await ct.flushed();
  ct.close();
  ct.out.write(bytes("late"));
  ct.commit(); // dropped without a word
  await st.closed;
  assertEquals(text(concat(server.chunks)), "kept");
});

Deno.test("commit(): maxWriteBuffer refuses what was appended and aborts", async () => {
  const pair = await channelPair("memory");
  const st = new StreamTransport(pair.server, new Recorder());
  const ct = new StreamTransport(pair.client, new Recorder(), { maxWriteBuffer: 100 });
  ct.out.write(new Uint8Array(101));
  ct.commit();
  const error = await ct.closed;
  assertEquals(error?.name, "WriteBufferOverflowError");
  await st.closed;
});

Deno.test("a plain Protocol's chunks stay valid; reuseReadBuffer hands views of one buffer", async () => {
  for (const reuse of [false, true]) {
    const pair = await channelPair("memory");
    const chunks: Uint8Array[] = [];
    const texts: string[] = [];
    const five = Promise.withResolvers<void>();
    let peer: Transport | undefined;
    const reader: Protocol = {
      dataReceived(data) {
        chunks.push(data);
        texts.push(text(data));
        if (texts.length === 5) five.resolve();
        else peer?.write(bytes(`m${texts.length}`)); // the next message, once this one is read
      },
    };
    const st = new StreamTransport(pair.server, reader, { reuseReadBuffer: reuse });
    const ct = new StreamTransport(pair.client, {
      connectionMade: (t) => peer = t,
      dataReceived() {},
    });
    ct.write(bytes("m0"));
    await five.promise;
    peer = undefined;
    assertEquals(texts.slice(0, 5), ["m0", "m1", "m2", "m3", "m4"]);
    if (reuse) {
      assertEquals(chunks[0].byteOffset, chunks[1].byteOffset, "one reused buffer");
    } else {
      assertEquals(chunks.slice(0, 5).map(text), texts.slice(0, 5), "never overwritten");
      assertEquals(chunks[0].buffer === chunks[1].buffer, true, "views into one slab");
    }
    ct.close();
    st.close();
    await Promise.all([ct.closed, st.closed]);
    await pair.cleanup();
  }
});

/** A TCP pair of transports: the server records each chunk and answers it with `answer`. */
async function answeringPair(answer: (data: Uint8Array, transport: Transport) => void) {
  const pair = await channelPair("tcp");
  const server = new Recorder({ onData: (data, r) => answer(data, r.transport) });
  const client = new Recorder();
  const st = new StreamTransport(pair.server, server);
  const ct = new StreamTransport(pair.client, client);
  return { server, client, st, ct };
}

Deno.test("a connection's first read slab is 1 KiB, and a short echo leaves a 256-byte send block", async () => {
  // What a quiet connection holds: 10 000 of them cost 10 MiB of read slabs (40 MiB at 4 KiB).
  const { server, client, st, ct } = await answeringPair((data, t) => t.write(data));
  try {
    ct.write(new Uint8Array(32).fill(1));
    await client.untilReceived(32);
    await st.flushed();
    assertEquals(server.chunks[0].buffer.byteLength, 1024, "the first read's slab");
    assertEquals(st.out.bytes.byteLength, 256, "the send block after a short echo");
  } finally {
    ct.close();
    await Promise.all([ct.closed, st.closed]);
  }
});

Deno.test("after a burst, a quiet connection lets its large read slab and send block go", async () => {
  // Otherwise the pending read of each quiet connection holds a 256 KiB slab (and its send
  // buffer the block of its largest batch) until small reads have filled it.
  const { server, client, st, ct } = await answeringPair((data, t) => {
    // The burst is echoed in 64-byte writes, the small messages as they are.
    for (let i = 0; i < data.byteLength; i += 64) t.write(data.subarray(i, i + 64));
  });
  const chunks = server.chunks;
  try {
    const burst = 4 * 1024 * 1024;
    for (let i = 0; i < 64; i++) ct.write(new Uint8Array(burst / 64));
    await client.untilReceived(burst);
    await st.flushed();
    const largest = Math.max(...chunks.map((c) => c.buffer.byteLength));
    assertEquals(largest >= 64 * 1024, true, `the burst's reads grew: ${largest}`);
    assertEquals(st.out.bytes.byteLength > 16 * 1024, true, "the burst grew the send block");
    for (let i = 1; i <= 6; i++) {
      ct.write(bytes("abc"));
      await client.untilReceived(burst + 3 * i);
      await st.flushed();
    }
    // Two tiny reads bring the read size back to 1 KiB, and the third read gets a slab that
    // size; four small write batches let the send block go.
    assertEquals(chunks.at(-1)!.byteLength, 3);
    assertEquals(chunks.at(-1)!.buffer.byteLength, 1024, "the slab of a read after the burst");
    assertEquals(st.out.bytes.byteLength <= 256, true, `send block ${st.out.bytes.byteLength}`);
  } finally {
    ct.close();
    await Promise.all([ct.closed, st.closed]);
  }
});

Deno.test("commit(): after unchecked commits under high, the one over it still pauses inside commit()", async () => {
  const { st, ct, events } = await watermarkPair();
  for (let i = 1; i <= 10; i++) {
    ct.out.writeByte(i);
    ct.commit();
    assertEquals(ct.getWriteBufferSize(), i);
  }
  assertEquals(events, []);
  ct.out.writeByte(11);
  ct.commit();
  assertEquals(events, ["pause"]);
  await ct.flushed();
  assertEquals(events, ["pause", "resume"]);
  // Lower limits apply to the very next commit.
  ct.out.writeByte(1);
  ct.commit();
  ct.setWriteBufferLimits({ high: 3, low: 1 });
  ct.out.write(new Uint8Array(3));
  ct.commit();
  assertEquals(events, ["pause", "resume", "pause"]);
  await ct.flushed();
  ct.close();
  st.close();
  await Promise.all([ct.closed, st.closed]);
});

Deno.test("commit(): close() and the cap apply to the next commit, however small", async () => {
  // Each transport first commits a little, under every limit, so the next commit is unchecked
  // unless the event in between ends that (writeEof(): "discards on a closing transport").
  const closed = await channelPair("memory");
  const closedServer = new Recorder();
  const st1 = new StreamTransport(closed.server, closedServer);
  const ct1 = new StreamTransport(closed.client, new Recorder());
  ct1.write(bytes("x"));
  ct1.write(bytes("y"));
  ct1.close();
  ct1.out.writeByte(0x7a);
  ct1.commit(); // dropped without a word
  assertEquals(ct1.out.length, 2, "the late byte was dropped");

  const capped = await channelPair("memory");
  const st2 = new StreamTransport(capped.server, new Recorder());
  const ct2 = new StreamTransport(capped.client, new Recorder(), { maxWriteBuffer: 100 });
  ct2.out.write(new Uint8Array(50));
  ct2.commit();
  ct2.out.write(new Uint8Array(50));
  ct2.commit();
  ct2.out.writeByte(1);
  ct2.commit();
  assertEquals((await ct2.closed)?.name, "WriteBufferOverflowError");

  await Promise.all([st1.closed, st2.closed, ct1.closed]);
  assertEquals(text(concat(closedServer.chunks)), "xy");
});

Deno.test("commit(): a commit from pauseWriting is checked against the cap", async () => {
  const pair = await channelPair("memory");
  const st = new StreamTransport(pair.server, new Recorder());
  let ct: StreamTransport | undefined = undefined;
  ct = new StreamTransport(pair.client, {
    dataReceived() {},
    pauseWriting() {
      // Within the room the first commit left (40), but past the cap of 60.
      ct!.out.write(new Uint8Array(30));
      ct!.commit();
    },
  }, { writeBufferLimits: { high: 50, low: 10 }, maxWriteBuffer: 60 });
  ct.out.write(new Uint8Array(10));
  ct.commit(); // checked: leaves a quiet room of 40
  ct.out.write(new Uint8Array(41));
  ct.commit(); // over high: pauseWriting commits again
  assertEquals((await ct.closed)?.name, "WriteBufferOverflowError");
  await st.closed;
});

/** Collects what arrives, and its loss. */
class Sink implements Protocol {
  readonly chunks: Uint8Array[] = [];
  readonly lost = Promise.withResolvers<Error | undefined>();
  dataReceived(data: Uint8Array): void {
    this.chunks.push(data.slice());
  }
  connectionLost(error?: Error): void {
    this.lost.resolve(error);
  }
  get bytes(): number[] {
    return this.chunks.flatMap((c) => [...c]);
  }
}

Deno.test("a close in the middle of an encoder's frame sends no part of it", async () => {
  // A first fix for held packets committed whatever was uncommitted at close(): the header of
  // a frame an encoder was still appending went out without its body.
  const sink = new Sink();
  const lost = Promise.withResolvers<Error | undefined>();
  createMemoryTransportPair({
    connectionMade(t: Transport) {
      t.write(new Uint8Array([9, 9])); // a whole, committed frame
      t.out!.write(new Uint8Array([0, 0, 0, 3])); // the next frame's header
      t.close(); // a callback the encoder ran closes the connection
      t.out!.write(new Uint8Array([1, 2, 3])); // its body
      t.commit!(); // refused: the transport is closing
    },
    dataReceived() {},
    connectionLost: (e) => lost.resolve(e),
  }, sink);
  assertEquals(await lost.promise, undefined);
  await sink.lost.promise;
  assertEquals(sink.bytes, [9, 9]);
});

Deno.test("close() with uncommitted bytes over the cap still sends what was committed", async () => {
  // The same first fix committed them at close(): over maxWriteBuffer, the close became an
  // overflow abort and the 900 bytes accepted were lost.
  const sink = new Sink();
  const lost = Promise.withResolvers<Error | undefined>();
  const [a] = createMemoryTransportPair(
    {
      connectionMade(t: Transport) {
        t.write(new Uint8Array(900).fill(1)); // committed, within the cap
        t.out!.write(new Uint8Array(200).fill(2)); // appended, not committed
        t.close();
      },
      dataReceived() {},
      connectionLost: (e) => lost.resolve(e),
    },
    sink,
    { transport: { maxWriteBuffer: 1000 } },
  );
  assertEquals(await lost.promise, undefined);
  await sink.lost.promise;
  assertEquals(a.stats().closeReason, "close");
  assertEquals(sink.bytes.length, 900);
});
