/** Test utilities shared by the layers' suites: bytes, seeded randomness, buffers, wire vectors. */

import { concat as stdConcat } from "@std/bytes";
import { ReceiveBuffer } from "@plexus/net/framing";

/** Joins byte chunks (`@std/bytes`, typed here because the npm build carries no types). */
export const concat: (chunks: readonly Uint8Array[]) => Uint8Array = stdConcat;

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** UTF-8 text of bytes. */
export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** Bytes from hex like "03 11 22" (spaces ignored). */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  return new Uint8Array(digits.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

/** Hex of bytes, space separated. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

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

/** Settles as `promise` does, or rejects after `ms` (the timer is always cleared). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
