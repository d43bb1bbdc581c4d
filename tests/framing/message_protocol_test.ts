import { assertEquals, assertThrows } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import {
  type Decoder,
  LineFramer,
  MessageProtocol,
  TruncatedFrameError,
} from "@plexus/net/framing";
import { ProtocolError } from "@plexus/net/protocol";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { Recorder } from "../_recorder.ts";
import { bytes } from "../_shared.ts";

/** One message per byte: easy to count. */
const perByte = (): Decoder<number> => ({
  decode: (buffer) => buffer.length > 0 ? buffer.take(1)[0] : undefined,
});

/** One message per byte, as a one-character string. */
const perChar = (): Decoder<string> => ({
  decode: (buffer) => buffer.length > 0 ? String.fromCharCode(buffer.take(1)[0]) : undefined,
});

/** One message per byte, as a one-character string; 0xff is a decoder error. */
const perCharUntilFF = (): Decoder<string> => ({
  decode: (buffer) => {
    if (buffer.length === 0) return undefined;
    if (buffer.bytes[buffer.start] === 0xff) throw new Error("bad byte");
    return String.fromCharCode(buffer.take(1)[0]);
  },
});

Deno.test("MessageProtocol keeps at most maxQueueSize messages and pauses reading when full", async () => {
  const gate = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const handled: number[] = [];
  let maxQueue = 0;
  const server = new MessageProtocol<number>({
    decoder: perByte(),
    maxQueueSize: 3,
    messageHandler: async (message, transport, protocol) => {
      maxQueue = Math.max(maxQueue, protocol.queueSize);
      if (handled.length === 0) {
        assert(!transport.isReading(), "reading paused while the queue is full");
        started.resolve();
        await gate.promise;
      }
      handled.push(message);
    },
  });
  const client = new Recorder();
  const [st, ct] = createMemoryTransportPair(server, client);
  ct.write(new Uint8Array(100).map((_, i) => i)); // one chunk decodes to 100 messages
  ct.writeEof();
  await started.promise;
  assertEquals(server.queueSize, 3, "the rest waits undecoded in the receive buffer");
  gate.resolve();
  assertEquals(await server.closed, undefined);
  assertEquals(handled, [...Array(100).keys()], "in order, each once");
  assert(maxQueue <= 3, `the queue grew to ${maxQueue}`);
  await st.closed;
  await ct.closed;
});

Deno.test("MessageProtocol runs one handler at a time and answers queued messages after EOF", async () => {
  let running = 0;
  let overlap = false;
  const server = new MessageProtocol<string>({
    decoder: perChar(),
    messageHandler: async (message, transport) => {
      running++;
      overlap ||= running > 1;
      await Promise.resolve();
      transport.write(bytes(message.toUpperCase()));
      running--;
    },
  });
  const client = new Recorder({ keepOpenOnEof: true });
  const [, ct] = createMemoryTransportPair(server, client);
  ct.write(bytes("abcdef"));
  ct.writeEof();
  await ct.closed;
  assertEquals(client.text, "ABCDEF");
  assert(!overlap, "handlers never overlapped");
});

Deno.test("a decoder error becomes a ProtocolError and closes the connection", async () => {
  const server = new MessageProtocol<string>({
    decoder: {
      decode: () => {
        throw new Error("bad byte 0xff");
      },
    },
    messageHandler: () => {},
  });
  const client = new Recorder();
  const [st, ct] = createMemoryTransportPair(server, client);
  ct.write(new Uint8Array([0xff]));
  const error = await server.closed;
  assertInstanceOf(error, ProtocolError);
  assertEquals(error.message, "Cannot decode message: bad byte 0xff");
  await st.closed;
  await ct.closed;
  assertEquals(client.events.at(-1), "connectionLost");
});

Deno.test("a handler error closes the connection after flushing earlier replies", async () => {
  const server = new MessageProtocol<string>({
    decoder: perChar(),
    messageHandler: (message, transport) => {
      if (message === "!") throw new RangeError("no bangs");
      transport.write(bytes(message));
    },
  });
  const client = new Recorder();
  const [, ct] = createMemoryTransportPair(server, client);
  ct.write(bytes("ok!ignored"));
  const error = await server.closed;
  assertInstanceOf(error, RangeError);
  await ct.closed;
  assertEquals(client.text, "ok");
});

Deno.test("MessageProtocol runs a LineFramer and reports a cut last line as truncated", async () => {
  const lines: string[] = [];
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer(),
    messageHandler: (line) => void lines.push(new TextDecoder().decode(line)),
  });
  const client = new Recorder();
  const [, ct] = createMemoryTransportPair(server, client);
  ct.write(bytes("one\r\ntwo\nthr"));
  ct.writeEof();
  const error = await server.closed;
  assertInstanceOf(error, TruncatedFrameError);
  assertEquals(error.leftover, 3);
  assertEquals(lines, ["one", "two"]);
  await ct.closed;
});

