import { assert, assertEquals, assertInstanceOf, assertLess } from "@std/assert";
import {
  ChunkFramer,
  type Decoder,
  FramedProtocol,
  type FrameHandler,
  type Framer,
  FrameTooLongError,
  LengthPrefixedFramer,
  LineFramer,
  TruncatedFrameError,
} from "@plexus/net/framing";
import {
  type ByteChannel,
  createMemoryChannelPair,
  createMemoryTransportPair,
  type Protocol,
  StreamTransport,
  TransportError,
} from "@plexus/net/transport";
import { CountingChannel } from "../_counting_channel.ts";
import { tcpPair } from "../_net.ts";
import { bytes, concat, splits, text } from "./_helpers.ts";

/** A channel whose reads return the given chunks, one per read, then end of stream. */
class ScriptedChannel implements ByteChannel {
  readonly #chunks: Uint8Array[];
  readonly written: Uint8Array[] = [];
  constructor(chunks: Uint8Array[]) {
    this.#chunks = chunks.map((c) => c.slice());
  }
  read(p: Uint8Array): Promise<number | null> {
    const chunk = this.#chunks.shift();
    if (!chunk) return Promise.resolve(null);
    const n = Math.min(p.byteLength, chunk.byteLength);
    p.set(chunk.subarray(0, n));
    if (n < chunk.byteLength) this.#chunks.unshift(chunk.subarray(n));
    return Promise.resolve(n);
  }
  write(p: Uint8Array): Promise<number> {
    this.written.push(p.slice());
    return Promise.resolve(p.byteLength);
  }
  closeWrite(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {}
}

/** Tendril's SMTP switch: lines, a 5-byte chunk after "DATA 5", lines again. */
function smtpSwitch(frames: string[]): FrameHandler<Uint8Array> {
  return {
    frameReceived(frame, framed) {
      frames.push(text(frame));
      if (framed.receiveFramer instanceof ChunkFramer) framed.receiveFramer = new LineFramer();
      else if (text(frame) === "DATA 5") framed.receiveFramer = new ChunkFramer(5);
    },
  };
}

Deno.test("framed protocol delivers HELO, DATA 5, the 5 bytes and QUIT for every split of the input", async () => {
  const input = bytes("HELO\r\nDATA 5\r\n12345QUIT\r\n");
  for (const chunks of splits(input)) {
    const frames: string[] = [];
    const framed = new FramedProtocol(new LineFramer(), smtpSwitch(frames));
    const transport = new StreamTransport(new ScriptedChannel(chunks), framed);
    assertEquals(await transport.closed, undefined);
    assertEquals(
      frames,
      ["HELO", "DATA 5", "12345", "QUIT"],
      chunks.map((c) => c.length).join("+"),
    );
  }
});

Deno.test("framed protocol frames stay valid after the receive buffer refills many times", async () => {
  const payloads = Array.from(
    { length: 20_000 },
    (_, i) => bytes(`frame ${i} `.padEnd(100, String(i % 10))),
  );
  const kept: Uint8Array[] = [];
  const server = new FramedProtocol(new LengthPrefixedFramer(), {
    frameReceived: (frame) => void kept.push(frame),
  });
  const client = new FramedProtocol(new LengthPrefixedFramer(), {
    connectionMade(framed) {
      for (const p of payloads) framed.sendFrame(p);
      framed.writeEof();
    },
    frameReceived() {},
  });
  createMemoryTransportPair(server, client);
  assertEquals(await server.closed, undefined);
  await client.closed;
  assertEquals(kept.length, payloads.length);
  for (let i = 0; i < payloads.length; i++) assertEquals(kept[i], payloads[i], `frame ${i}`);
});

Deno.test("framed protocol with reuseReceiveBuffer delivers every frame intact for every split, over one block", async () => {
  const payloads = Array.from({ length: 40 }, (_, i) => bytes(`frame ${i} `.padEnd(30 + i, "x")));
  const wire = concat(payloads.map((p) => concat([new Uint8Array([0, 0, 0, p.length]), p])));
  for (const size of [1, 7, 68, 500, wire.length]) {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < wire.length; at += size) chunks.push(wire.subarray(at, at + size));
    const got: Uint8Array[] = [];
    const blocks = new Set<ArrayBufferLike>();
    const framed = new FramedProtocol(new LengthPrefixedFramer(), {
      frameReceived: (frame) => {
        blocks.add(frame.buffer);
        got.push(frame.slice()); // valid only until the next read: keep a copy
      },
    }, { reuseReceiveBuffer: true, minReadSize: 4096 }); // every read fits the first block
    const transport = new StreamTransport(new ScriptedChannel(chunks), framed);
    assertEquals(await transport.closed, undefined);
    assertEquals(got, payloads, `chunks of ${size}`);
    assertEquals(blocks.size, 1, `chunks of ${size}: one receive block`);
  }
});

