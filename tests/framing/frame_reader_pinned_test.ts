import { assertEquals, assertThrows } from "@std/assert";
import { FrameReader } from "../../framing/_frame_reader.ts";
import type { DeadlineClock } from "../../transport/deadline_clock.ts";
import { LineFramer, TruncatedFrameError } from "@plexus/net/framing";
import { createMemoryTransportPair, subscribe } from "@plexus/net/transport";
import { bytes, text } from "./_helpers.ts";

/** A reader over lines, recording the frames and the progress reports. */
function lineReader(mayGoOn?: () => boolean) {
  const frames: string[] = [];
  const reports: [boolean, boolean][] = [];
  const reader = new FrameReader(new LineFramer(), (f) => void frames.push(text(f)), mayGoOn);
  reader.clock = {
    progress: (completed: boolean, partial: boolean) => void reports.push([completed, partial]),
  } as unknown as DeadlineClock;
  return { reader, frames, reports };
}

for (const traced of [false, true]) {
  const how = traced ? "traced" : "plain";
  Deno.test(`frame reader (${how}) reports each read's progress and whether the decoder needs more`, async () => {
    using _subscription = traced ? subscribe({ frame() {} }) : undefined;
    const [st, ct] = createMemoryTransportPair({ dataReceived() {} }, { dataReceived() {} });
    let room = 10;
    const { reader, frames, reports } = lineReader(() => room > 0);
    reader.transport = st;
    reader.buffer.append(bytes("a\r\nb\r\npar"));
    assertEquals(reader.read(), true, "drained: the decoder needs more bytes");
    assertEquals(frames, ["a", "b"]);
    assertEquals(reader.frames, 2);
    assertEquals(reports.at(-1), [true, true], "frames completed, part of one left");
    reader.buffer.append(bytes("t"));
    assertEquals(reader.read(), true);
    assertEquals(reports.at(-1), [false, true], "no frame completed, still partial");
    reader.buffer.append(bytes("\r\nc\r\n"));
    assertEquals(reader.read(), true);
    room = 0;
    reader.buffer.append(bytes("d\r\n"));
    assertEquals(reader.read(), false, "stopped by mayGoOn()");
    assertEquals(reports.at(-1), [false, false], "a whole frame held back is not under way");
    room = 10;
    assertEquals(reader.read(), true);
    assertEquals(reports.at(-1), [true, false], "a frame completed, nothing left");
    assertEquals(frames, ["a", "b", "part", "c", "d"]);
    assertEquals(reader.frames, 5);
    // A frame under way with none of its bytes buffered (the decoder says so).
    (reader.decoder as { frameUnderway?: () => boolean }).frameUnderway = () => true;
    reader.read();
    assertEquals(reports.at(-1), [false, true]);
    ct.close();
    await st.closed;
  });
}

Deno.test("frame reader finish() decodes the last frames with decodeEof, then reports leftovers", () => {
  const frames: string[] = [];
  const reader = new FrameReader(new LineFramer({ allowUnterminated: true }), (f) => {
    frames.push(text(f));
  });
  reader.buffer.append(bytes("a\r\nlast"));
  assertEquals(reader.finish(), true);
  assertEquals(frames, ["a", "last"], "decodeEof gives the unterminated last line");
  assertEquals(reader.frames, 2);
  const strict = new FrameReader(new LineFramer(), () => {});
  strict.buffer.append(bytes("cut"));
  const error = assertThrows(() => strict.finish(), TruncatedFrameError);
  assertEquals(error.leftover, 3);
  const paused = new FrameReader(new LineFramer(), () => {}, () => false);
  paused.buffer.append(bytes("x\r\n"));
  assertEquals(paused.finish(), false, "stopped by mayGoOn(): to be called again");
});

Deno.test("FrameReader: the truncation at end of stream names the decoder's class", () => {
  const line = new FrameReader(new LineFramer(), () => {});
  line.buffer.append(bytes("cut"));
  assertEquals(
    assertThrows(() => line.finish(), TruncatedFrameError).message,
    "Cannot decode frame (LineFramer): the stream ended with 3 bytes of an incomplete frame",
  );
  // A decoder made as a plain object has no class to name.
  const pairs = new FrameReader({
    decode: (buffer) => buffer.length >= 2 ? buffer.take(2) : undefined,
  }, () => {});
  pairs.buffer.append(bytes("abc"));
  assertEquals(
    assertThrows(() => pairs.finish(), TruncatedFrameError).message,
    "Cannot decode frame: the stream ended with 1 bytes of an incomplete frame",
  );
});
