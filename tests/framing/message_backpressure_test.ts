/**
 * MessageProtocol stops handling messages while its transport's write buffer is over the high
 * watermark: a peer that sends but does not read its replies is pushed back (the queue fills,
 * reading pauses) instead of our replies filling the buffer to its cap.
 */
import { assertEquals } from "@std/assert";
import { LineFramer, MessageProtocol } from "@plexus/net/framing";
import { createMemoryTransportPair, type Protocol, type Transport } from "@plexus/net/transport";
import { bytes } from "../_shared.ts";

Deno.test("MessageProtocol handles no message while the peer leaves its replies unread", async () => {
  const reply = new Uint8Array(100_000).fill(0x61); // each reply is over the 64 KiB high watermark
  let handled = 0;
  let mostBuffered = 0;
  const paused = Promise.withResolvers<void>();
  const server = new class extends MessageProtocol<Uint8Array> {
    override pauseWriting(): void {
      super.pauseWriting();
      paused.resolve();
    }
  }({
    decoder: new LineFramer(),
    messageHandler: (_line, transport) => {
      handled++;
      transport.write(reply);
      mostBuffered = Math.max(mostBuffered, transport.getWriteBufferSize());
    },
  });
  let received = 0;
  const allReplies = Promise.withResolvers<void>();
  let client!: Transport;
  const peer: Protocol = {
    connectionMade: (t) => {
      client = t;
      t.pauseReading(); // reads nothing until the server's writing is paused
    },
    dataReceived: (data) => {
      received += data.byteLength;
      if (received === 10 * reply.byteLength) allReplies.resolve();
    },
  };
  createMemoryTransportPair(server, peer);
  client.write(bytes("m\n".repeat(10)));
  await paused.promise;
  client.resumeReading();
  await allReplies.promise;
  assertEquals(handled, 10);
  // Each message was handled with the buffer drained to its low watermark (16 KiB): one reply
  // on top at most. Handled regardless, the ten replies piled up (about 1 MB).
  assertEquals(mostBuffered <= 16_384 + reply.byteLength, true, `${mostBuffered} bytes buffered`);
  client.close();
  await server.closed;
});
