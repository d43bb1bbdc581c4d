/** A `StreamProtocol` writer hears of a write the transport refused for its write cap. */
import { assertRejects } from "@std/assert";
import {
  createMemoryTransportPair,
  StreamProtocol,
  WriteBufferOverflowError,
} from "@plexus/net/transport";

Deno.test("StreamProtocol: a write refused by maxWriteBuffer rejects (its bytes were dropped)", async () => {
  const a = new StreamProtocol();
  const b = new StreamProtocol();
  const [ta, tb] = createMemoryTransportPair(a, b, { transport: { maxWriteBuffer: 1000 } });
  const writer = a.writable.getWriter();
  await assertRejects(() => writer.write(new Uint8Array(2000)), WriteBufferOverflowError);
  await ta.closed;
  await b.readable.cancel();
  await b.writable.close().catch(() => {});
  await tb.closed;
});
