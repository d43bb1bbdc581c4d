import { assertEquals, assertRejects } from "@std/assert";
import { Duplex } from "node:stream";
import { channelToDuplex, NodeStreamChannel } from "../../transport/_node_channel.ts";
import type { ByteChannel } from "../../transport/byte_channel.ts";
import { within } from "../_shared.ts";

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

Deno.test("channelToDuplex: a read asked for in the microtask after a full push restarts the loop", async () => {
  // A peer that has 1 MiB to send, always at once: the duplex's buffer fills (256 KiB), then
  // the consumer empties it.
  const total = 1024 * 1024;
  let sent = 0;
  const channel = {
    read(p: Uint8Array): Promise<number | null> {
      if (sent === total) return Promise.resolve(null);
      const n = Math.min(p.byteLength, total - sent);
      sent += n;
      return Promise.resolve(n);
    },
    write: (p: Uint8Array) => Promise.resolve(p.byteLength),
    closeWrite: () => Promise.resolve(),
    close() {},
  } satisfies ByteChannel;
  const duplex = channelToDuplex(channel);
  let received = 0;
  const ended = new Promise<void>((resolve, reject) => {
    duplex.once("end", resolve);
    duplex.once("error", reject);
  });
  // The consumer reads in the microtask after the push that filled the buffer, before the loop
  // that pushed has settled; Node asks for more (_read()) once, there. Bug: that ask was
  // ignored (the loop was still marked running), and the stream stalled for good.
  const push = duplex.push.bind(duplex);
  let full = false;
  duplex.push = (chunk: Uint8Array | null) => {
    const more = push(chunk);
    if (!more && !full) {
      full = true;
      queueMicrotask(() => {
        for (let chunk; (chunk = duplex.read()) !== null;) received += chunk.byteLength;
        duplex.on("data", (data: Uint8Array) => received += data.byteLength);
      });
    }
    return more;
  };
  duplex.read(0); // starts the loop; no consumer yet, so the buffer fills
  await within(ended, 5000, "the end of the duplex's stream");
  assertEquals(full, true, "the buffer filled");
  assertEquals(received, total);
  duplex.destroy();
});
