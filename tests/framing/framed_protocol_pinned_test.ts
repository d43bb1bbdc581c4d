import { assertEquals, assertThrows } from "@std/assert";
import { assert } from "../_assert.ts";
import {
  ChunkFramer,
  CorruptFrameError,
  type Decoder,
  type Encoder,
  FramedProtocol,
  type Framer,
  LengthPrefixedFramer,
  LineFramer,
} from "@plexus/net/framing";
import {
  type BufferedProtocol,
  createMemoryTransportPair,
  subscribe,
  type Transport,
} from "@plexus/net/transport";
import { Recorder } from "../_recorder.ts";
import { bytes, text } from "./_helpers.ts";

Deno.test("framed protocol delivers buffered bytes to a framer set outside a callback, without more input", async () => {
  const frames: string[] = [];
  const first = Promise.withResolvers<void>();
  const second = Promise.withResolvers<void>();
  const server = new FramedProtocol(new ChunkFramer(3), {
    frameReceived(frame) {
      frames.push(text(frame));
      (frames.length === 1 ? first : second).resolve();
    },
  });
  const [st, client] = createMemoryTransportPair(server, { dataReceived() {} });
  client.write(bytes("abcline\n"));
  await first.promise;
  server.receiveFramer = new LineFramer(); // "line\n" is buffered; no byte and no EOF follows
  await second.promise;
  assertEquals(frames, ["abc", "line"]);
  client.close();
  await st.closed;
});

for (const traced of [false, true]) {
  Deno.test(`framed protocol${traced ? " traced" : ""} sendFrame leaves nothing of a frame its encoder threw on`, async () => {
    using _subscription = traced ? subscribe({ frame() {} }) : undefined;
    const framer = new LineFramer();
    const halfWay: Encoder<Uint8Array> = {
      encode(frame, out) {
        framer.encode(frame, out);
        if (text(frame) === "bad") throw new RangeError("cannot encode bad");
      },
    };
    const server = new FramedProtocol(framer, { frameReceived() {} }, { sendFramer: halfWay });
    const client = new Recorder();
    const [st, ct] = createMemoryTransportPair(server, client);
    assertThrows(() => server.sendFrame(bytes("bad")), RangeError, "cannot encode bad");
    server.sendFrame(bytes("good"));
    server.writeEof();
    ct.writeEof();
    await st.closed;
    await ct.closed;
    assertEquals(client.text, "good\r\n");
    assertEquals(server.stats().framesSent, 1);
  });
}

Deno.test("framed protocol drops a frame sent after writeEof once the transport is closing", async () => {
  const server = new FramedProtocol(new LengthPrefixedFramer(), { frameReceived() {} });
  const [st, ct] = createMemoryTransportPair(server, new Recorder());
  server.writeEof();
  assertThrows(() => server.sendFrame(bytes("x")), Error, "after writeEof()");
  ct.writeEof(); // EOF both ways: the transport closes
  assertEquals(await server.closed, undefined);
  server.sendFrame(bytes("late")); // dropped, as transport.write() drops bytes then
  await st.closed;
  await ct.closed;
});

/** A decoder that gives frames only at end of stream: one byte each. */
const tailDecoder = {
  decode: () => undefined,
  decodeEof: (buffer) => buffer.length > 0 ? buffer.take(1) : undefined,
} as Decoder<Uint8Array> as Framer<Uint8Array>;

Deno.test("framed protocol paused during the last frames delivers them one resumeReading at a time, then closes", async () => {
  const events: string[] = [];
  let frame = Promise.withResolvers<void>();
  const server = new FramedProtocol<Uint8Array>(tailDecoder, {
    frameReceived(f, framed) {
      events.push(text(f));
      framed.pauseReading(); // delivering the last frames (after the peer's EOF)
      framed.sendFrame(f);
      frame.resolve();
    },
    eofReceived: () => void events.push("eof"),
    connectionLost: (error) => void events.push(`lost ${error}`),
  }, { sendFramer: new LineFramer() });
  const client = new Recorder({ keepOpenOnEof: true });
  const [, ct] = createMemoryTransportPair(server, client);
  ct.write(bytes("xyz"));
  ct.writeEof();
  for (const expected of ["x", "y", "z"]) {
    await frame.promise;
    frame = Promise.withResolvers<void>();
    assertEquals(events.at(-1), expected, "one frame per resumeReading");
    assert(!server.isReading());
    server.resumeReading();
  }
  assertEquals(await server.closed, undefined, "closed once eofReceived returned falsy");
  assertEquals(events, ["x", "y", "z", "eof", "lost undefined"]);
  await ct.closed;
  assertEquals(client.text, "x\r\ny\r\nz\r\n", "the replies sent while paused went out");
});

