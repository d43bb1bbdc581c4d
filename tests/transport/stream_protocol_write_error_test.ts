/** The Web Streams face: a writable errored by a write the transport refused still ends the connection. */

import { assertRejects } from "@std/assert";
import { assertInstanceOf } from "../_assert.ts";
import { createMemoryTransportPair, StreamProtocol } from "@plexus/net/transport";

Deno.test("StreamProtocol: a write the transport refuses aborts the connection (it was left half-open for ever)", async () => {
  const ours = new StreamProtocol();
  const [transport, peer] = createMemoryTransportPair(ours, { dataReceived() {} });
  const writer = ours.writable.getWriter();
  // Not bytes: transport.write() throws, and the writable is errored for good.
  await assertRejects(() => writer.write("hello" as unknown as Uint8Array), TypeError);
  assertInstanceOf(await transport.closed, TypeError);
  await peer.closed;
});
