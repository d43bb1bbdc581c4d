import { assertEquals } from "@std/assert";
import { type Decoder, FramedProtocol, type Framer, TinyprotoProtocol } from "@plexus/net/framing";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { bytes, text } from "./_helpers.ts";

Deno.test("tinyproto close() before the connection is made ends it once connected", async () => {
  const events: string[] = [];
  const early = new TinyprotoProtocol({
    connectionEnded: (error) => void events.push(`early ended ${error}`),
  });
  const peer = new TinyprotoProtocol({
    connectionEnded: (error) => void events.push(`peer ended ${error}`),
  });
  early.close(); // before any transport: it must half-close as soon as it has one
  createMemoryTransportPair(early, peer);
  assertEquals(await Promise.all([early.closed, peer.closed]), [undefined, undefined]);
  assertEquals(events.sort(), ["early ended undefined", "peer ended undefined"]);
});

/** A decoder that gives frames only at end of stream: one byte each. */
const tail: Decoder<Uint8Array> = {
  decode: () => undefined,
  decodeEof: (buffer) => buffer.length > 0 ? buffer.take(1) : undefined,
};

for (const end of ["abort", "close"] as const) {
  Deno.test(`framed protocol paused at end of stream delivers nothing more after transport.${end}()`, async () => {
    const events: string[] = [];
    const paused = Promise.withResolvers<void>();
    const server = new FramedProtocol<Uint8Array>(tail as Framer<Uint8Array>, {
      frameReceived(frame, framed) {
        events.push(text(frame));
        framed.pauseReading(); // at the peer's EOF; our write side stays open
        paused.resolve();
      },
      eofReceived: () => void events.push("eof"),
      connectionLost: (error) => void events.push(`lost ${error}`),
    });
    const [, client] = createMemoryTransportPair(server, {
      dataReceived() {},
      eofReceived: () => true,
    });
    client.write(bytes("xyz"));
    client.writeEof();
    await paused.promise;
    server.transport[end](); // not EOF both ways: the application ended it while paused
    assertEquals(await server.closed, undefined);
    assertEquals(events, ["x", "lost undefined"]);
    client.close();
    await client.closed;
  });
}
