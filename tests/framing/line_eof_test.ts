import { assertEquals, assertThrows } from "@std/assert";
import { assertInstanceOf } from "../_assert.ts";
import {
  FramedProtocol,
  FrameTooLongError,
  LineFramer,
  TruncatedFrameError,
} from "@plexus/net/framing";
import { StreamTransport } from "@plexus/net/transport";
import { bytes, decodeChunks, splits, text } from "./_helpers.ts";

const cases: [string, string[], { stripDelimiter?: boolean; discardTooLong?: boolean }?][] = [
  ["one\ntwo\r\nlast", ["one", "two", "last"]],
  ["one\nlast\r", ["one", "last"]],
  ["one\n", ["one"]],
  ["", []],
  ["x\nend", ["x\n", "end"], { stripDelimiter: false }],
  // A trailing "\r" does not count against maxLength (8), stripped or not, as in decode().
  ["x\n12345678\r", ["x\n", "12345678\r"], { stripDelimiter: false }],
  ["much too long\nshort\ntail", ["short", "tail"], { discardTooLong: true }],
];

Deno.test("line framer with allowUnterminated: the last line needs no line ending, in every split", () => {
  for (const [input, expected, options] of cases) {
    for (const chunks of splits(bytes(input))) {
      const framer = new LineFramer({ allowUnterminated: true, maxLength: 8, ...options });
      assertEquals(decodeChunks(framer, chunks).map(text), expected, `${JSON.stringify(input)}`);
    }
  }
});

Deno.test("line framer: without allowUnterminated the last line is truncated; maxLength holds", () => {
  assertThrows(() => decodeChunks(new LineFramer(), [bytes("one\ntwo")]), TruncatedFrameError);
  assertThrows(
    () => decodeChunks(new LineFramer({ allowUnterminated: true, maxLength: 3 }), [bytes("abcd")]),
    FrameTooLongError,
    "length 4 exceeds maxLength 3",
  );
});

Deno.test("a framed connection gets the unterminated last line from a peer process", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // The peer: another process that sends two lines, the second without a line ending, and closes.
  const peer = new Deno.Command("python3", {
    args: [
      "-c",
      `import socket
s = socket.create_connection(("127.0.0.1", ${listener.addr.port}))
s.sendall(b"first\\nno newline at the end")
s.close()`,
    ],
  }).spawn();
  const lines: string[] = [];
  const framed = new FramedProtocol(new LineFramer({ allowUnterminated: true }), {
    frameReceived: (line) => void lines.push(text(line)),
  });
  new StreamTransport(await listener.accept(), framed);
  assertEquals(await framed.closed, undefined);
  assertEquals(lines, ["first", "no newline at the end"]);
  assertEquals((await peer.status).success, true);

  // The same without the option: the connection ends with the truncated line.
  const strict = new FramedProtocol(new LineFramer(), { frameReceived: () => {} });
  const again = new Deno.Command("python3", {
    args: [
      "-c",
      `import socket
s = socket.create_connection(("127.0.0.1", ${listener.addr.port}))
s.sendall(b"cut")
s.close()`,
    ],
  }).spawn();
  new StreamTransport(await listener.accept(), strict);
  assertInstanceOf(await strict.closed, TruncatedFrameError);
  await again.status;
});
