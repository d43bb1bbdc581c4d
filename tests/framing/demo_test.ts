import { assertEquals } from "@std/assert";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { framingDemo, framingDemoServer } from "../../examples/demo/framing.ts";

Deno.test("framing demo switches to a chunk and back on loopback and closes what it opens", async () => {
  const lines: string[] = [];
  await framingDemo((line) => lines.push(line));
  assertEquals(lines.filter((l) => l.startsWith("server:")), [
    'server: line "HELO demo"',
    'server: line "DATA 5"',
    'server: chunk of 5 bytes "12345", back to lines',
    'server: line "QUIT"',
  ]);
  assertEquals(lines.filter((l) => l.startsWith("client:")).length, 4);
  assertEquals(lines.at(-1), "framing demo done");
});

Deno.test("framing demo server refuses a DATA length over its limit before sizing anything by it", async () => {
  const lines: string[] = [];
  const server = framingDemoServer((line) => lines.push(line));
  const replies: string[] = [];
  const [, client] = createMemoryTransportPair(server, {
    dataReceived: (data) => void replies.push(new TextDecoder().decode(data)),
    eofReceived: () => false,
  });
  client.write(new TextEncoder().encode("DATA 99999999999\r\nQUIT\r\n"));
  assertEquals(await server.closed, undefined);
  await client.closed;
  assertEquals(replies.join(""), "552 at most 65536 bytes\r\n221 bye\r\n");
});
