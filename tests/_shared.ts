/** Test utilities shared by the layers' suites: seeded randomness, buffers, wire vectors. */

import { ReceiveBuffer } from "@plexus/net/framing";

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A receive buffer that records the largest capacity it ever had. */
export class WatchedBuffer extends ReceiveBuffer {
  maxCapacity = 0;
  override getWriteBuffer(sizeHint?: number): Uint8Array {
    const tail = super.getWriteBuffer(sizeHint);
    this.maxCapacity = Math.max(this.maxCapacity, this.capacity);
    return tail;
  }
}

/** Reads `chunk` into the buffer's free tail as a transport does, in pieces when it is short. */
export function feed(buffer: ReceiveBuffer, chunk: Uint8Array): void {
  for (let at = 0; at < chunk.byteLength;) {
    const tail = buffer.getWriteBuffer(chunk.byteLength - at);
    const n = Math.min(tail.byteLength, chunk.byteLength - at);
    tail.set(chunk.subarray(at, at + n));
    buffer.commit(n);
    at += n;
  }
}

/** The BSUInt vectors of `packetstream.txt` (`BSUInt value  hex bytes`), read from the file. */
export function bsuintVectors(): [number, string][] {
  const file = Deno.readTextFileSync(
    new URL("./fixtures/vectors/packetstream.txt", import.meta.url),
  );
  return [...file.matchAll(/^BSUInt\s+(\d+)\s+([0-9a-f ]+?)\s*$/gm)].map((m) => [
    Number(m[1]),
    m[2],
  ]);
}
