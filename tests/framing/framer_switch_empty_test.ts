/**
 * A framer that has a frame of no bytes (a 0-byte `ChunkFramer`) set when nothing is buffered:
 * its empty frame must come without waiting for more bytes, which a peer waiting for our answer
 * never sends.
 */
import { assertEquals } from "@std/assert";
import { ChunkFramer, FramedProtocol, LineFramer } from "@plexus/net/framing";
import { createMemoryTransportPair, type Transport } from "@plexus/net/transport";

const encode = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** `DATA 0` from the peer, then `onData0` decides how to read its (empty) body. */
async function exchange(onData0: (framed: FramedProtocol<Uint8Array>) => void): Promise<string[]> {
  const frames: string[] = [];
  const empty = Promise.withResolvers<void>();
  const server = new FramedProtocol<Uint8Array>(new LineFramer(), {
    frameReceived(frame, framed) {
      if (framed.receiveFramer instanceof ChunkFramer) {
        frames.push(`chunk(${frame.byteLength})`);
        framed.receiveFramer = new LineFramer();
        empty.resolve();
        return;
      }
      frames.push(decode(frame));
      if (decode(frame) === "DATA 0") onData0(framed);
    },
  });
  let client: Transport | undefined;
  createMemoryTransportPair(server, { connectionMade: (t) => client = t, dataReceived() {} });
  client!.write(encode("DATA 0\r\n"));
  // A guard against a hang only: the chunk comes a turn or two after the switch.
  const guard = setTimeout(() => empty.reject(new Error("the empty chunk never came")), 2000);
  try {
    await empty.promise; // the peer waits for our answer: no more bytes come
  } finally {
    clearTimeout(guard);
    client!.close();
    await server.closed;
  }
  return frames;
}

Deno.test("a 0-byte ChunkFramer set later, with nothing buffered, delivers its empty chunk", async () => {
  // The application decides asynchronously (after a lookup, say) how to read the body.
  const frames = await exchange((framed) =>
    queueMicrotask(() => framed.receiveFramer = new ChunkFramer(0))
  );
  assertEquals(frames, ["DATA 0", "chunk(0)"]);
});

Deno.test("a 0-byte ChunkFramer set while paused delivers its empty chunk on resume", async () => {
  const frames = await exchange((framed) => {
    framed.pauseReading();
    queueMicrotask(() => {
      framed.receiveFramer = new ChunkFramer(0);
      queueMicrotask(() => framed.resumeReading());
    });
  });
  assertEquals(frames, ["DATA 0", "chunk(0)"]);
});
