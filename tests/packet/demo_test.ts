import { assertEquals } from "@std/assert";
import { packetDemo } from "../../examples/demo/packet.ts";

Deno.test("the packet demo runs both directions over TCP and TLS and closes everything", async () => {
  const lines: string[] = [];
  await packetDemo((line) => lines.push(line));
  assertEquals(lines.length, 6);
  assertEquals(lines.filter((l) => l.includes('you said "ping"')).length, 2);
  assertEquals(lines.filter((l) => l.includes("closed in order")).length, 2);
});
