/** From a review round: the test that found the bug, failing without its fix. */

import { assertEquals } from "@std/assert";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import {
  createMemoryTransportPair,
  type DeadlineError,
  type Transport,
} from "@plexus/net/transport";

Deno.test("line framer with discardTooLong: an over-long line trickled without end is cut by frameTimeout", async () => {
  const lines: string[] = [];
  const server = new FramedProtocol(new LineFramer({ maxLength: 8, discardTooLong: true }), {
    frameReceived: (line) => void lines.push(new TextDecoder().decode(line)),
  });
  let client: Transport | undefined;
  const [, clientTransport] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived() {},
  }, { transport: { deadlines: { frameTimeout: 150 } } });
  client!.write(new TextEncoder().encode("ok\n" + "x".repeat(20))); // a line, then one too long
  // Then one byte of the same line every 30 ms, never a line feed: no frame ever completes.
  let sent = 0;
  const { promise: settled, resolve } = Promise.withResolvers<string>();
  const trickle = setInterval(() => {
    if (++sent > 40) { // 1.2 s, 8 times frameTimeout
      clearInterval(trickle);
      resolve("never cut");
      return;
    }
    client!.write(new TextEncoder().encode("x"));
  }, 30);
  server.closed.then((error) => {
    clearInterval(trickle);
    resolve((error as DeadlineError | undefined)?.limit ?? String(error));
  });
  const outcome = await settled;
  if (outcome === "never cut") client!.abort();
  await server.closed;
  await clientTransport.closed;
  assertEquals(lines, ["ok"]);
  assertEquals(outcome, "frameTimeout");
});
