import { assertEquals } from "@std/assert";
import { framingDemo } from "../../examples/demo/framing.ts";

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
