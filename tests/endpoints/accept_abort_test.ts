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

Deno.test("a skipped (per-connection) accept failure retries accept() in the same step", async () => {
  const controller = new AbortController();
  let calls = 0;
  const reported = Promise.withResolvers<void>();
  const listener = {
    accept(): Promise<Deno.Conn> {
      calls++;
      if (calls === 1) return Promise.reject(new Deno.errors.NotConnected("reset"));
      return new Promise((_, reject) =>
        controller.signal.addEventListener(
          "abort",
          () => reject(new Deno.errors.BadResource("closed")),
        )
      );
    },
  } as unknown as Deno.Listener;
  const loop = (async () => {
    const accepted = acceptConnections(listener, {
      signal: controller.signal,
      onError: () => reported.resolve(),
    });
    for await (const _ of accepted) throw new Error("nothing to accept");
  })();
  await reported.promise;
  // "Skipped at once": by the time the reporter's continuation runs, the next accept() is
  // pending.
  controller.abort();
  await loop;
  assertEquals(calls, 2);
});
