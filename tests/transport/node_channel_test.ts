import { assertRejects } from "@std/assert";
import { Duplex } from "node:stream";
import { NodeStreamChannel } from "../../transport/_node_channel.ts";

Deno.test("closing a Node stream channel settles writes the stream never called back", async () => {
  // A duplex that accepts writes and end() but never completes them.
  const stuck = new Duplex({
    read() {},
    write(_chunk, _encoding, _callback) {},
    final(_callback) {},
  });
  const channel = new NodeStreamChannel(stuck);
  const write = channel.write(new Uint8Array([1, 2, 3]));
  const closeWrite = channel.closeWrite();
  channel.close();
  await assertRejects(() => write, Deno.errors.Interrupted);
  await assertRejects(() => closeWrite, Deno.errors.Interrupted);
  await channel.closed;
});