Deno.test("framed protocol reads no more while frames are buffered after resumeReading", async () => {
  // An echo that stops reading while its writes back up, as a server should, fed 8 MiB of
  // 64-byte frames at once. Reading on before the buffered frames are delivered would pile
  // up what the peer has in flight (megabytes) in the receive buffer.
  const FRAMES = Math.floor(8 * 1024 * 1024 / 68);
  let mostBuffered = 0;
  const server = new FramedProtocol(new LengthPrefixedFramer(), {
    frameReceived(frame, framed) {
      mostBuffered = Math.max(mostBuffered, framed.receiveBuffer.length);
      framed.sendFrame(frame);
    },
    pauseWriting: (framed) => framed.pauseReading(),
    resumeWriting: (framed) => framed.resumeReading(),
  }, { reuseReceiveBuffer: true });
  let echoed = 0;
  const done = Promise.withResolvers<void>();
  const client = new FramedProtocol(new LengthPrefixedFramer(), {
    frameReceived: () => void (++echoed === FRAMES && done.resolve()),
  });
  const [a, b] = await tcpPair();
  new StreamTransport(a, client);
  new StreamTransport(b, server);
  const payload = new Uint8Array(64);
  for (let i = 0; i < FRAMES; i++) client.sendFrame(payload);
  await done.promise;
  client.close();
  await Promise.all([client.closed, server.closed]);
  // At most one read (256 KiB, a quarter more in a reused block) past the frame being decoded.
  assertLess(mostBuffered, 320 * 1024 + 68);
});

Deno.test("framed protocol leaves a transport the application paused paused after a framer switch", async () => {
  const frames: string[] = [];
  const delivered = Promise.withResolvers<void>();
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(frame, framed) {
      frames.push(text(frame));
      if (text(frame) === "SWITCH") {
        framed.transport.pauseReading(); // the transport, not the framed protocol
        framed.receiveFramer = new LineFramer(); // schedules a pass over the buffered lines
      } else if (frames.length === 3) delivered.resolve();
    },
  });
  const [client] = createMemoryTransportPair({ dataReceived() {} }, server);
  client.write(bytes("SWITCH\r\nA\r\nB\r\n"));
  await delivered.promise;
  assertEquals(frames, ["SWITCH", "A", "B"]);
  assertEquals(server.transport.isReading(), false, "still paused, as the application left it");
  server.transport.resumeReading();
  client.close();
  await server.closed;
});

Deno.test("framed protocol pauses delivery of frames already buffered until resumeReading", async () => {
  const frames: string[] = [];
  const firstFrame = Promise.withResolvers<void>();
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(frame, framed) {
      frames.push(text(frame));
      if (frames.length === 1) {
        framed.pauseReading();
        firstFrame.resolve();
      }
    },
  });
  const channel = new ScriptedChannel([bytes("a\nb\nc\n")]);
  const transport = new StreamTransport(channel, server);
  await firstFrame.promise;
  await Promise.resolve();
  assertEquals(frames, ["a"], "b and c were buffered but not delivered");
  assert(!server.isReading() && !transport.isReading());
  server.resumeReading();
  assertEquals(await transport.closed, undefined);
  assertEquals(frames, ["a", "b", "c"]);
});