Deno.test("framed protocol paused and resumed before it is connected reads at once", async () => {
  const frames: string[] = [];
  const got = Promise.withResolvers<void>();
  const server = new FramedProtocol(new LineFramer(), {
    connectionMade: (framed) => assert(framed.transport.isReading()),
    frameReceived(f) {
      frames.push(text(f));
      got.resolve();
    },
  });
  server.pauseReading();
  server.resumeReading();
  assert(server.isReading());
  const [st, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(bytes("hello\n"));
  await got.promise;
  assertEquals(frames, ["hello"]);
  ct.close();
  await st.closed;
});

Deno.test("framed protocol paused before it is connected pauses its transport on connecting", async () => {
  let readingAtConnect: boolean | undefined;
  const server = new FramedProtocol(new LineFramer(), {
    connectionMade: (framed) => readingAtConnect = framed.transport.isReading(),
    frameReceived() {},
  });
  server.pauseReading();
  const [st, ct] = createMemoryTransportPair(server, new Recorder());
  assertEquals(readingAtConnect, false, "the transport reads nothing until resumeReading");
  assert(!server.isReading());
  server.resumeReading();
  ct.close();
  await st.closed;
});

Deno.test("framed protocol reports a throw from eofReceived delivered at the final close", async () => {
  // We sent EOF first, then paused at the peer's EOF: the frames left and eofReceived come
  // just before connectionLost, and eofReceived's throw is what the connection ends with.
  const boom = new Error("eofReceived failed");
  let lostWith: Error | undefined;
  const server = new FramedProtocol<Uint8Array>(tailDecoder, {
    connectionMade: (framed) => framed.writeEof(),
    frameReceived: (_f, framed) => framed.pauseReading(),
    eofReceived() {
      throw boom;
    },
    connectionLost: (error) => lostWith = error,
  });
  const [, ct] = createMemoryTransportPair(server, { dataReceived() {}, eofReceived: () => true });
  ct.write(bytes("xy"));
  ct.writeEof();
  assertEquals(await server.closed, boom);
  assertEquals(lostWith, boom);
  ct.close();
  await ct.closed;
});

Deno.test("framed protocol delivers no frame after frameReceived closes the connection", async () => {
  const frames: string[] = [];
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(f, framed) {
      frames.push(text(f));
      framed.close();
    },
  });
  const [, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(bytes("a\nb\nc\n"));
  assertEquals(await server.closed, undefined);
  assertEquals(frames, ["a"]);
  await ct.closed;
});

Deno.test("framed protocol aborts with the error of a delivery it scheduled", async () => {
  const first = Promise.withResolvers<void>();
  const server = new FramedProtocol(new ChunkFramer(1), { frameReceived: () => first.resolve() });
  const [, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(bytes("a!"));
  await first.promise;
  const corrupt = new CorruptFrameError("no bangs");
  server.receiveFramer = {
    decode: () => {
      throw corrupt;
    },
  } as Decoder<Uint8Array>;
  assertEquals(await server.closed, corrupt);
  await ct.closed;
});

Deno.test("framed protocol decodes with the receiveFramer option", async () => {
  const frames: string[] = [];
  const server = new FramedProtocol(new LengthPrefixedFramer(), {
    frameReceived: (f) => void frames.push(text(f)),
  }, { receiveFramer: new LineFramer() });
  const [, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(bytes("ab\ncd\n"));
  ct.writeEof();
  assertEquals(await server.closed, undefined);
  assertEquals(frames, ["ab", "cd"]);
});

/** Runs a framed protocol over a transport that has no `stats()`. */
class WithoutStats implements BufferedProtocol {
  constructor(readonly inner: FramedProtocol<Uint8Array>) {}
  connectionMade(transport: Transport): void {
    this.inner.connectionMade(
      new Proxy(transport, {
        get(target, key) {
          if (key === "stats") return undefined;
          const value = Reflect.get(target, key, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }),
    );
  }
  getBuffer(sizeHint: number): Uint8Array {
    return this.inner.getBuffer(sizeHint);
  }
  bufferUpdated(nbytes: number): void {
    this.inner.bufferUpdated(nbytes);
  }
  eofReceived(): boolean {
    return this.inner.eofReceived();
  }
  pauseWriting(): void {
    this.inner.pauseWriting();
  }
  resumeWriting(): void {
    this.inner.resumeWriting();
  }
  connectionLost(error: Error | undefined): void {
    this.inner.connectionLost(error);
  }
}

// Paused at the peer's EOF over a transport without stats(): anything but our own close()
// counts as EOF both ways.
const boom = new Error("boom");
const withoutStats: [string, (f: FramedProtocol<Uint8Array>) => void, string[]][] = [
  ["we send EOF too", (f) => f.writeEof(), ["x", "y", "z", "eof", "lost undefined"]],
  ["framed.close()", (f) => f.close(), ["x", "lost undefined"]],
  ["transport.abort(error)", (f) => f.transport.abort(boom), ["x", `lost ${boom}`]],
];
for (const [how, paused, expected] of withoutStats) {
  Deno.test(`framed protocol without transport stats, paused at end of stream, ${how}: ${expected.join(", ")}`, async () => {
    const events: string[] = [];
    const server = new FramedProtocol<Uint8Array>(tailDecoder, {
      frameReceived(frame, framed) {
        events.push(text(frame));
        framed.pauseReading(); // at the peer's EOF, and never resumed
        paused(framed);
      },
      eofReceived: () => void events.push("eof"),
      connectionLost: (error) => void events.push(`lost ${error}`),
    });
    const [, client] = createMemoryTransportPair(new WithoutStats(server), {
      dataReceived() {},
      eofReceived: () => true,
    });
    client.write(bytes("xyz"));
    client.writeEof();
    await server.closed;
    assertEquals(events, expected);
    client.close();
    await client.closed;
  });
}

Deno.test("framed protocol paused again while delivering buffered frames stops after that frame", async () => {
  const frames: string[] = [];
  let frame = Promise.withResolvers<void>();
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(f, framed) {
      frames.push(text(f));
      framed.pauseReading();
      frame.resolve();
    },
  });
  const [st, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(bytes("a\nb\nc\n")); // one read: b and c wait in the receive buffer
  for (const expected of ["a", "b", "c"]) {
    await frame.promise;
    frame = Promise.withResolvers<void>();
    assertEquals(frames.at(-1), expected, "one frame per resumeReading");
    assert(!server.isReading());
    server.resumeReading();
  }
  ct.close();
  await st.closed;
});
