import { assert } from "../_assert.ts";
import { assertEquals, assertStringIncludes } from "@std/assert";
import { createConnection } from "@plexus/net/endpoints";
import { startEchoWorkers } from "../../examples/multicore/main.ts";
import { Recorder } from "../_recorder.ts";

Deno.test("reusePort spreads connections over workers listening on one port", async () => {
  const group = await startEchoWorkers(2);
  const names = new Set<string>();
  // With two workers, all 40 connections landing on one of them has odds of 2^-39.
  for (let i = 0; i < 40; i++) {
    const { transport, protocol } = await createConnection(
      () => new Recorder(),
      { hostname: "127.0.0.1", port: group.port },
    );
    await protocol.until(() => protocol.text.endsWith("\n"));
    names.add(protocol.text.trim());
    transport.close();
    await transport.closed;
  }
  await group.stop();
  assert(names.size === 2, `served by ${[...names]}`);
});

Deno.test("startEchoWorkers rejects when the port is taken, and leaves no worker running", async () => {
  // In a process of its own: before the fix, the workers' errors ended the process, and the
  // workers left alive kept it from ever exiting.
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 }); // without SO_REUSEPORT
  const script = `
    import { startEchoWorkers } from "${new URL(
    "../../examples/multicore/main.ts",
    import.meta.url,
  )}";
    try {
      await startEchoWorkers(2, "127.0.0.1", ${busy.addr.port});
    } catch (error) {
      console.log("rejected:", String(error));
    }
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", new URL("../../deno.json", import.meta.url).pathname, script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => child.kill("SIGKILL"), 20_000); // a hang fails, not stalls
  const { code, stdout } = await child.output();
  clearTimeout(guard);
  assertStringIncludes(new TextDecoder().decode(stdout), "rejected: Error: Cannot listen");
  assertEquals(code, 0);
});