Deno.test("framed protocol passes pauseWriting and resumeWriting to the handler", async () => {
  const events: string[] = [];
  const [a, b] = createMemoryChannelPair({ capacity: 1024 });
  const receiver = new FramedProtocol(new LengthPrefixedFramer(), { frameReceived() {} });
  const sender = new FramedProtocol(new LengthPrefixedFramer(), {
    connectionMade(framed) {
      framed.sendFrame(new Uint8Array(100_000));
      events.push(`sent, buffered ${framed.transport.getWriteBufferSize()}`);
    },
    frameReceived() {},
    pauseWriting: () => void events.push("pause"),
    resumeWriting(framed) {
      events.push("resume");
      framed.close();
    },
  });
  const receiving = new StreamTransport(b, receiver);
  new StreamTransport(a, sender, { writeBufferLimits: { high: 1000 } });
  await sender.closed;
  await receiving.closed;
  assertEquals(events, ["pause", "sent, buffered 100004", "resume"]);
});

Deno.test("framed protocol aborts on a framing error and reports it once", async () => {
  const errors: (Error | undefined)[] = [];
  const server = new FramedProtocol(new LineFramer({ maxLength: 4 }), {
    frameReceived() {},
    connectionLost: (error) => void errors.push(error),
  });
  const [, client] = createMemoryTransportPair(server, { dataReceived() {} });
  client.write(bytes("ok\nmuch too long\n"));
  const error = await server.closed as FrameTooLongError;
  assertInstanceOf(error, FrameTooLongError);
  assertEquals(error.message, "Cannot decode line: length 13 exceeds maxLength 4");
  assertEquals(errors, [error]);
  await client.closed;
});

Deno.test("framed protocol reports a frame cut by end of stream as truncated", async () => {
  const server = new FramedProtocol(new LengthPrefixedFramer(), { frameReceived() {} });
  const [, client] = createMemoryTransportPair(server, { dataReceived() {} });
  client.write(new Uint8Array([0, 0, 0, 9, 1, 2]));
  client.writeEof();
  const error = await server.closed as TruncatedFrameError;
  assertInstanceOf(error, TruncatedFrameError);
  assertEquals(error.leftover, 6);
  await client.closed;
});

Deno.test("framed protocol over TCP reports a peer that closes mid-frame", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const frames: Uint8Array[] = [];
  const server = new FramedProtocol(new LengthPrefixedFramer(), {
    frameReceived: (f) => void frames.push(f),
  });
  new StreamTransport(serverConn, server);
  await clientConn.write(new Uint8Array([0, 0, 0, 2, 7, 7, 0, 0, 0, 16, 1]));
  clientConn.close();
  assertInstanceOf(await server.closed, TruncatedFrameError);
  assertEquals(frames, [new Uint8Array([7, 7])]);
});

Deno.test("framed protocol over TCP: a quiet connection's receive block is 1 KiB, then 2 KiB", async () => {
  // What a quiet framed connection holds: 10 000 of them cost 20 MiB of receive blocks (80 MiB
  // with the 4 KiB minReadSize of before).
  const [clientConn, serverConn] = await tcpPair();
  const frames: Uint8Array[] = [];
  let arrived = Promise.withResolvers<void>();
  const server = new FramedProtocol(new LengthPrefixedFramer(), {
    frameReceived(frame) {
      frames.push(frame);
      arrived.resolve();
    },
  });
  new StreamTransport(serverConn, server);
  try {
    for (let i = 0; i < 3; i++) {
      arrived = Promise.withResolvers();
      await clientConn.write(new Uint8Array([0, 0, 0, 28, ...new Uint8Array(28)]));
      await arrived.promise;
    }
    assertEquals(frames.map((f) => f.buffer.byteLength), [1024, 2048, 2048]);
  } finally {
    clientConn.close();
    await server.closed;
  }
});

