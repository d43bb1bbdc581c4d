/**
 * MessageProtocol's `decodeError` hook answers bad input before the connection closes: after
 * the messages decoded before the bad bytes are handled, its reply is flushed by the close.
 */
import { assertEquals } from "@std/assert";
import { assertInstanceOf } from "../_assert.ts";
import {
  FrameTooLongError,
  LineFramer,
  MessageProtocol,
  TruncatedFrameError,
} from "@plexus/net/framing";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { Recorder } from "../_recorder.ts";
import { bytes } from "../_shared.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("decodeError answers a line over the limit after the lines before it", async () => {
  const seen: string[] = [];
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer({ maxLength: 8 }),
    messageHandler: async (line, transport) => {
      await Promise.resolve();
      seen.push(text(line));
      transport.write(bytes(`ok ${text(line)}\n`));
    },
    decodeError: (error, transport) => {
      seen.push(error.constructor.name);
      transport.write(bytes(`error: ${error.constructor.name}\n`));
    },
  });
  const client = new Recorder();
  const [, ct] = createMemoryTransportPair(server, client);
  ct.write(bytes("a\nb\n" + "x".repeat(20) + "\nc\n"));
  assertInstanceOf(await server.closed, FrameTooLongError);
  await ct.closed;
  assertEquals(seen, ["a", "b", "FrameTooLongError"]);
  assertEquals(client.text, "ok a\nok b\nerror: FrameTooLongError\n");
});

Deno.test("decodeError answers a message cut by the peer's EOF, also after an await", async () => {
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer(),
    messageHandler: () => {},
    decodeError: async (error, transport) => {
      await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
      transport.write(bytes(`error: ${error.constructor.name}\n`));
    },
  });
  const client = new Recorder();
  const [, ct] = createMemoryTransportPair(server, client);
  ct.write(bytes("one\nhalf"));
  ct.writeEof();
  assertInstanceOf(await server.closed, TruncatedFrameError);
  await ct.closed;
  assertEquals(client.text, "error: TruncatedFrameError\n");
});

Deno.test("a decodeError hook that throws aborts the connection with its error", async () => {
  const thrown = new Error("the hook failed");
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer({ maxLength: 4 }),
    messageHandler: () => {},
    decodeError: () => {
      throw thrown;
    },
  });
  const client = new Recorder();
  const [, ct] = createMemoryTransportPair(server, client);
  ct.write(bytes("too long\n"));
  assertEquals(await server.closed, thrown);
  await ct.closed;
});

Deno.test("a graceful shutdown waits for a decodeError hook still answering", async () => {
  const gate = Promise.withResolvers<void>();
  const answering = Promise.withResolvers<void>();
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer({ maxLength: 4 }),
    messageHandler: () => {},
    decodeError: async (error, transport) => {
      answering.resolve();
      await gate.promise; // a lookup, say
      transport.write(bytes(`error: ${error.constructor.name}\n`));
    },
  });
  const client = new Recorder();
  const [st, ct] = createMemoryTransportPair(server, client);
  ct.write(bytes("too long\n"));
  await answering.promise;
  // The hook's lookup ends a little later (the timer stands for its work, not for an event).
  const lookup = setTimeout(() => gate.resolve(), 20);
  // What a Server's shutdown does: await the hook, then close the transport.
  await server.shutdown(new AbortController().signal);
  st.close();
  clearTimeout(lookup);
  gate.resolve();
  await ct.closed;
  assertEquals(client.text, "error: FrameTooLongError\n");
});
