/**
 * Issue 10, bug 1: a BYOB read pending on the Web Streams face when the peer sends EOF must
 * settle (`done: true`), so a read loop ends.
 */

import { assertEquals } from "@std/assert";
import { openConnection } from "@plexus/net/endpoints";
import { createMemoryTransportPair, StreamProtocol } from "@plexus/net/transport";
import { within } from "../_shared.ts";

/** Reads `readable` to the end with a BYOB reader; returns the byte count. */
async function readAllByob(readable: ReadableStream<Uint8Array>, chunk: number): Promise<number> {
  const reader = readable.getReader({ mode: "byob" });
  let total = 0;
  let buffer = new Uint8Array(chunk);
  for (;;) {
    const { value, done } = await reader.read(buffer);
    if (done) break;
    total += value.byteLength;
    buffer = new Uint8Array(value.buffer); // the view's buffer comes back to us
  }
  reader.releaseLock();
  return total;
}

Deno.test("BYOB read pending at EOF settles done (openConnection over TCP)", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const size = 4 * 1024 * 1024 + 5;
  const serving = (async () => {
    const conn = await listener.accept();
    const data = new Uint8Array(size).fill(7);
    for (let o = 0; o < data.length;) o += await conn.write(data.subarray(o));
    conn.close();
  })();
  const { readable, transport } = await openConnection(listener.addr);
  assertEquals(await within(readAllByob(readable, 64 * 1024), 5000, "the BYOB read loop"), size);
  await serving;
  transport.close();
  await transport.closed;
});

Deno.test("BYOB read pending when the connection is lost settles done", async () => {
  const client = new StreamProtocol();
  const server = new StreamProtocol();
  const [ct, st] = createMemoryTransportPair(client, server);
  const reader = client.readable.getReader({ mode: "byob" });
  const pending = reader.read(new Uint8Array(16));
  ct.abort(); // connectionLost(undefined) with the read pending
  const result = await within(pending, 2000, "the pending BYOB read");
  assertEquals(result.done, true);
  reader.releaseLock();
  st.close(); // the peer's protocol keeps its side open after our end of stream
  await Promise.all([ct.closed, st.closed]);
});
