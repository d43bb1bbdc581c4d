/** From a review round: the test that found the bug, failing without its fix. */

import { assertEquals } from "@std/assert";
import { LineFramer, MessageProtocol } from "@plexus/net/framing";
import {
  createMemoryTransportPair,
  type DeadlineError,
  type Transport,
} from "@plexus/net/transport";

async function outcome(server: MessageProtocol<Uint8Array>, client: Transport): Promise<string> {
  const { promise, resolve } = Promise.withResolvers<string>();
  const guard = setTimeout(() => resolve("still open after 1 s"), 1000);
  server.closed.then((error) => {
    clearTimeout(guard);
    resolve((error as DeadlineError | undefined)?.limit ?? String(error));
  });
  const result = await promise;
  if (result === "still open after 1 s") client.abort();
  await server.closed;
  return result;
}

Deno.test("MessageProtocol: a frame that stalls after its first bytes is cut by frameTimeout", async () => {
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer(),
    messageHandler() {},
  });
  let client: Transport | undefined;
  const [, ct] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived() {},
  }, { transport: { deadlines: { frameTimeout: 150 } } });
  client!.write(new TextEncoder().encode("one\ntw")); // a line, then part of one, then silence
  assertEquals(await outcome(server, client!), "frameTimeout");
  await ct.closed;
});

Deno.test("MessageProtocol: a peer that never sends a whole frame is cut by firstFrameTimeout", async () => {
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer(),
    messageHandler() {},
  });
  let client: Transport | undefined;
  const [, ct] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived() {},
  }, { transport: { deadlines: { firstFrameTimeout: 150 } } });
  assertEquals(await outcome(server, client!), "firstFrameTimeout");
  await ct.closed;
});
