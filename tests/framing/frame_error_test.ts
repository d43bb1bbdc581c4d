/**
 * `FrameHandler.frameError`: the handler answers the bytes its framer rejected, then the
 * connection closes gracefully (aborted after a grace), and `connectionLost` gets the error.
 */

import { assertEquals } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import {
  FramedProtocol,
  type FrameHandler,
  FrameTooLongError,
  type FramingError,
  IdentityFramer,
  LineFramer,
  TruncatedFrameError,
} from "@plexus/net/framing";
import {
  createMemoryTransportPair,
  SendBuffer,
  StreamTransport,
  type Transport,
} from "@plexus/net/transport";
import { Recorder } from "../_recorder.ts";

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** An echo of lines of at most 32 bytes that answers a rejected line with `ERR <name>`. */
function echo(seen: string[], answered: FramingError[], hook = true): FramedProtocol {
  const handler: FrameHandler = {
    frameReceived: (line, framed) => {
      seen.push(decode(line));
      framed.sendFrame(line);
    },
  };
  if (hook) {
    handler.frameError = (error, framed) => {
      answered.push(error);
      framed.sendFrame(encode(`ERR ${error.name}`));
    };
  }
  return new FramedProtocol(new LineFramer({ lineEnding: "\n", maxLength: 32 }), handler);
}

Deno.test("frameError: a line over maxLength is answered, later frames are not delivered, and the close is graceful", async () => {
  const seen: string[] = [];
  const answered: FramingError[] = [];
  const server = echo(seen, answered);
  const client = new Recorder();
  const [st, ct] = createMemoryTransportPair(server, client);
  ct.write(encode(`ok\n${"x".repeat(40)}\nafter\n`));
  const error = await server.closed;
  assertInstanceOf(error, FrameTooLongError);
  assertEquals(answered, [error], "the hook got the framer's error");
  assertEquals(seen, ["ok"], "nothing after the rejected line");
  await client.untilEvent("connectionLost");
  assertEquals(client.text, "ok\nERR FrameTooLongError\n", "the answer reached the peer");
  assertEquals(client.lostWith, undefined, "closed gracefully, not reset");
  // The transport ends with the framer's error: a server's hooks and statistics see it.
  assertEquals(st.stats().closeReason, "error");
  assertEquals(await st.closed, error);
  await ct.closed;
});

Deno.test("frameError: the stream ending inside a frame is answered before the close", async () => {
  const answered: FramingError[] = [];
  const server = echo([], answered);
  const client = new Recorder({ keepOpenOnEof: true });
  const [, ct] = createMemoryTransportPair(server, client);
  ct.write(encode("half"));
  ct.writeEof();
  const error = await server.closed;
  assertInstanceOf(error, TruncatedFrameError);
  assertEquals(answered.length, 1);
  await client.untilEvent("connectionLost");
  assertEquals(client.text, "ERR TruncatedFrameError\n");
  await ct.closed;
});

Deno.test("frameError: a throw from the hook aborts with the thrown error", async () => {
  const server = new FramedProtocol(new LineFramer({ maxLength: 16 }), {
    frameReceived: () => {},
    frameError: (_error, framed) => {
      framed.sendFrame(encode("never sent"));
      throw new Error("hook failed");
    },
  });
  const client = new Recorder();
  const [, ct] = createMemoryTransportPair(server, client);
  ct.write(encode(`${"x".repeat(40)}\r\n`));
  const error = await server.closed;
  assertEquals(error?.message, "hook failed");
  await client.untilEvent("connectionLost");
  assertEquals(client.text, "", "an abort drops what the hook sent");
  await ct.closed;
});

Deno.test("frameError: without the hook the connection is aborted at once", async () => {
  const server = echo([], [], false);
  const client = new Recorder();
  const [st, ct] = createMemoryTransportPair(server, client);
  ct.write(encode(`${"x".repeat(40)}\n`));
  assertInstanceOf(await server.closed, FrameTooLongError);
  assertEquals(st.stats().closeReason, "error");
  await ct.closed;
});

Deno.test("frameError: a framing error the handler's own sendFrame throws is not the peer's: it aborts", async () => {
  const answered: FramingError[] = [];
  const server = new FramedProtocol(new LineFramer({ maxLength: 4 }), {
    frameReceived: (_line, framed) => framed.sendFrame(encode("far too long to encode")),
    frameError: (error) => void answered.push(error),
  });
  const [, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(encode("ok\r\n"));
  assertInstanceOf(await server.closed, FrameTooLongError);
  assertEquals(answered, [], "the hook answers only what the peer sent");
  await ct.closed;
});

Deno.test("frameError: a peer that does not read gets the grace, then the connection is aborted", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peer = await Deno.connect({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
  });
  const accepted = await listener.accept();
  const server = new FramedProtocol(new LineFramer({ maxLength: 8 }), {
    frameReceived: () => {},
    // More than the kernel's socket buffers hold while the peer reads nothing.
    frameError: (_error, framed) => framed.sendFrame(new Uint8Array(64 * 1024 * 1024)),
  }, { sendFramer: new IdentityFramer() });
  const transport = new StreamTransport(accepted, server);
  await peer.write(encode(`${"x".repeat(40)}\r\n`));
  const started = performance.now();
  assertInstanceOf(await server.closed, FrameTooLongError);
  assert(performance.now() - started >= 900, "aborted only after the grace");
  assertEquals(transport.stats().closeReason, "error", "aborted with the framer's error");
  peer.close();
});

