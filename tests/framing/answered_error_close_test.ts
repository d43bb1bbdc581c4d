/**
 * A framing error a protocol answered (`frameError`, `decodeError`) still ends the transport
 * with that error: the close is graceful (the answer is flushed), but `connectionLost`, a
 * server's hooks and `stats().closeReason` see the error, not an orderly close. And the close
 * cannot be held open by a peer that does not read.
 */
import { assertEquals } from "@std/assert";
import { assertInstanceOf } from "../_assert.ts";
import { Server } from "@plexus/net/endpoints";
import {
  FramedProtocol,
  FrameTooLongError,
  LineFramer,
  MessageProtocol,
} from "@plexus/net/framing";
import {
  createMemoryTransportPair,
  type Protocol,
  type StreamTransport,
  type Transport,
} from "@plexus/net/transport";

const encode = (s: string) => new TextEncoder().encode(s);

Deno.test("a server's connectionLost gets the framing error frameError answered", async () => {
  const lost = Promise.withResolvers<{ error: Error | undefined; reason: string | undefined }>();
  class Watching extends Server<FramedProtocol> {
    override connectionLost(transport: StreamTransport, _p: FramedProtocol, error?: Error) {
      lost.resolve({ error, reason: transport.stats().closeReason });
    }
  }
  await using server = new Watching(() =>
    new FramedProtocol(new LineFramer({ maxLength: 32 }), {
      frameReceived() {},
      frameError: (error, framed) => framed.sendFrame(encode(`ERR ${error.name}`)),
    })
  );
  const [address] = await server.listen("127.0.0.1:0");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: (address as Deno.NetAddr).port });
  await conn.write(encode("x".repeat(40) + "\r\n"));
  const answer = await new Response(conn.readable).text(); // to the server's EOF
  const { error, reason } = await lost.promise;
  assertEquals(answer, "ERR FrameTooLongError\r\n");
  assertInstanceOf(error, FrameTooLongError);
  assertEquals(reason, "error");
});

Deno.test("MessageProtocol's close after a decoder error is bounded against a peer that does not read", async () => {
  const reply = new Uint8Array(200_000);
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer({ maxLength: 8 }),
    messageHandler: (_line, transport) => transport.write(reply),
    decodeError: (error, transport) => transport.write(encode(`ERR ${error.name}\r\n`)),
  });
  let client!: Transport;
  const peer: Protocol = {
    connectionMade: (t) => {
      client = t;
      t.pauseReading(); // never reads: the close cannot flush
    },
    dataReceived() {},
  };
  createMemoryTransportPair(server, peer);
  client.write(encode("a\r\n" + "x".repeat(20) + "\r\n"));
  // Aborted after the deadlines' 1 s grace, with the decoder's error.
  assertInstanceOf(await server.closed, FrameTooLongError);
  client.abort();
});

Deno.test("close(error) after a close that finished at once still gives the loss the error", async () => {
  const lost = Promise.withResolvers<Error | undefined>();
  const failure = new Error("answered");
  const [a] = createMemoryTransportPair(
    { connectionLost: (error) => lost.resolve(error), dataReceived() {} },
    { dataReceived() {} },
  );
  a.close(); // nothing to flush: finished at once
  a.close(failure);
  assertEquals(await lost.promise, failure);
  assertEquals(a.stats?.().closeReason, "error");
});
