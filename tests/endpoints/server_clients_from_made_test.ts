/**
 * A protocol that calls `closeClients()` or `abortClients()` from its `connectionMade` (an
 * admin connection, a limit) ends its own connection too: the transport calls `connectionMade`
 * from its constructor, and the server tracked the connection only after it.
 */
import { assertEquals } from "@std/assert";
import { createConnection, createServer, type Server } from "@plexus/net/endpoints";
import type { Protocol } from "@plexus/net/transport";

for (const op of ["abortClients", "closeClients"] as const) {
  Deno.test(`server.${op}() from connectionMade ends the connection being made`, async () => {
    const server: Server<Protocol> = await createServer((): Protocol => ({
      connectionMade() {
        server[op]();
      },
      dataReceived() {},
    }), "127.0.0.1:0");
    const client = await createConnection(() => ({ dataReceived() {} }), server.addresses[0]);
    // A guard against a hang only (the connection stayed open): it fails the test.
    let guard: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      client.transport.closed.then(() => "closed"),
      new Promise<string>((resolve) => guard = setTimeout(() => resolve("still open"), 2000)),
    ]);
    clearTimeout(guard);
    client.transport.abort();
    await server.shutdown({ timeout: 100 });
    assertEquals(outcome, "closed");
    assertEquals(server.stats().active, 0);
  });
}
