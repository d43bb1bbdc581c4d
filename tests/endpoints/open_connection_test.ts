import { assertEquals, assertRejects } from "@std/assert";
import { assert } from "../_assert.ts";
import { createServer, openConnection } from "@plexus/net/endpoints";
import type { Protocol } from "@plexus/net/transport";

/** A server whose connections never read: what a client writes piles up. */
function deaf(): Promise<AsyncDisposable & { addresses: Deno.Addr[]; abortClients(): void }> {
  return createServer((): Protocol => ({
    connectionMade: (t) => t.pauseReading(),
    dataReceived: () => {},
  }), "127.0.0.1:0");
}

/** More than the loopback socket buffers take: the write stays above the watermark. */
const HUGE = 64 * 1024 * 1024;

Deno.test("openConnection: writer.abort() during a write held by flow control aborts at once", async () => {
  await using server = await deaf();
  const { writable, readable, transport } = await openConnection(server.addresses[0]);
  const writer = writable.getWriter();
  const writing = writer.write(new Uint8Array(HUGE));
  writing.catch(() => {});
  // The sink's write runs from a microtask; then it waits for resumeWriting().
  for (let i = 0; i < 100 && transport.getWriteBufferSize() === 0; i++) await Promise.resolve();
  assert(transport.getWriteBufferSize() > 0, "the write is in flight");
  const reason = new Error("give up");
  const aborting = writer.abort(reason);
  aborting.catch(() => {});
  const closing = transport.isClosing();
  // Without the fix the abort waits for that write forever: free it so the test can end.
  if (!closing) transport.abort();
  assert(closing, "writer.abort() aborts the connection, not after the held write");
  await aborting;
  await assertRejects(() => writing, Error, "give up");
  assertEquals(await transport.closed, reason);
  await assertRejects(() => readable.getReader().read(), Error, "give up");
  server.abortClients();
});

Deno.test("openConnection: writer.abort() during a close() waiting for its flush aborts at once", async () => {
  await using server = await deaf();
  const { writable, transport } = await openConnection(server.addresses[0]);
  const writer = writable.getWriter();
  await writer.ready;
  transport.write(new Uint8Array(HUGE)); // underneath the stream: its close() must flush it
  const closing = writer.close();
  closing.catch(() => {});
  for (let i = 0; i < 100 && transport.getWriteBufferSize() > 0; i++) await Promise.resolve();
  assert(transport.getWriteBufferSize() > 0, "the close waits for the flush");
  const aborting = writer.abort(new Error("give up"));
  aborting.catch(() => {}); // rejects: the close in flight failed
  const aborted = transport.isClosing();
  if (!aborted) transport.abort();
  assert(aborted, "writer.abort() aborts the connection, not after the pending close");
  await assertRejects(() => aborting, Error, "give up");
  await assertRejects(() => closing, Error);
  await transport.closed;
  server.abortClients();
});
