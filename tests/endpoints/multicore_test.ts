import { assert } from "../_assert.ts";
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
