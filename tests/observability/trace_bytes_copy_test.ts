import { assertEquals } from "@std/assert";
import { createMemoryTransportPair, subscribe, type Transport } from "@plexus/net/transport";
import { CobsFramer, encodeFrame, FramedProtocol, TinyprotoProtocol } from "@plexus/net/framing";

Deno.test("trace: a received frame's bytes are a copy that stays valid (COBS: a decoder that only skips)", async () => {
  const wires: Uint8Array[] = [];
  const traced: Uint8Array[] = [];
  using _ = subscribe({
    frame: (e) => {
      if (e.direction === "receive" && e.bytes) traced.push(e.bytes); // kept: documented as a copy
    },
  });
  const count = 200;
  const done = Promise.withResolvers<void>();
  let n = 0;
  const server = new FramedProtocol(new CobsFramer(), {
    frameReceived: () => void (++n === count && done.resolve()),
  });
  let client!: Transport;
  const [ct, st] = createMemoryTransportPair(
    { connectionMade: (t) => client = t, dataReceived() {} },
    server,
  );
  for (let i = 0; i < count; i++) {
    const frame = new Uint8Array(100).fill(i + 1);
    const wire = encodeFrame(new CobsFramer(), frame);
    wires.push(wire);
    client.write(wire);
    await ct.flushed(); // one read per frame or so
  }
  await done.promise;
  ct.close();
  await Promise.all([ct.closed, st.closed]);
  assertEquals(traced.length, count);
  let bad = 0;
  for (let i = 0; i < count; i++) {
    if (traced[i].join() !== wires[i].join()) bad++;
  }
  assertEquals(bad, 0, `${bad} of ${count} traced frames were overwritten`);
});

/** One tinyproto exchange: the client sends `message`, the server echoes it. */
async function echoOnce(message: string): Promise<string[]> {
  const server = new TinyprotoProtocol({
    transmissionReceived(payload, tp) {
      tp.send(new TextEncoder().encode("echo:" + new TextDecoder().decode(payload)));
    },
  });
  const replies: string[] = [];
  const client = new TinyprotoProtocol({
    transmissionReceived(payload, tp) {
      replies.push(new TextDecoder().decode(payload));
      tp.close();
    },
  });
  createMemoryTransportPair(server, client);
  await client.send(new TextEncoder().encode(message)).catch(() => {});
  await client.closed;
  await server.closed;
  return replies;
}

Deno.test("trace: tinyproto's sent bytes are a copy (the event says: yours to keep)", async () => {
  const payload = new TextEncoder().encode("hello");
  const sent: Uint8Array[] = [];
  {
    using _ = subscribe({
      frame: (e) => void (e.direction === "send" && e.bytes && sent.push(e.bytes)),
    });
    const client = new TinyprotoProtocol({ transmissionReceived: (_p, tp) => tp.close() });
    const server = new TinyprotoProtocol({ transmissionReceived: (p, tp) => void tp.send(p) });
    createMemoryTransportPair(server, client);
    await client.send(payload);
    await client.closed;
    await server.closed;
  }
  const own = sent.filter((b) => b === payload).length;
  for (const bytes of sent) bytes.fill(0); // a subscriber reusing bytes it owns
  let guard: ReturnType<typeof setTimeout> | undefined;
  const again = await Promise.race([
    echoOnce("again"),
    new Promise<string>((resolve) => guard = setTimeout(() => resolve("hung"), 2000)),
  ]);
  clearTimeout(guard);
  // Bug: [1, []]: the application's payload and the module's handshake byte were handed out,
  // and zeroing them made every later connection refuse the handshake.
  assertEquals([own, again], [0, ["echo:again"]]);
});
