import { assertEquals } from "@std/assert";
import {
  createMemoryChannelPair,
  type Protocol,
  StreamTransport,
  type Transport,
} from "@plexus/net/transport";

/** A seeded linear congruential generator: the same seed, the same run. */
function random(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

Deno.test("fuzz: any sequence of calls, from anywhere, ends with connectionLost once per end", async () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = random(seed);
    const [a, b] = createMemoryChannelPair({ capacity: 1 + Math.floor(r() * 64) });
    const lost = [0, 0];
    const transports: StreamTransport[] = [];
    // One random call; callbacks may also throw (which must abort only that transport).
    const act = (t: Transport, inCallback: boolean): void => {
      const x = r();
      if (inCallback && x >= 0.85 && x < 0.9) throw new Error(`callback throws (seed ${seed})`);
      try {
        if (x < 0.3) t.write(new Uint8Array(1 + Math.floor(r() * 200)));
        else if (x < 0.4) t.writeEof();
        else if (x < 0.45) t.close();
        else if (x < 0.48) t.abort();
        else if (x < 0.6) t.pauseReading();
        else if (x < 0.75) t.resumeReading();
        else if (x < 0.8) t.setWriteBufferLimits({ high: Math.floor(r() * 300) });
      } catch {
        // Writing after writeEof()/close() throws by design.
      }
    };
    for (let i = 0; i < 2; i++) {
      const self = i;
      const protocol: Protocol = {
        connectionMade: (t) => r() < 0.3 && act(t, true),
        dataReceived: () => r() < 0.5 && act(transports[self], true),
        eofReceived: () => {
          if (r() < 0.5) act(transports[self], true);
          return r() < 0.5;
        },
        pauseWriting: () => r() < 0.3 && act(transports[self], true),
        resumeWriting: () => r() < 0.3 && act(transports[self], true),
        connectionLost: () => lost[self]++,
      };
      transports.push(new StreamTransport(i === 0 ? a : b, protocol));
    }
    for (let step = 0; step < 20; step++) {
      act(transports[Math.floor(r() * 2)], false);
      if (r() < 0.3) await Promise.resolve();
      if (r() < 0.1) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    for (const t of transports) {
      t.resumeReading();
      t.abort(); // whatever state it is in, abort() must finish
    }
    await Promise.all(transports.map((t) => t.closed));
    assertEquals(lost, [1, 1], `seed ${seed}`);
  }
});