Deno.test("frameError: the same outcome for every split of the input into two reads", async () => {
  const input = encode(`ok1\nok2\n${"x".repeat(40)}\nafter\n`);
  for (let at = 0; at <= input.length; at++) {
    const seen: string[] = [];
    const answered: FramingError[] = [];
    const server = echo(seen, answered);
    const client = new Recorder();
    const [st, ct] = createMemoryTransportPair(server, client);
    ct.write(input.subarray(0, at));
    // The second read after the first was handled: a separate chunk whatever the pair batches.
    await Promise.resolve();
    if (!ct.isClosing()) ct.write(input.subarray(at));
    assertInstanceOf(await server.closed, FrameTooLongError, `split at ${at}`);
    await client.untilEvent("connectionLost");
    assertEquals(seen, ["ok1", "ok2"], `split at ${at}`);
    assertEquals(answered.length, 1, `split at ${at}`);
    assertEquals(client.text, "ok1\nok2\nERR FrameTooLongError\n", `split at ${at}`);
    // Up to 8 + 32 x's, the first read rejects nothing: the line is decided in a second read.
    if (at > 0 && at <= 8 + 33) assertEquals(st.stats().reads, 2, `split at ${at}: two reads`);
    await ct.closed;
  }
});

/** A server that pauses after its first line; resumeReading() then decodes the rest from a microtask. */
function pausingServer(frameError: FrameHandler["frameError"]): {
  server: FramedProtocol;
  paused: Promise<FramedProtocol>;
} {
  const paused = Promise.withResolvers<FramedProtocol>();
  const server = new FramedProtocol(new LineFramer({ lineEnding: "\n", maxLength: 8 }), {
    frameReceived: (_line, framed) => {
      framed.pauseReading(); // the bad line stays buffered
      paused.resolve(framed);
    },
    frameError,
  });
  return { server, paused: paused.promise };
}

Deno.test("frameError: a throw from the hook in the pass after resumeReading aborts the connection, not the process", async () => {
  const { server, paused } = pausingServer(() => {
    throw new Error("hook failed");
  });
  const [, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(encode(`ok\n${"x".repeat(40)}\n`));
  (await paused).resumeReading(); // draining: the scheduled pass meets the bad line
  assertEquals((await server.closed)?.message, "hook failed");
  await ct.closed;
});

Deno.test("frameError: a hook whose answer the send framer refuses, after resumeReading, aborts with that error", async () => {
  // 21 bytes over maxLength 8: the hook's sendFrame throws.
  const { server, paused } = pausingServer((error, framed) =>
    framed.sendFrame(encode(`ERR ${error.name}`))
  );
  const [, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(encode(`ok\n${"x".repeat(40)}\n`));
  (await paused).resumeReading();
  const error = await server.closed;
  assertInstanceOf(error, FrameTooLongError);
  assert(error.message.startsWith("Cannot encode"), error.message);
  assert(!server.isReading(), "no frame is delivered once rejected");
  await ct.closed;
});

Deno.test("frameError: a hook that closes a transport which reports the loss at once still reports the error", async () => {
  const server = new FramedProtocol(new LineFramer({ lineEnding: "\n", maxLength: 8 }), {
    frameReceived: () => {},
    frameError: (_error, framed) => framed.close(), // say nothing, just close
  });
  let closing = false;
  const out = new SendBuffer();
  // A transport double whose close() calls connectionLost at once, as a transport may.
  const transport = {
    out,
    commit() {},
    write() {},
    writeLines() {},
    writeEof() {},
    canWriteEof: () => true,
    isClosing: () => closing,
    isReading: () => !closing,
    pauseReading() {},
    resumeReading() {},
    getExtraInfo: () => undefined,
    getWriteBufferSize: () => 0,
    getWriteBufferLimits: () => ({ high: 65536, low: 16384 }),
    setWriteBufferLimits() {},
    closed: server.closed,
    close() {
      if (closing) return;
      closing = true;
      server.connectionLost(undefined);
    },
    abort(error?: Error) {
      if (closing) return;
      closing = true;
      server.connectionLost(error);
    },
  } as unknown as Transport;
  server.connectionMade(transport);
  const bytes = encode(`${"x".repeat(40)}\n`);
  server.getBuffer(bytes.length).set(bytes);
  server.bufferUpdated(bytes.length);
  assertInstanceOf(await server.closed, FrameTooLongError);
});

Deno.test("frameError: no deadline runs out during the graceful close that follows it", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const accepted = await listener.accept();
  const hooks: string[] = [];
  const server = new FramedProtocol(new LineFramer({ maxLength: 8 }), {
    frameReceived: () => {},
    frameError: (_error, framed) => {
      hooks.push("frameError");
      // A peer that does not read: the close waits out the grace, past the deadline below.
      framed.sendFrame(new Uint8Array(64 * 1024 * 1024));
    },
    limitExceeded: (error) => void hooks.push(`limitExceeded ${error.limit}`),
  }, { sendFramer: new IdentityFramer() });
  const transport = new StreamTransport(accepted, server, {
    deadlines: { firstFrameTimeout: 200 },
  });
  await peer.write(encode(`${"x".repeat(40)}\r\n`));
  assertInstanceOf(await server.closed, FrameTooLongError);
  peer.close();
  assertEquals(hooks, ["frameError"]);
  assertEquals(transport.stats().closeReason, "error", "aborted by the grace, not a deadline");
});
