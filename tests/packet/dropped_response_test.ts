/**
 * A response the transport drops (it was closed under the connection, by a server's
 * `closeClients()` or an idle cut) is neither traced as sent nor counted as served.
 */
import { assertEquals } from "@std/assert";
import { PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair, subscribe } from "@plexus/net/transport";

Deno.test("a response dropped by a closing transport is neither traced as sent nor counted as served", async () => {
  const running = Promise.withResolvers<void>();
  const answer = Promise.withResolvers<string>();
  const server = new PacketConnection({
    name: "server",
    requestHandler: () => {
      running.resolve();
      return answer.promise;
    },
  });
  const client = new PacketConnection({ name: "client" });
  createMemoryTransportPair(server, client);
  const reply = client.call(0).catch((error) => error);
  await running.promise;
  const sent: string[] = [];
  using _ = subscribe({
    frame: (e) => {
      if (e.direction === "send") sent.push(`${e.name} ${e.bytes?.byteLength}`);
    },
    packet: (e) => {
      if (e.direction === "send") sent.push(`${e.name} ${e.text}`);
    },
  });
  server.transport!.close(); // the transport is closing under the connection
  answer.resolve("late"); // the handler answers now: the transport drops it
  await Promise.all([server.closed, client.closed]);
  await reply;
  assertEquals(server.transport!.stats!().bytesSent, 0);
  assertEquals(sent, []);
  assertEquals(server.stats().requestsServed, 0);
});
