/** MessageProtocol under a Server's graceful shutdown, and its deadlines with a full queue. */

import { assertEquals } from "@std/assert";
import { createConnection, Server } from "@plexus/net/endpoints";
import { LineFramer, MessageProtocol } from "@plexus/net/framing";
import { createMemoryTransportPair, StreamProtocol, type Transport } from "@plexus/net/transport";

/**
 * A server whose handler is still busy with the first line when the server begins draining the
 * connection (its shutdown hook runs).
 */
function drainingServer(received: string[]): Server<MessageProtocol<Uint8Array>> {
  const draining = Promise.withResolvers<void>();
  const server: Server<MessageProtocol<Uint8Array>> = new Server(() => {
    const protocol = new MessageProtocol<Uint8Array>({
      decoder: new LineFramer({ lineEnding: "\n" }),
      maxQueueSize: 4,
      messageHandler: async (line, transport: Transport) => {
        const text = new TextDecoder().decode(line);
        received.push(text);
        if (received.length === 1) {
          void server.shutdown({ timeout: 2000 }); // the shutdown begins during this request
          await draining.promise; // the reply is written after the drain began
        }
        transport.write(new TextEncoder().encode(text.toUpperCase() + "\n"));
      },
    });
    const hook = protocol.shutdown.bind(protocol);
    protocol.shutdown = (signal) => {
      draining.resolve();
      return hook(signal);
    };
    return protocol;
  });
  return server;
}

Deno.test("Server.shutdown lets a MessageProtocol answer the message it is handling", async () => {
  const received: string[] = [];
  const server = drainingServer(received);
  const [address] = await server.listen("127.0.0.1:0");
  const { transport, protocol } = await createConnection(() => new StreamProtocol(), address);
  transport.write(new TextEncoder().encode("ping\n"));
  const reply = await new Response(protocol.readable).text();
  transport.close(); // our EOF in turn: the server's close lingers for it
  await server.shutdown();
  await transport.closed;
  assertEquals(reply, "PING\n");
});

Deno.test("Server.shutdown lets a MessageProtocol answer the messages it already queued", async () => {
  const received: string[] = [];
  const server = drainingServer(received);
  const [address] = await server.listen("127.0.0.1:0");
  const { transport, protocol } = await createConnection(() => new StreamProtocol(), address);
  transport.write(new TextEncoder().encode("one\ntwo\nthree\n"));
  const reply = await new Response(protocol.readable).text();
  transport.close(); // our EOF in turn: the server's close lingers for it
  await server.shutdown();
  await transport.closed;
  assertEquals(received, ["one", "two", "three"]);
  assertEquals(reply, "ONE\nTWO\nTHREE\n");
});

Deno.test("MessageProtocol: whole messages held back by a full queue are not an incomplete frame", async () => {
  const handled: string[] = [];
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer({ lineEnding: "\n" }),
    maxQueueSize: 1,
    messageHandler: async (line, transport) => {
      handled.push(new TextDecoder().decode(line));
      transport.write(new Uint8Array(256 * 1024)); // a large reply
      await transport.flushed!(); // the next message waits for the peer to take it
    },
  });
  const done = Promise.withResolvers<void>();
  let client: Transport | undefined;
  let received = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const [, clientTransport] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived(data: Uint8Array) {
      received += data.length; // a steady, slowish reader: a chunk, then a short pause
      if (received === 4 * 256 * 1024) done.resolve();
      client!.pauseReading();
      timer = setTimeout(() => client!.resumeReading(), 30);
    },
  }, { transport: { deadlines: { frameTimeout: 150 } } });
  client!.write(new TextEncoder().encode("a\nb\nc\nd\n")); // four whole requests at once
  const outcome = await Promise.race([
    done.promise.then(() => "all answered"),
    server.closed.then((e) => `closed: ${e}`),
  ]);
  clearTimeout(timer);
  client!.close();
  await server.closed;
  await clientTransport.closed;
  assertEquals(handled, ["a", "b", "c", "d"]);
  assertEquals(outcome, "all answered");
});
