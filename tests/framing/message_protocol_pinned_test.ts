import { assertEquals } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import { type Decoder, MessageProtocol } from "@plexus/net/framing";
import { ProtocolError } from "@plexus/net/protocol";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { Recorder } from "../_recorder.ts";
import { bytes } from "../_shared.ts";

/** One message per byte, as a one-character string; "X" is a decode error. */
const perChar = (error: () => Error = () => new Error("bad X")): Decoder<string> => ({
  decode: (buffer) => {
    if (buffer.length === 0) return undefined;
    if (buffer.at(0) === 0x58) throw error();
    return String.fromCharCode(buffer.take(1)[0]);
  },
});

Deno.test("MessageProtocol passes a decoder's ProtocolError on as it is", async () => {
  const thrown = new ProtocolError("bad command");
  const server = new MessageProtocol<string>({
    decoder: perChar(() => thrown),
    messageHandler: () => {},
  });
  const [st, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(bytes("X"));
  assertEquals(await server.closed, thrown);
  await st.closed;
  await ct.closed;
});

Deno.test("MessageProtocol resolves closed with its first error, not a later handler error", async () => {
  // maxQueueSize 1: "a" is dequeued, then "X" is decoded (and fails) before a's handler runs;
  // that handler's throw comes second and must not replace the decoder's error.
  const server = new MessageProtocol<string>({
    decoder: perChar(),
    maxQueueSize: 1,
    messageHandler: () => {
      throw new RangeError("handler failed after the decoder");
    },
  });
  const [st, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(bytes("aX"));
  const error = await server.closed;
  assertInstanceOf(error, ProtocolError);
  assertEquals(error.message, "Cannot decode message: bad X");
  await st.closed;
  await ct.closed;
});

Deno.test("MessageProtocol drops its queue when a handler fails, before closing", async () => {
  let queuedAtClose = -1;
  const server = new MessageProtocol<string>({
    decoder: perChar(),
    maxQueueSize: 3,
    messageHandler: (message) => {
      if (message === "a") throw new RangeError("no a");
    },
  });
  const [st, ct] = createMemoryTransportPair(server, new Recorder());
  const close = st.close.bind(st);
  st.close = () => {
    queuedAtClose = server.queueSize;
    close();
  };
  ct.write(bytes("abcdef"));
  assertInstanceOf(await server.closed, RangeError);
  assertEquals(queuedAtClose, 0, "the queue is dropped when the handler fails");
  await st.closed;
  await ct.closed;
});

Deno.test("MessageProtocol drops its queue when the connection is lost", async () => {
  const gate = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const handled: string[] = [];
  const server = new MessageProtocol<string>({
    decoder: perChar(),
    maxQueueSize: 3,
    messageHandler: async (message) => {
      handled.push(message);
      started.resolve();
      await gate.promise;
    },
  });
  const [st, ct] = createMemoryTransportPair(server, new Recorder());
  ct.write(bytes("abcdef"));
  await started.promise;
  assertEquals(server.queueSize, 3);
  const reason = new Error("gone");
  st.abort(reason);
  assertEquals(await server.closed, reason);
  assertEquals(server.queueSize, 0, "nothing waits once the connection is lost");
  gate.resolve();
  await st.closed;
  await ct.closed;
  assertEquals(handled, ["a"]);
});

Deno.test("MessageProtocol resolves closed with the handler's error over a transport error after it", async () => {
  // The handler fails; while its close flushes, the connection breaks: the handler's error
  // ended the connection and is the one reported.
  const server = new MessageProtocol<string>({
    decoder: perChar(),
    messageHandler: (_message, transport) => {
      transport.write(new Uint8Array(1 << 20));
      throw new RangeError("handler failed");
    },
  });
  const client = new Recorder();
  const [st, ct] = createMemoryTransportPair(server, client);
  ct.pauseReading(); // the reply cannot be flushed: the close waits
  const close = st.close.bind(st);
  st.close = () => {
    close();
    assert(st.isClosing());
    st.abort(new Error("reset while flushing"));
  };
  ct.write(bytes("a"));
  assertInstanceOf(await server.closed, RangeError);
  await st.closed;
  ct.resumeReading(); // a paused reader sees the reset when it reads again
  await ct.closed;
});
