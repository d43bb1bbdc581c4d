/** The Web Streams face holds about the bytes it queues; the memory pair takes whole capacities. */

import { assert, assertThrows } from "@std/assert";
import {
  createMemoryChannelPair,
  createMemoryTransportPair,
  StreamProtocol,
} from "@plexus/net/transport";

class Watched extends StreamProtocol {
  #waiter: (() => void) | undefined;
  received = 0;
  override dataReceived(data: Uint8Array): void {
    this.received += data.byteLength;
    super.dataReceived(data);
    this.#waiter?.();
  }
  untilReceived(n: number): Promise<void> {
    if (this.received >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiter = () => this.received >= n && resolve());
  }
}

Deno.test("Web Streams face: small queued chunks do not each pin a whole read slab", async () => {
  const client = new Watched();
  const server = new StreamProtocol();
  const [ct, st] = createMemoryTransportPair(client, server);
  const count = 200;
  const writer = server.writable.getWriter();
  for (let i = 0; i < count; i++) {
    await writer.write(new Uint8Array([i])); // one byte a read: a slowloris-style peer
    await client.untilReceived(i + 1);
  }
  await writer.close();
  const buffers = new Set<ArrayBufferLike>();
  let bytes = 0;
  for await (const chunk of client.readable) {
    buffers.add(chunk.buffer);
    bytes += chunk.byteLength;
  }
  let pinned = 0;
  for (const b of buffers) pinned += b.byteLength;
  await client.writable.close();
  await Promise.all([ct.closed, st.closed]);
  assert(bytes === count);
  assert(pinned <= 16 * count, `${bytes} queued bytes held ${pinned} bytes of memory`);
});

Deno.test("memory channels: a fractional capacity is refused (it reported bytes it did not store)", () => {
  assertThrows(() => createMemoryChannelPair({ capacity: 1.5 }), RangeError, "whole number");
});