Deno.test("framed protocol over TCP: after a burst, a quiet connection's frames come from a small block", async () => {
  // Otherwise each quiet connection's pending read holds the burst's 256 KiB block.
  const [clientConn, serverConn] = await tcpPair();
  const frames: Uint8Array[] = [];
  let received = 0;
  let waiter: { n: number; resolve: () => void } | undefined;
  const server = new FramedProtocol(new LengthPrefixedFramer(), {
    frameReceived(frame) {
      frames.push(frame);
      received += frame.byteLength + 4;
      if (waiter && received >= waiter.n) waiter.resolve();
    },
  });
  const until = (n: number): Promise<void> => {
    const { promise, resolve } = Promise.withResolvers<void>();
    waiter = { n, resolve };
    if (received >= n) resolve();
    return promise;
  };
  new StreamTransport(serverConn, server);
  try {
    const frame = (size: number): Uint8Array => {
      const f = new Uint8Array(4 + size);
      new DataView(f.buffer).setUint32(0, size);
      return f;
    };
    let sent = 0;
    for (let i = 0; i < 64; i++) {
      const f = frame(64 * 1024 - 4);
      await clientConn.write(f);
      sent += f.byteLength;
    }
    await until(sent);
    const burst = frames.length;
    for (let i = 0; i < 12; i++) {
      await clientConn.write(frame(28));
      await until(sent += 32);
    }
    const blocks = frames.slice(burst).map((f) => f.buffer.byteLength);
    assert(
      blocks[0] > 16 * 1024,
      `the first small frame is read into the burst's block: ${blocks}`,
    );
    // Two tiny reads bring the read size back to 1 KiB; after four reads that small, the
    // block is replaced by one of a few KiB.
    assert(blocks.at(-1)! <= 2048, `${blocks}`);
  } finally {
    clientConn.close();
    await server.closed;
  }
});

Deno.test("framed protocol batches the frames sent while delivering into one write", async () => {
  const [a, b] = createMemoryChannelPair({ capacity: 1 << 20 });
  const counting = new CountingChannel(a);
  const echo = new FramedProtocol(new LineFramer(), {
    frameReceived: (line, framed) => framed.sendFrame(line),
  });
  const echoTransport = new StreamTransport(counting, echo);
  const lines: string[] = [];
  const client = new FramedProtocol(new LineFramer(), {
    connectionMade(framed) {
      framed.transport.write(bytes(Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join("")));
    },
    frameReceived(line, framed) {
      lines.push(text(line));
      if (lines.length === 1000) framed.close();
    },
  });
  new StreamTransport(b, client);
  await client.closed;
  await echoTransport.closed;
  assertEquals(lines.at(-1), "line 999");
  assertLess(counting.writes, 5, "one write per batch of received frames, not per frame");
});

Deno.test("framed protocol hands buffered bytes to a framer set outside a callback", async () => {
  const frames: string[] = [];
  const done = Promise.withResolvers<void>();
  const server = new FramedProtocol(new ChunkFramer(3), {
    frameReceived(frame) {
      frames.push(text(frame));
      if (frames.length === 1) done.resolve();
    },
  });
  const [, client] = createMemoryTransportPair(server, { dataReceived() {} });
  client.write(bytes("abcline\n"));
  await done.promise;
  assertEquals(frames, ["abc"]);
  server.receiveFramer = new LineFramer(); // "line\n" is already buffered
  client.writeEof();
  assertEquals(await server.closed, undefined);
  assertEquals(frames, ["abc", "line"]);
});

Deno.test("framed protocol aborts with the handler's error when frameReceived throws", async () => {
  const boom = new Error("boom");
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived() {
      throw boom;
    },
  });
  const [, client] = createMemoryTransportPair(server, { dataReceived() {} });
  client.write(bytes("x\n"));
  assertEquals(await server.closed, boom);
  await client.closed;
});

