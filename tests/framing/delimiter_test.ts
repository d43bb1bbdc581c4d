import { assertEquals, assertThrows } from "@std/assert";
import {
  CorruptFrameError,
  decodeFrames,
  DelimiterFramer,
  encodeFrame,
  FrameTooLongError,
  ReceiveBuffer,
  TruncatedFrameError,
} from "@plexus/net/framing";
import {
  assertEverySplit,
  bytes,
  concat,
  decodeChunks,
  prng,
  randomBytes,
  splits,
  text,
} from "./_helpers.ts";

const texts = (frames: Uint8Array[]) => frames.map(text);

/**
 * The rule, written the slow and obvious way over a whole stream: a frame ends where the first
 * delimiter starts; of the delimiters starting there, the longest matching one is taken.
 * Returns the frames and the count of bytes left after the last delimiter.
 */
function reference(delimiters: Uint8Array[], input: Uint8Array): [Uint8Array[], number] {
  const frames: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < input.length; i++) {
    let best = 0;
    for (const d of delimiters) {
      if (d.length > best && d.every((b, j) => input[i + j] === b)) best = d.length;
    }
    if (best > 0) {
      frames.push(input.slice(start, i));
      start = i + best;
      i = start - 1;
    }
  }
  return [frames, input.length - start];
}

/** The frames decoded from `chunks`, and the bytes a TruncatedFrameError reported (or 0). */
function decodeWithLeftover(
  framer: DelimiterFramer,
  chunks: Uint8Array[],
): [string[], number] {
  const frames: string[] = [];
  try {
    decodeChunks(framer, chunks, (frame) => frames.push(text(frame)));
    return [frames, 0];
  } catch (error) {
    if (!(error instanceof TruncatedFrameError)) throw error;
    return [frames, error.leftover];
  }
}

Deno.test("delimiter framer frames do not depend on the split when one delimiter is a prefix of another", () => {
  for (const delimiters of [["\r\n", "\r"], ["\r", "\r\n"]]) {
    assertEverySplit(
      () => new DelimiterFramer({ delimiters: delimiters.slice() }),
      bytes("a\r\nb\r\n"),
      ["a", "b"].map(bytes),
    );
    assertEverySplit(
      () => new DelimiterFramer({ delimiters }),
      bytes("a\rb\r\nc\r\r\r\n\r"),
      ["a", "b", "c", "", "", ""].map(bytes),
    );
  }
  assertEverySplit(
    () => new DelimiterFramer({ delimiters: ["ab", "abc"] }),
    bytes("xabcyabc"),
    ["x", "y"].map(bytes),
  );
});

Deno.test("delimiter framer frames do not depend on the split when one delimiter is inside another", () => {
  assertEverySplit(
    () => new DelimiterFramer({ delimiters: ["xay", "a"] }),
    bytes("12xay3a"),
    ["12", "3"].map(bytes),
  );
  assertEverySplit(
    () => new DelimiterFramer({ delimiters: ["a", "xay"] }),
    bytes("12xay3axaa"),
    ["12", "3", "x", ""].map(bytes),
  );
  assertEverySplit(
    () => new DelimiterFramer({ delimiters: ["b", "abc"], stripDelimiter: false }),
    bytes("zabcqbzb"),
    ["zabc", "qb", "zb"].map(bytes),
  );
});

Deno.test("delimiter framer waits for the byte that could extend a delimiter, and takes it at end of stream", () => {
  const framer = new DelimiterFramer({ delimiters: ["\r", "\r\n"] });
  const buffer = new ReceiveBuffer();
  buffer.append(bytes("a\r"));
  assertEquals(framer.decode(buffer), undefined);
  assertEquals(buffer.length, 2, "nothing consumed while waiting");
  assertEquals(texts([framer.decodeEof(buffer)!]), ["a"]);
  assertEquals(buffer.length, 0);
  assertEquals(
    texts(decodeFrames(new DelimiterFramer({ delimiters: ["xay", "a"] }), bytes("12xa"))),
    [
      "12x",
    ],
  );
});

Deno.test("delimiter framer matches a reference decoder for random delimiter sets in every split", () => {
  const random = prng(2024);
  const alphabet = bytes("abc;");
  const pick = (n: number) =>
    Uint8Array.from({ length: n }, () => alphabet[Math.floor(random() * alphabet.length)]);
  for (let round = 0; round < 300; round++) {
    const delimiters = Array.from(
      { length: 1 + Math.floor(random() * 3) },
      () => pick(1 + Math.floor(random() * 3)),
    );
    const input = pick(Math.floor(random() * 14));
    const [frames, leftover] = reference(delimiters, input);
    const expected: [string[], number] = [texts(frames), leftover];
    const context = `delimiters ${JSON.stringify(delimiters.map(text))}, input ${
      JSON.stringify(text(input))
    }`;
    for (const chunks of splits(input)) {
      assertEquals(
        decodeWithLeftover(new DelimiterFramer({ delimiters }), chunks),
        expected,
        `${context}, split ${chunks.map((c) => c.length).join("+")}`,
      );
    }
  }
});

