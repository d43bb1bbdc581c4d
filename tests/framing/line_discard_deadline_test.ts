/** From a review round: the test that found the bug, failing without its fix. */

import { assertEquals } from "@std/assert";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { trickleUntilCut } from "./_helpers.ts";

Deno.test("line framer with discardTooLong: an over-long line trickled without end is cut by frameTimeout", async () => {
  const lines: string[] = [];
  const server = new FramedProtocol(new LineFramer({ maxLength: 8, discardTooLong: true }), {
    frameReceived: (line) => void lines.push(new TextDecoder().decode(line)),
  });
  // A line, then one too long, then one byte of it at a time, never a line feed.
  const outcome = await trickleUntilCut(server, new TextEncoder().encode("ok\n" + "x".repeat(20)));
  assertEquals(lines, ["ok"]);
  assertEquals(outcome, "frameTimeout");
});