Deno.test("framed protocol sends with separate receive and send framers", async () => {
  const got: Uint8Array[] = [];
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived: (line, framed) => {
      framed.sendFrame(line);
      framed.close();
    },
  }, { sendFramer: new LengthPrefixedFramer({ lengthFieldLength: 1 }) });
  const [, client] = createMemoryTransportPair(server, { dataReceived: (d) => void got.push(d) });
  client.write(bytes("hi\n"));
  await server.closed;
  await client.closed;
  assertEquals(concat(got), new Uint8Array([2, 0x68, 0x69]));
});

/** A peer that records what it receives and answers EOF with EOF. */
function recorder(got: string[]): Protocol {
  return {
    dataReceived: (data) => void got.push(text(data)),
    eofReceived: () => false,
  };
}

Deno.test("framed protocol sendFrame after writeEof inside a callback throws and keeps the frames before it", async () => {
  const thrown: unknown[] = [];
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(_frame, framed) {
      framed.sendFrame(bytes("bye"));
      framed.writeEof();
      try {
        framed.sendFrame(bytes("late"));
      } catch (error) {
        thrown.push(error);
      }
    },
  });
  const got: string[] = [];
  const [, client] = createMemoryTransportPair(server, recorder(got));
  client.write(bytes("hi\n"));
  assertEquals(await server.closed, undefined);
  await client.closed;
  assertEquals(got.join(""), "bye\r\n");
  assertEquals(thrown.length, 1);
  assertInstanceOf(thrown[0], TransportError);
  assertEquals((thrown[0] as Error).message, "Cannot send a frame after writeEof()");
});

for (const end of ["writeEof", "close"] as const) {
  Deno.test(`framed protocol writes batched frames before framed.transport.${end}() inside a callback`, async () => {
    const server = new FramedProtocol(new LineFramer(), {
      frameReceived(_frame, framed) {
        framed.sendFrame(bytes("reply"));
        framed.transport[end]();
      },
    });
    const got: string[] = [];
    const [, client] = createMemoryTransportPair(server, recorder(got));
    client.write(bytes("hi\n"));
    assertEquals(await server.closed, undefined);
    await client.closed;
    assertEquals(got.join(""), "reply\r\n");
  });
}

Deno.test("framed protocol keeps the order of batched frames and direct transport writes", async () => {
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(frame, framed) {
      framed.sendFrame(frame);
      framed.transport.write(bytes("raw;"));
      if (text(frame) === "b") framed.close();
    },
  });
  const got: string[] = [];
  const [serverTransport, client] = createMemoryTransportPair(server, recorder(got));
  assert(server.transport instanceof StreamTransport, "the transport's own class shows through");
  assertEquals(server.transport.closed, serverTransport.closed);
  client.write(bytes("a\nb\n"));
  await server.closed;
  await client.closed;
  assertEquals(got.join(""), "a\r\nraw;b\r\nraw;");
});

Deno.test("framed protocol frames sent before a writeEof through another reference still go out", async () => {
  const raw: { transport?: StreamTransport } = {};
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(_frame, framed) {
      framed.sendFrame(bytes("kept"));
      raw.transport!.writeEof(); // not through framed: one write path, so the frame goes first
    },
  });
  const got: string[] = [];
  const [transport, client] = createMemoryTransportPair(server, recorder(got));
  raw.transport = transport;
  client.write(bytes("hi\n"));
  client.writeEof();
  assertEquals(await server.closed, undefined);
  await client.closed;
  assertEquals(got.join(""), "kept\r\n");
});

