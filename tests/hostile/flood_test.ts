/**
 * Hostile peers that flood a server with requests and never read the answers (issue 8.6).
 * The server and the flooders each run in a process of their own (`bench/soak/flood.ts`), and
 * the server's RSS is read from `/proc/<pid>/status` while they flood: it must stay bounded,
 * at CI scale (30 flooders, limits and bound scaled down); `deno task soak` runs the full
 * size (100 flooders with the default limits, under 512 MiB).
 */

import { assert } from "../_assert.ts";
import { type FloodResult, runFlood } from "../../bench/soak/flood.ts";

const FLOODERS = 30;

function check(result: FloodResult): void {
  const cutByLimit = (result.cuts.cap ?? 0) + (result.cuts.budget ?? 0) +
    (result.cuts.packet ?? 0);
  assert(cutByLimit >= FLOODERS, `flooders cut by a write buffer limit: ${JSON.stringify(result)}`);
  assert(result.ok, `peak RSS within the bound: ${JSON.stringify(result)}`);
}

Deno.test({
  name: "30 non-reading flooders against a protocol that ignores pauseWriting stay bounded",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    // Without the caps the tenfold echo grows by hundreds of MiB per second (448 MiB in the
    // 8 s before the deadline here, with no flooder ever cut).
    const result = await runFlood({
      kind: "echo",
      flooders: FLOODERS,
      rounds: 2,
      budgetMiB: 24,
      maxWriteMiB: 8,
      boundMiB: 256,
      timeoutMs: 8000,
    });
    check(result);
    assert((result.cuts.budget ?? 0) > 0, `the budget cut some: ${JSON.stringify(result)}`);
  },
});

Deno.test({
  name: "30 non-reading flooders against a PacketConnection echo server stay bounded",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const result = await runFlood({
      kind: "packet",
      flooders: FLOODERS,
      rounds: 1,
      budgetMiB: 12,
      maxWriteMiB: 2,
      // Here the V8 heap (a Packet object per request and per refusal) outweighs the write
      // buffers; without the caps the peak passes 800 MiB.
      boundMiB: 384,
      timeoutMs: 8000,
    });
    check(result);
  },
});
