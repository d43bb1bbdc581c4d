import { assertEquals } from "@std/assert";
import { createMemoryTransportPair, subscribe, type Transport } from "@plexus/net/transport";
import { CobsFramer, encodeFrame, FramedProtocol } from "@plexus/net/framing";

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
