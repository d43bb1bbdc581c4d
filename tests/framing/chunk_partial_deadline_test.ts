/** A partial chunk trickled without end must still meet `frameTimeout`. */

import { assertEquals } from "@std/assert";
import { ChunkFramer, FramedProtocol } from "@plexus/net/framing";
import {
  createMemoryTransportPair,
  type DeadlineError,
  type Transport,
} from "@plexus/net/transport";

Deno.test("ChunkFramer with partial: a chunk trickled a byte at a time is cut by frameTimeout", async () => {
  const pieces: number[] = [];
  const server = new FramedProtocol(new ChunkFramer(1000, { partial: true }), {
    frameReceived: (piece) => void pieces.push(piece.byteLength),
  });
  let client: Transport | undefined;
  const [, clientTransport] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived() {},
  }, { transport: { deadlines: { frameTimeout: 150 } } });
  // One byte of the chunk every 30 ms: each is delivered as a piece, the chunk never ends.
  let sent = 0;
  const { promise: settled, resolve } = Promise.withResolvers<string>();
  const trickle = setInterval(() => {
    if (++sent > 40) { // 1.2 s, 8 times frameTimeout
      clearInterval(trickle);
      resolve("never cut");
      return;
    }
    client!.write(new Uint8Array([sent]));
  }, 30);
  server.closed.then((error) => {
    clearInterval(trickle);
    resolve((error as DeadlineError | undefined)?.limit ?? String(error));
  });
  const outcome = await settled;
  if (outcome === "never cut") client!.abort();
  await server.closed;
  await clientTransport.closed;
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
