/** getManager's registry lets a shut-down manager go: it is garbage once nothing else holds it. */

import { assertEquals } from "@std/assert";

Deno.test("getManager: a shut-down manager leaves the registry and can be collected", async () => {
  // A child with --expose-gc: this test process cannot force a collection.
  const script = `
    import { getManager } from "${new URL("../../endpoints/mod.ts", import.meta.url).href}";
    let manager = getManager("tcp", "127.0.0.1:0");
    await manager.start();
    await manager.shutdown();
    const ref = new WeakRef(manager);
    manager = undefined;
    getManager("udp", "127.0.0.1:0"); // any later lookup prunes the registry
    await new Promise((resolve) => setTimeout(resolve, 0)); // a WeakRef target lives to the turn's end
    globalThis.gc();
    console.log(ref.deref() === undefined ? "collected" : "kept");
  `;
  const { stdout, stderr, success } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--unstable-net", "--v8-flags=--expose-gc", script],
    cwd: new URL("../..", import.meta.url).pathname,
  }).output();
  assertEquals(success, true, new TextDecoder().decode(stderr));
  assertEquals(new TextDecoder().decode(stdout).trim(), "collected");
});
