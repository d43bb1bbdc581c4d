/** MessageProtocol runs the transport's frame deadlines, as every framed protocol does. */

import { assertEquals } from "@std/assert";
import { LineFramer, MessageProtocol } from "@plexus/net/framing";
import {
  createMemoryTransportPair,
  type DeadlineError,
  type Deadlines,
  type Transport,
} from "@plexus/net/transport";

/**
 * A line server under `deadlines`, a client that writes `sent` and then stays silent: which
 * limit ended the connection (guarded: "still open after 1 s" when none did).
 */
async function stall(deadlines: Deadlines, sent: string): Promise<string> {
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer(),
    messageHandler() {},
  });
  let client: Transport | undefined;
  const [, ct] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived() {},
  }, { transport: { deadlines } });
  if (sent) client!.write(new TextEncoder().encode(sent));
  const { promise, resolve } = Promise.withResolvers<string>();
  const guard = setTimeout(() => resolve("still open after 1 s"), 1000);
  server.closed.then((error) => {
    clearTimeout(guard);
    resolve((error as DeadlineError | undefined)?.limit ?? String(error));
  });
  const result = await promise;
  if (result === "still open after 1 s") client!.abort();
  await server.closed;
  await ct.closed;
  return result;
}

Deno.test("MessageProtocol: a frame that stalls after its first bytes is cut by frameTimeout", async () => {
  // A line, then part of one, then silence.
  assertEquals(await stall({ frameTimeout: 150 }, "one\ntw"), "frameTimeout");
});

Deno.test("MessageProtocol: a peer that never sends a whole frame is cut by firstFrameTimeout", async () => {
  assertEquals(await stall({ firstFrameTimeout: 150 }, ""), "firstFrameTimeout");
});

Deno.test("MessageProtocol: limitExceeded tells a peer cut by a deadline why", async () => {
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer(),
    messageHandler() {},
    limitExceeded: (error, transport) => {
      transport.write(new TextEncoder().encode(`ERR ${error.limit}\r\n`));
    },
  });
  const received: string[] = [];
  const [, ct] = createMemoryTransportPair(server, {
    dataReceived: (data) => void received.push(new TextDecoder().decode(data)),
  }, { transport: { deadlines: { firstFrameTimeout: 20 } } });
  const error = await server.closed;
  await ct.closed;
  assertEquals((error as DeadlineError).limit, "firstFrameTimeout");
  assertEquals(received.join(""), "ERR firstFrameTimeout\r\n");
});
