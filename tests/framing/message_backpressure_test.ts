/**
 * MessageProtocol stops handling messages while its transport's write buffer is over the high
 * watermark: a peer that sends but does not read its replies is pushed back (the queue fills,
 * reading pauses) instead of our replies filling the buffer to its cap.
 */
import { assertEquals } from "@std/assert";
import { FrameTooLongError, LineFramer, MessageProtocol } from "@plexus/net/framing";
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

Deno.test("a peer that sent bad bytes and does not read cannot hold a MessageProtocol open", async () => {
  const reply = new Uint8Array(100_000).fill(0x61); // over the 64 KiB high watermark
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer({ maxLength: 16 }),
    messageHandler: (_line, transport) => void transport.write(reply),
  });
  let client!: Transport;
  const peer: Protocol = {
    connectionMade: (t) => {
      client = t;
      t.pauseReading(); // never reads
    },
    dataReceived: () => {},
  };
  createMemoryTransportPair(server, peer);
  client.write(bytes("a\nb\n" + "x".repeat(40) + "\n"));
  // Aborted after the deadlines' 1 s grace (a guard against a hang only: 3 s).
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("still open after 3 s"), 3000);
  });
  const outcome = await Promise.race([server.closed, guard]);
  clearTimeout(timer);
  client.abort();
  await server.closed;
  assertEquals(outcome instanceof FrameTooLongError, true, String(outcome));
});

Deno.test("MessageProtocol does not call resumeWriting after connectionLost", async () => {
  const events: string[] = [];
  const paused = Promise.withResolvers<void>();
  const server = new class extends MessageProtocol<Uint8Array> {
    override pauseWriting(): void {
      super.pauseWriting();
      events.push("pause");
      paused.resolve();
    }
    override resumeWriting(): void {
      super.resumeWriting();
      events.push("resume");
    }
    override connectionLost(error: Error | undefined): void {
      events.push("lost");
      super.connectionLost(error);
    }
  }({
    decoder: new LineFramer(),
    messageHandler: (_line, transport) => void transport.write(new Uint8Array(100_000)),
  });
  let client!: Transport;
  const peer: Protocol = {
    connectionMade: (t) => {
      client = t;
      t.pauseReading();
    },
    dataReceived: () => {},
  };
  createMemoryTransportPair(server, peer);
  client.write(bytes("m\n"));
  await paused.promise;
  client.abort();
  await server.closed;
  assertEquals(events, ["pause", "lost"]);
});
