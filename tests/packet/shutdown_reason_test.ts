/**
 * A server's drain timeout aborts a packet connection with the server's reason: its handlers'
 * signals and its `closed` say the shutdown timed out (they said "the connection was closed").
 */
import { createConnection, createServer } from "@plexus/net/endpoints";
import { PacketConnection } from "@plexus/net/packet";
import { assertStringIncludes } from "@std/assert";

Deno.test("a drain timeout tells the handlers and closed why the connection was aborted", async () => {
  const started = Promise.withResolvers<void>();
  const reason = Promise.withResolvers<unknown>();
  let served: PacketConnection | undefined;
  const server = await createServer(() =>
    served = new PacketConnection({
      requestHandler: (_type, _flags, _payload, { signal }) => {
        signal.addEventListener("abort", () => reason.resolve(signal.reason));
        started.resolve();
        return new Promise(() => {}); // ignores its signal
      },
    }), "127.0.0.1:0");
  const { protocol: client } = await createConnection(
    () => new PacketConnection(),
    server.addresses[0],
  );
  const call = client.call(1).catch((error) => error);
  await started.promise;
  await server.shutdown({ timeout: 50 });
  await call;
  await client.closed;
  assertStringIncludes(String(await reason.promise), "shutdown timed out after 50 ms");
  assertStringIncludes(String(await served!.closed), "shutdown timed out after 50 ms");
});
