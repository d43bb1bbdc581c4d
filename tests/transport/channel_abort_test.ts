import { assertEquals } from "@std/assert";
import { type ByteChannel, createMemoryChannelPair, StreamTransport } from "@plexus/net/transport";

/** A channel that records whether the transport ended it in order or aborted it. */
function recording(channel: ByteChannel, calls: string[]): ByteChannel {
  return {
    read: (p) => channel.read(p),
    write: (p) => channel.write(p),
    closeWrite: () => channel.closeWrite(),
    close: () => {
      calls.push("close");
      channel.close();
    },
    abort: () => {
      calls.push("abort");
      channel.close();
    },
  };
}

Deno.test("close() ends the channel in order; abort() and errors abort it (no TLS close_notify wait)", async () => {
  for (const end of ["close", "abort", "fail"] as const) {
    const [a, b] = createMemoryChannelPair();
    const calls: string[] = [];
    const transport = new StreamTransport(recording(a, calls), {
      dataReceived() {
        throw new Error("a callback failed");
      },
    });
    const peer = new StreamTransport(b, { dataReceived() {} });
    if (end === "close") transport.close();
    else if (end === "abort") transport.abort();
    else peer.write(new Uint8Array([1])); // the callback throws: the transport fails
    await transport.closed;
    assertEquals(calls, [end === "close" ? "close" : "abort"], end);
    peer.abort();
    await peer.closed;
  }
});

Deno.test("connectionLost comes even when the channel's closed promise rejects", async () => {
  const [a, b] = createMemoryChannelPair();
  const failing: ByteChannel = {
    read: (p) => a.read(p),
    write: (p) => a.write(p),
    closeWrite: () => a.closeWrite(),
    close: () => a.close(),
    closed: Promise.reject(new Error("the adapter failed to release")),
  };
  failing.closed!.catch(() => {}); // handled below by the transport; silence the early report
  let lost = 0;
  const transport = new StreamTransport(failing, {
    dataReceived() {},
    connectionLost: () => void lost++,
  });
  transport.close();
  await transport.closed;
  assertEquals(lost, 1);
  b.close();
});
