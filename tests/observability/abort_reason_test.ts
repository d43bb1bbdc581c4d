import { assertEquals } from "@std/assert";
import {
  createMemoryTransportPair,
  DeadlineError,
  WriteBufferOverflowError,
} from "@plexus/net/transport";

Deno.test("abort() is 'abort'; a layer aborting with an error reports the error's reason", async () => {
  const cases: [Error | undefined, string][] = [
    [undefined, "abort"],
    [new Error("a decoder failed"), "error"],
    [
      new WriteBufferOverflowError("Write buffer 2 bytes exceeds maxWriteBuffer 1", {
        size: 2,
        limit: 1,
      }),
      "overflow",
    ],
    [new DeadlineError("frameTimeout", 10), "deadline"],
  ];
  for (const [error, reason] of cases) {
    const [a, b] = createMemoryTransportPair({ dataReceived() {} }, { dataReceived() {} });
    a.abort(error);
    await a.closed;
    await b.closed;
    assertEquals(a.stats?.().closeReason, reason, String(error));
  }
});