Deno.test("framed protocol batches frames sent outside frameReceived into one write per turn", async () => {
  const [a, b] = createMemoryChannelPair({ capacity: 1 << 20 });
  const counting = new CountingChannel(a);
  const sender = new FramedProtocol(new LineFramer(), {
    connectionMade(framed) {
      queueMicrotask(() => {
        for (let i = 0; i < 1000; i++) framed.sendFrame(bytes(`line ${i}`));
        framed.close();
      });
    },
    frameReceived() {},
  });
  const lines: string[] = [];
  const receiver = new FramedProtocol(new LineFramer(), {
    frameReceived: (line) => void lines.push(text(line)),
  });
  const sending = new StreamTransport(counting, sender);
  new StreamTransport(b, receiver);
  await sending.closed;
  await receiver.closed;
  assertEquals(lines.length, 1000);
  assertEquals(lines.at(-1), "line 999");
  assertLess(counting.writes, 3, "frames sent in one turn leave in one write");
});

/** A decoder that gives frames only at end of stream: one byte each. */
const tailDecoder: Decoder<Uint8Array> = {
  decode: () => undefined,
  decodeEof: (buffer) => buffer.length > 0 ? buffer.take(1) : undefined,
};

// Paused at the peer's EOF with frames left: they and eofReceived come from connectionLost only
// when the connection ended by EOF both ways; not after the application closed or aborted it.
type Ending = { made?: (f: FramedProtocol<Uint8Array>) => void; paused?: typeof ignore };
const ignore = (_f: FramedProtocol<Uint8Array>): void => {};
const pausedAtEof: [string, Ending, string[]][] = [
  ["we had sent EOF first", { made: (f) => f.writeEof() }, [
    "x",
    "y",
    "z",
    "eof",
    "lost undefined",
  ]],
  ["we send EOF too", { paused: (f) => f.writeEof() }, ["x", "y", "z", "eof", "lost undefined"]],
  ["transport.abort()", { paused: (f) => f.transport.abort() }, ["x", "lost undefined"]],
  ["transport.close()", { paused: (f) => f.transport.close() }, ["x", "lost undefined"]],
];
for (const [how, { made = ignore, paused = ignore }, expected] of pausedAtEof) {
  Deno.test(`framed protocol paused at end of stream, ${how}: ${expected.join(", ")}`, async () => {
    const events: string[] = [];
    const server = new FramedProtocol<Uint8Array>(tailDecoder as Framer<Uint8Array>, {
      connectionMade: made,
      frameReceived(frame, framed) {
        events.push(text(frame));
        framed.pauseReading(); // at the peer's EOF, and never resumed
        paused(framed);
      },
      eofReceived: () => void events.push("eof"),
      connectionLost: (error) => void events.push(`lost ${error}`),
    });
    const [, client] = createMemoryTransportPair(server, {
      dataReceived() {},
      eofReceived: () => true,
    });
    client.write(bytes("xyz"));
    client.writeEof();
    assertEquals(await server.closed, undefined);
    assertEquals(events, expected);
    client.close();
    await client.closed;
  });
}

Deno.test("framed protocol writes a large batch while delivering, so pauseWriting stops it midway", async () => {
  // 100 short requests in one chunk, each answered with 10 KB: 1 MB of replies.
  const channel = new ScriptedChannel([bytes("request\n".repeat(100))]);
  const reply = new Uint8Array(10_000).fill(0x79);
  const bufferedAtPause: number[] = [];
  let answered = 0;
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(_frame, framed) {
      framed.sendFrame(reply);
      if (++answered === 100) framed.close();
    },
    pauseWriting(framed) {
      bufferedAtPause.push(framed.receiveBuffer.length);
      framed.pauseReading();
    },
    resumeWriting: (framed) => framed.resumeReading(),
  });
  const transport = new StreamTransport(channel, server);
  assertEquals(await transport.closed, undefined);
  assertEquals(answered, 100);
  assertEquals(concat(channel.written).byteLength, 100 * 10_002);
  // A batch is written at 256 KiB: the pause comes with most requests still undelivered.
  assert(
    bufferedAtPause.length > 0 && bufferedAtPause[0] >= 8 * 50,
    `requests still buffered at each pause: ${bufferedAtPause}`,
  );
});