Deno.test("delimiter framer decodes 4 MiB built to make a rescanning decoder quadratic", () => {
  const size = 4 * 1024 * 1024;
  // ";" starts the first delimiter everywhere but never completes it.
  const semicolons = new Uint8Array(size);
  for (let i = 0; i < size; i += 2) semicolons.set([0x3b, 0x0a], i);
  // A long delimiter listed first that matches nearly to its end, and never whole.
  const unit = bytes("abcdefg\n");
  const nearMisses = new Uint8Array(size);
  for (let i = 0; i < size; i += unit.length) nearMisses.set(unit, i);
  const cases: [string[], Uint8Array, number][] = [
    [[";;", "\n"], semicolons, size / 2],
    [["\n", ";;"], semicolons, size / 2],
    [["abcdefgh", "\n"], nearMisses, size / unit.length],
    [["abcdefgh", "x", "\n"], nearMisses, size / unit.length],
  ];
  for (const [delimiters, input, count] of cases) {
    for (const read of [8 * 1024, size]) {
      // Count frames without keeping them (2M frames): reads of `read` bytes, as a transport.
      const framer = new DelimiterFramer({ delimiters });
      const buffer = new ReceiveBuffer();
      let frames = 0;
      for (let at = 0; at < size; at += read) {
        buffer.append(input.subarray(at, at + read));
        while (framer.decode(buffer) !== undefined) frames++;
      }
      assertEquals(buffer.length, 0);
      assertEquals(frames, count, `${JSON.stringify(delimiters)} in reads of ${read}`);
    }
  }
});

Deno.test("delimiter framer refuses a frame as soon as no delimiter can start within maxFrameLength", () => {
  const make = () => new DelimiterFramer({ delimiters: ["||", "\n"], maxFrameLength: 4 });
  assertEquals(texts(decodeChunks(make(), [bytes("abcd||abcd\n")])), ["abcd", "abcd"]);
  // "abcd|" may still be "abcd" and a delimiter: wait (and at end of stream, truncated).
  assertThrows(() => decodeChunks(make(), [bytes("abcd|")]), TruncatedFrameError, "5 bytes");
  // Five bytes with no delimiter start: too long, whatever comes next.
  assertThrows(
    () => decodeChunks(make(), [bytes("abcde")]),
    FrameTooLongError,
    "Cannot decode frame: length 5 exceeds maxFrameLength 4",
  );
  // The delimiter is already buffered: the message names the frame's length.
  assertThrows(
    () => decodeChunks(make(), [bytes("abcdefg||")]),
    FrameTooLongError,
    "length 7 exceeds maxFrameLength 4",
  );
  // A refused frame is found by scanning at most maxFrameLength + 1 positions per call.
  assertThrows(
    () => decodeChunks(make(), [bytes("abcde"), bytes("||")]),
    FrameTooLongError,
    "length 5 exceeds",
  );
});

Deno.test("delimiter framer refuses to encode a frame that would not decode as itself", () => {
  const framer = new DelimiterFramer({ delimiters: ["aba", ";"] });
  assertEquals(text(encodeFrame(framer, bytes("xx"))), "xxaba");
  // "ab" + "aba" reads as "" + "aba" + "ba...": the frame would change.
  assertThrows(() => encodeFrame(framer, bytes("ab")), CorruptFrameError, "delimiter at offset 0");
  assertThrows(() => encodeFrame(framer, bytes("x;y")), CorruptFrameError, "delimiter at offset 1");
  for (const frame of ["", "b", "ba", "abx", "xab;"].map(bytes)) {
    let wire: Uint8Array;
    try {
      wire = encodeFrame(framer, frame);
    } catch (error) {
      if (error instanceof CorruptFrameError) continue;
      throw error;
    }
    assertEquals(decodeFrames(new DelimiterFramer({ delimiters: ["aba", ";"] }), wire), [frame]);
  }
  // The next frame could extend "\r" into "\r\n": no frame can be encoded safely.
  assertThrows(
    () => encodeFrame(new DelimiterFramer({ delimiters: ["\r", "\r\n"] }), bytes("a")),
    RangeError,
    'the first delimiter "\\r" is part of the longer delimiter "\\r\\n"',
  );
  const out = new DelimiterFramer({ delimiters: ["\r\n", "\r"] });
  assertEquals(text(encodeFrame(out, bytes("a"))), "a\r\n");
});

Deno.test("delimiter framer round-trips random frames in every split", () => {
  const random = prng(99);
  const delimiters = ["\r\n", "\0\0", "x"];
  const frames: Uint8Array[] = [];
  const wire: Uint8Array[] = [];
  while (frames.length < 30) {
    const frame = randomBytes(random, Math.floor(random() * 12)).map((b) => b % 16 === 0 ? 0 : b);
    try {
      wire.push(encodeFrame(new DelimiterFramer({ delimiters }), frame));
      frames.push(frame);
    } catch (error) {
      if (!(error instanceof CorruptFrameError)) throw error;
    }
  }
  assertEverySplit(() => new DelimiterFramer({ delimiters }), concat(wire), frames);
});
