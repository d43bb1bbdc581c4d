/**
 * FrameDecoderStream delivers the frames decoded before a decoder error (or a truncated tail),
 * whenever the reader takes them, then the error — even when no more input ever comes. A
 * TransformStream lost them (erroring its readable emptied its queue) or never said the error.
 */
import { assertEquals } from "@std/assert";
import { assertInstanceOf } from "../_assert.ts";
import {
  FrameDecoderStream,
  FrameTooLongError,
  LineFramer,
  TruncatedFrameError,
} from "@plexus/net/framing";

const encode = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("through a pipe, a reader that takes its time still gets every frame before the error", async () => {
  const frames = ReadableStream.from([encode("a\nb\nc\npartial")])
    .pipeThrough(new FrameDecoderStream(new LineFramer({ lineEnding: "\n" })));
  const lines: string[] = [];
  let error: unknown;
  try {
    for await (const line of frames) {
      lines.push(decode(line));
      // Handling the frame takes a few turns (I/O, say): the pipe closes the input meanwhile.
      for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
  } catch (e) {
    error = e;
  }
  assertEquals(lines, ["a", "b", "c"]);
  assertInstanceOf(error, TruncatedFrameError);
});

/** Writes `input`, closes, then reads everything: the frames and the error. */
async function writeThenRead(
  stream: FrameDecoderStream,
  input: string,
): Promise<[string[], unknown]> {
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  const first = reader.read();
  await writer.write(encode(input)).catch(() => {});
  const closing = writer.close().catch((e) => e);
  const got: string[] = [];
  try {
    const r = await first;
    if (!r.done) got.push(decode(r.value));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      got.push(decode(value));
    }
  } catch (e) {
    await closing;
    return [got, e];
  }
  await closing;
  return [got, undefined];
}

Deno.test("frames before a decoder error survive the writable's close", async () => {
  const long = await writeThenRead(
    new FrameDecoderStream(new LineFramer({ lineEnding: "\n", maxLength: 8 })),
    "a\nb\nc\nTOO-LONG-LINE\n",
  );
  assertEquals(long[0], ["a", "b", "c"]);
  assertInstanceOf(long[1], FrameTooLongError);
  const cut = await writeThenRead(
    new FrameDecoderStream(new LineFramer({ lineEnding: "\n" })),
    "a\nb\nc\npartial",
  );
  assertEquals(cut[0], ["a", "b", "c"]);
  assertInstanceOf(cut[1], TruncatedFrameError);
});

Deno.test("a decoder error after queued frames reaches the reader without more input", async () => {
  const stream = new FrameDecoderStream(new LineFramer({ lineEnding: "\n", maxLength: 8 }));
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  const first = reader.read();
  // The producer then goes quiet (a peer that sent garbage and waits).
  const written = writer.write(encode("a\nb\nTOO-LONG-LINE\n")).catch((e) => e);
  assertEquals(decode((await first).value!), "a");
  assertEquals(decode((await reader.read()).value!), "b");
  const error = await reader.read().then(() => "a frame or the end", (e) => e);
  assertInstanceOf(error, FrameTooLongError);
  assertInstanceOf(await written, FrameTooLongError); // the write that met it rejects too
  writer.releaseLock();
});
