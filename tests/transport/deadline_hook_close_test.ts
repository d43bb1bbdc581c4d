/**
 * A `close()` or `abort()` from the framed layer's `limitExceeded` hook ends the connection with
 * the deadline's error and reason, as the deadline's own close does: the hook ran before the
 * transport knew the reason, so a close with nothing to flush finished as an orderly close.
 */
import { assertEquals } from "@std/assert";
import { assertInstanceOf } from "../_assert.ts";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { createMemoryChannelPair, DeadlineError, StreamTransport } from "@plexus/net/transport";

for (const how of ["close", "abort", "send, then close"] as const) {
  Deno.test(`a limitExceeded hook's ${how} keeps the DeadlineError and the reason "deadline"`, async () => {
    const [a, b] = createMemoryChannelPair();
    const peer = new StreamTransport(b, { dataReceived() {} }); // says nothing
    const framed = new FramedProtocol(new LineFramer(), {
      frameReceived() {},
      limitExceeded: (_error, f) => {
        if (how === "abort") f.transport.abort();
        else {
          if (how === "send, then close") f.sendFrame(new TextEncoder().encode("timeout"));
          f.close();
        }
      },
    });
    const transport = new StreamTransport(a, framed, { deadlines: { firstFrameTimeout: 20 } });
    assertInstanceOf(await framed.closed, DeadlineError);
    await peer.closed;
    assertEquals(transport.stats().closeReason, "deadline");
  });
}
