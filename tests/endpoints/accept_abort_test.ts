import { assertEquals } from "@std/assert";
import { acceptConnections } from "@plexus/net/endpoints";

Deno.test("acceptConnections ends when its signal aborts while accept() waits", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const controller = new AbortController();
  const accepted: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const conn of acceptConnections(listener, { signal: controller.signal })) {
      accepted.push(conn);
    }
  })();
  controller.abort(); // nothing connects: accept() is waiting
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    loop.then(() => "ended"),
    new Promise((resolve) => timer = setTimeout(() => resolve("still waiting"), 2000)),
  ]);
  clearTimeout(timer);
  assertEquals(outcome, "ended");
  // The accept() still pending brings a late client: it is closed, not leaked.
  const addr = listener.addr as Deno.NetAddr;
  using late = await Deno.connect({ hostname: addr.hostname, port: addr.port });
  assertEquals(await late.read(new Uint8Array(1)), null);
  assertEquals(accepted.length, 0);
});