Deno.test("MessageProtocol rejects a queue size below 1", () => {
  assertThrows(
    () => new MessageProtocol({ decoder: perByte(), messageHandler: () => {}, maxQueueSize: 0 }),
    RangeError,
    "maxQueueSize must be >= 1",
  );
});

Deno.test("MessageProtocol hands no queued message to the handler once it closed the transport", async () => {
  // "q" closes the connection; the messages queued behind it (and the bytes not yet decoded)
  // must not reach the handler while the close flushes.
  const handled: string[] = [];
  const server = new MessageProtocol<string>({
    decoder: perChar(),
    maxQueueSize: 4,
    messageHandler: async (message, transport) => {
      handled.push(message);
      await Promise.resolve();
      transport.write(bytes(message.toUpperCase()));
      if (message === "q") transport.close();
    },
  });
  const client = new Recorder();
  const [st, ct] = createMemoryTransportPair(server, client);
  ct.write(bytes("aqbcdefgh"));
  assertEquals(await server.closed, undefined);
  await st.closed;
  await ct.closed;
  assertEquals(handled, ["a", "q"]);
  assertEquals(client.text, "AQ");
});

Deno.test("MessageProtocol: the queue's resume leaves the application's pauseReading alone", async () => {
  const gate = Promise.withResolvers<void>();
  const tenHandled = Promise.withResolvers<void>();
  const handled: number[] = [];
  const server = new MessageProtocol<number>({
    decoder: perByte(),
    maxQueueSize: 2,
    messageHandler: async (message, _transport, protocol) => {
      if (message === 0) {
        protocol.pauseReading(); // the application's own pause, while the queue's is on too
        await gate.promise;
      }
      handled.push(message);
      if (handled.length === 10) tenHandled.resolve();
    },
  });
  const client = new Recorder();
  const [st, ct] = createMemoryTransportPair(server, client);
  ct.write(new Uint8Array(10).map((_, i) => i));
  gate.resolve();
  await tenHandled.promise; // the queue drained: its own pause is lifted
  assert(!st.isReading(), "the transport stays paused for the application");
  assert(!server.isReading());
  server.resumeReading();
  assert(st.isReading());
  ct.write(new Uint8Array([10, 11]));
  ct.writeEof();
  assertEquals(await server.closed, undefined);
  assertEquals(handled, [...Array(12).keys()]);
  await st.closed;
  await ct.closed;
});

Deno.test("MessageProtocol: pauseReading before the connection is made takes effect at connectionMade", async () => {
  const server = new MessageProtocol<number>({ decoder: perByte(), messageHandler: () => {} });
  server.pauseReading();
  const [st, ct] = createMemoryTransportPair(server, new Recorder());
  assert(!st.isReading());
  server.resumeReading();
  assert(st.isReading());
  ct.close();
  await Promise.all([st.closed, ct.closed, server.closed]);
});

Deno.test("MessageProtocol: the messages before a decoder error are handled and answered, whatever maxQueueSize", async () => {
  for (const maxQueueSize of [1, 2, 10]) {
    const handled: string[] = [];
    const server = new MessageProtocol<string>({
      decoder: perCharUntilFF(),
      maxQueueSize,
      messageHandler: async (message, transport) => {
        await Promise.resolve(); // a handler that takes a while: the look-ahead meets the error
        handled.push(message);
        transport.write(bytes(message.toUpperCase()));
      },
    });
    const client = new Recorder();
    const [st, ct] = createMemoryTransportPair(server, client);
    ct.write(new Uint8Array([0x61, 0x62, 0x63, 0xff, 0x64]));
    const error = await server.closed;
    assertInstanceOf(error, ProtocolError);
    assertEquals(error.message, "Cannot decode message: bad byte");
    assertEquals(handled, ["a", "b", "c"], `maxQueueSize ${maxQueueSize}`);
    await client.untilEvent("connectionLost");
    assertEquals(client.text, "ABC", `maxQueueSize ${maxQueueSize}: the answers were flushed`);
    // Flushed (the answers arrived), and the transport ends with the decoder's error.
    assertEquals(st.stats().closeReason, "error", "a graceful close for an error");
    assertEquals(await st.closed, error);
    await ct.closed;
  }
});

Deno.test("MessageProtocol: after a decoder error nothing more is read while the queue is handled", async () => {
  const gate = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const server = new MessageProtocol<string>({
    decoder: perCharUntilFF(),
    messageHandler: async () => {
      started.resolve();
      await gate.promise;
    },
  });
  const [st, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(new Uint8Array([0x61, 0xff]));
  await started.promise;
  assert(!st.isReading(), "the bytes after the error are not read");
  gate.resolve();
  assertInstanceOf(await server.closed, ProtocolError);
  await ct.closed;
});
