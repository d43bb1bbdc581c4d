/**
 * A response that cannot be written at all (the transport under the connection was
 * half-closed) is reported to `onHandlerError`, never thrown on: from an async handler the
 * throw was an unhandled rejection, which ends the process.
 */
import { assertEquals } from "@std/assert";
import { PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair } from "@plexus/net/transport";

Deno.test("an async handler's unwritable response is reported, not thrown", async () => {
  const reported: string[] = [];
  const server = new PacketConnection({
    requestHandler: async (_rqType, _flags, _payload, { connection }) => {
      await Promise.resolve();
      connection.transport!.writeEof(); // misuse: no packet can follow
      return "answer";
    },
    onHandlerError: (error) => void reported.push(String(error)),
  });
  const client = new PacketConnection();
  createMemoryTransportPair(server, client);
  const answer = await client.call(1, "q").catch((error) => error);
  client.abort();
  server.abort();
  await Promise.all([client.closed, server.closed]);
  assertEquals(reported, ["TransportError: Cannot write after writeEof()"]);
  assertEquals(answer instanceof Error, true);
});
