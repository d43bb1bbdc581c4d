/** Extensions under packetGrace and late acceptance: keep-alive pings and the trace-context offer. */

import { assertEquals } from "@std/assert";
import { PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { connectedPair } from "./_helpers.ts";

/** Whether `client` is still alive after `ms` (bounded: a live connection stays open). */
async function aliveAfter(client: PacketConnection, ms: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const verdict = await Promise.race([
    client.closed.then((e) => `closed: ${e?.message}`),
    new Promise<string>((resolve) => timer = setTimeout(() => resolve("alive"), ms)),
  ]);
  clearTimeout(timer);
  return verdict;
}

Deno.test("keep-alive: a ping held by our own packetGrace is not held against a live peer", async () => {
  const [server, client] = connectedPair(
    { extensions: true, requestHandler: () => "ok" },
    { extensions: true, keepAlive: 40, packetGrace: 60 },
  );
  assertEquals(await client.extensions, true);
  assertEquals(await aliveAfter(client, 400), "alive"); // ~10 keep-alive periods, idle
  await client.close();
  await server.closed;
});

Deno.test("keep-alive: the peer's answer to a ping is not held by the peer's packetGrace", async () => {
  const [server, client] = connectedPair(
    { extensions: true, requestHandler: () => "ok", packetGrace: 60 },
    { extensions: true, keepAlive: 40 },
  );
  assertEquals(await client.extensions, true);
  assertEquals(await aliveAfter(client, 400), "alive");
  await client.close();
  await server.closed;
});

Deno.test("telemetry: no extension request goes out after our EOF", async () => {
  const sent: string[] = [];
  const a = new PacketConnection({
    extensions: true,
    telemetry: true,
    trace: (e) => {
      if (e.direction !== "send") return;
      const p = e.packet;
      sent.push(p.isRequest ? `rq ${p.userRqType}/${p.flags} tag ${p.tag}` : `rs ${p.tag}`);
    },
  });
  const b = new PacketConnection({ extensions: true, telemetry: true });
  createMemoryTransportPair(a, b);
  await a.close();
  await b.closed;
  const eof = sent.indexOf("rq -1/0 tag 0");
  assertEquals(sent.slice(eof + 1).filter((s) => s.startsWith("rq")), [], "requests after EOF");
});
