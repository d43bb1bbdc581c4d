/** A partial chunk trickled without end must still meet `frameTimeout`. */

import { assertEquals } from "@std/assert";
import { ChunkFramer, FramedProtocol } from "@plexus/net/framing";
import { createMemoryTransportPair, type Transport } from "@plexus/net/transport";
import { trickleUntilCut } from "./_helpers.ts";

Deno.test("ChunkFramer with partial: a chunk trickled a byte at a time is cut by frameTimeout", async () => {
  const pieces: number[] = [];
  const server = new FramedProtocol(new ChunkFramer(1000, { partial: true }), {
    frameReceived: (piece) => void pieces.push(piece.byteLength),
  });
  // One byte of the chunk at a time: each is delivered as a piece, the chunk never ends.
  const outcome = await trickleUntilCut(server, new Uint8Array(0));
  assertEquals(outcome, "frameTimeout");
  assertEquals(pieces.length > 0 && pieces.every((n) => n === 1), true, "pieces were delivered");
});

Deno.test("ChunkFramer with partial: a chunk whose pieces keep coming within frameTimeout of its start completes", async () => {
  const pieces: number[] = [];
  const done = Promise.withResolvers<void>();
  const server = new FramedProtocol(new ChunkFramer(3, { partial: true }), {
    frameReceived: (piece) => {
      pieces.push(piece.byteLength);
      if (pieces.reduce((a, b) => a + b) === 3) done.resolve();
    },
  });
  let client: Transport | undefined;
  const [serverTransport, clientTransport] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived() {},
  }, { transport: { deadlines: { frameTimeout: 5000 } } });
  for (const byte of [1, 2, 3]) {
    client!.write(new Uint8Array([byte]));
    await client!.flushed!();
  }
  await done.promise;
  assertEquals(pieces.reduce((a, b) => a + b), 3);
  client!.close();
  await Promise.all([serverTransport.closed, clientTransport.closed]);
});
