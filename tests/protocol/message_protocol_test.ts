import { assertEquals, assertThrows } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import { MessageProtocol, ProtocolError } from "@plexus/net/protocol";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { Recorder } from "../_recorder.ts";
import { bytes } from "../_shared.ts";

/** One message per byte: easy to count. */
function perByte(data: Uint8Array): Iterable<number> {
  return data;
}

Deno.test("MessageProtocol keeps at most maxQueueSize messages and pauses reading when full", async () => {
  const gate = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const handled: number[] = [];
  let maxQueue = 0;
  const server = new MessageProtocol<number>({
    decoder: perByte,
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
  assertEquals(server.queueSize, 3, "the rest waits in the decoder's iterator");
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
    decoder: (data) => new TextDecoder().decode(data).split(""),
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
    decoder: () => {
      throw new Error("bad byte 0xff");
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
    decoder: (data) => new TextDecoder().decode(data).split(""),
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

Deno.test("MessageProtocol rejects a queue size below 1", () => {
  assertThrows(
    () => new MessageProtocol({ decoder: perByte, messageHandler: () => {}, maxQueueSize: 0 }),
    RangeError,
    "maxQueueSize must be >= 1",
  );
});
