/**
 * FrameDecoderStream: a read that was pending and released (releaseLock) leaves `wanted`
 * set; the next frame is then enqueued into the readable's queue, and a decoder error right
 * after it (same chunk) errors the readable, which empties that queue: the frame decoded
 * before the bad bytes is lost, against the class doc ("A decoder error comes after the
 * frames decoded before the bad bytes, whenever the reader takes them").
 */
import { assertEquals } from "@std/assert";
import { FrameDecoderStream, LineFramer } from "@plexus/net/framing";

Deno.test("a frame before a decoder error survives a released pending read", async () => {
  const stream = new FrameDecoderStream(new LineFramer({ maxLength: 4 }));
  const first = stream.readable.getReader();
  const pending = first.read().catch(() => undefined); // e.g. raced with a timeout
  await Promise.resolve();
  first.releaseLock();
  await pending;
  const writer = stream.writable.getWriter();
  writer.write(new TextEncoder().encode("a\nbbbbbbbbbbbb\n")).catch(() => {});
  const reader = stream.readable.getReader();
  const got: string[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got.push(new TextDecoder().decode(value));
    }
  } catch (error) {
    got.push((error as Error).name);
  }
  assertEquals(got, ["a", "FrameTooLongError"]);
});
