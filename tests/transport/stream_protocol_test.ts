import { assertEquals, assertRejects } from "@std/assert";
import { assert } from "../_assert.ts";
import {
  createMemoryChannelPair,
  createMemoryTransportPair,
  StreamProtocol,
  StreamTransport,
  TransportError,
} from "@plexus/net/transport";
import { CountingChannel } from "../_counting_channel.ts";
import { tcpPair } from "../_net.ts";
import { Recorder } from "../_recorder.ts";
import { bytes } from "../_shared.ts";

Deno.test("Web Streams face: reading to EOF keeps our write side open", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const client = new StreamProtocol();
  const server = new Recorder({ keepOpenOnEof: true });
  const ct = new StreamTransport(clientConn, client);
  const st = new StreamTransport(serverConn, server);
  server.transport.write(bytes("all I have"));
  server.transport.writeEof();
  assertEquals(await new Response(client.readable).text(), "all I have");
  assert(!ct.isClosing(), "EOF on the readable does not close the transport");
  const writer = client.writable.getWriter();
  await writer.write(bytes("still talking"));
  await writer.close();
  await st.closed;
  await ct.closed;
  assertEquals(server.text, "still talking");
  assertEquals(server.events.slice(-2), ["eof", "connectionLost"]);
});

Deno.test("Web Streams face: closing the writable sends EOF, not a close", async () => {
  const client = new StreamProtocol();
  const server = new Recorder({
    keepOpenOnEof: true,
    onData: () => {},
  });
  const [ct] = createMemoryTransportPair(client, server);
  const writer = client.writable.getWriter();
  await writer.write(bytes("request"));
  await writer.close();
  await server.untilEvent("eof");
  assert(!ct.isClosing());
  server.transport.write(bytes("reply"));
  server.transport.close();
  assertEquals(await new Response(client.readable).text(), "reply");
  await ct.closed;
});

Deno.test("Web Streams face: an unread readable stops the transport and the peer's writer", async () => {
  // Tiny sizes make the sequence exact: the pipe holds 100 bytes, the readable 10.
  const [readerChannel, writerChannel] = createMemoryChannelPair({ capacity: 100 });
  const counted = new CountingChannel(writerChannel);
  const reader = new StreamProtocol({ readableHighWaterMark: 10 });
  const writer = new Recorder();
  const rt = new StreamTransport(readerChannel, reader);
  const wt = new StreamTransport(counted, writer, { writeBufferLimits: { high: 500, low: 100 } });
  const data = new Uint8Array(1000).map((_, i) => i);
  wt.write(data);
  wt.close();
  assertEquals(writer.events.at(-1), "pauseWriting");
  // One read of 100 bytes filled the readable past its mark; one more 100 fills the pipe.
  await counted.untilWritten(200);
  assert(!rt.isReading(), "the reader's transport paused reading");
  assertEquals(counted.bytesWritten, 200, "the pipe is full and nobody reads it");
  assert(wt.getWriteBufferSize() >= 800, "the rest waits in the writer's buffer");
  assertEquals(await new Response(reader.readable).bytes(), data);
  await wt.closed;
  assertEquals(writer.events.slice(-2), ["resumeWriting", "connectionLost"]);
  assert(!rt.isClosing(), "half-open: our writable is still open");
  await reader.writable.close();
  await rt.closed;
});

Deno.test("Web Streams face: writes wait while the transport is paused", async () => {
  const [clientChannel, serverChannel] = createMemoryChannelPair({ capacity: 1 });
  const counted = new CountingChannel(clientChannel);
  const client = new StreamProtocol();
  const server = new Recorder({ onConnect: (t) => t.pauseReading() });
  const ct = new StreamTransport(counted, client, { writeBufferLimits: { high: 10, low: 0 } });
  const st = new StreamTransport(serverChannel, server);
  const writer = client.writable.getWriter();
  const settled: string[] = [];
  const first = writer.write(new Uint8Array(100)).then(() => settled.push("first"));
  await counted.untilWritten(1); // the transport has the chunk and is over its high mark
  assertEquals(settled, [], "the write waits for resumeWriting");
  st.resumeReading();
  await first;
  assertEquals(settled, ["first"]);
  ct.abort();
  await assertRejects(() => writer.write(bytes("late")), TransportError);
  await ct.closed;
  await st.closed;
});

Deno.test("Web Streams face: aborting the writable aborts the transport with the reason", async () => {
  const client = new StreamProtocol();
  const [ct, st] = createMemoryTransportPair(client, new Recorder());
  const reason = new Error("changed my mind");
  await client.writable.abort(reason);
  assertEquals(await ct.closed, reason);
  await assertRejects(() => client.readable.getReader().read(), Error, "changed my mind");
  await st.closed;
});

Deno.test("Web Streams face: closing the writable waits until the data is out, and fails with the cause", async () => {
  // A peer that reads nothing, then goes away while our bytes are still stuck.
  const [clientChannel, serverChannel] = createMemoryChannelPair({ capacity: 10 });
  const client = new StreamProtocol();
  const ct = new StreamTransport(clientChannel, client);
  const st = new StreamTransport(
    serverChannel,
    new Recorder({ onConnect: (t) => t.pauseReading() }),
  );
  const writer = client.writable.getWriter();
  await writer.write(new Uint8Array(1000));
  const closing = writer.close();
  const settled = assertRejects(() => closing, TransportError, "Write failed");
  st.abort();
  await settled;
  await ct.closed;
  await st.closed;
});
