/**
 * The Web Streams face at its edges: a writer that reuses its buffer once a write resolves,
 * and a BYOB read holding part of an element when the readable ends.
 */

import { assertEquals, assertRejects } from "@std/assert";
import { openConnection } from "@plexus/net/endpoints";
import {
  createMemoryChannelPair,
  createMemoryTransportPair,
  StreamProtocol,
  StreamTransport,
  TransportError,
} from "@plexus/net/transport";
import { Recorder } from "../_recorder.ts";
import { bytes, concat, within } from "../_shared.ts";

Deno.test("Web Streams face: a writer may reuse its buffer once write() resolves (memory pair)", async () => {
  const [clientChannel, serverChannel] = createMemoryChannelPair({ capacity: 1000 });
  const client = new StreamProtocol();
  const server = new Recorder();
  const ct = new StreamTransport(clientChannel, client);
  const st = new StreamTransport(serverChannel, server);
  const writer = client.writable.getWriter();
  const buffer = new Uint8Array(64 * 1024).fill(1);
  await writer.write(buffer); // 64 KiB: at the high watermark, not over it; resolves at once
  buffer.fill(2); // ours again
  await writer.close();
  await Promise.all([ct.closed, st.closed]);
  const received = concat(server.chunks);
  assertEquals(received.length, buffer.length);
  assertEquals(received.findIndex((b) => b !== 1), -1, "every byte is the one written");
});

Deno.test("openConnection: a writer reusing one buffer for every write sends what it wrote (TCP)", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const { writable, transport } = await openConnection(listener.addr);
  const conn = await accepted;
  const chunks = 256;
  const size = 64 * 1024;
  // A reader slower than the writer (4 KiB a read), so the socket buffer stays full and our
  // writes wait in the transport.
  const reading = (async () => {
    const received = new Uint8Array(chunks * size + 1);
    const into = new Uint8Array(4096);
    let length = 0;
    for (let n; (n = await conn.read(into)) !== null; length += n) {
      received.set(into.subarray(0, n), length);
    }
    conn.close();
    return received.subarray(0, length);
  })();
  const writer = writable.getWriter();
  const buffer = new Uint8Array(size);
  for (let i = 0; i < chunks; i++) {
    buffer.fill(i); // as a read loop refills its buffer
    await writer.write(buffer);
  }
  await writer.close();
  const received = await reading;
  transport.close();
  await transport.closed;
  assertEquals(received.length, chunks * size);
  const wrong: number[] = [];
  for (let i = 0; i < chunks; i++) {
    if (received.subarray(i * size, (i + 1) * size).some((b) => b !== i)) wrong.push(i);
  }
  assertEquals(wrong, [], "chunks whose bytes changed after their write resolved");
});

/** A StreamProtocol that says when data has been handed to its readable. */
class Watched extends StreamProtocol {
  #waiter: (() => void) | undefined;
  received = 0;
  override dataReceived(data: Uint8Array): void {
    this.received += data.byteLength; // before the readable takes (detaches) it
    super.dataReceived(data);
    this.#waiter?.();
  }
  untilReceived(n: number): Promise<void> {
    if (this.received >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiter = () => this.received >= n && resolve());
  }
}

Deno.test("Web Streams face: the peer's EOF with part of a BYOB element pending keeps the write side open", async () => {
  const client = new Watched();
  const server = new Recorder({ keepOpenOnEof: true });
  const [ct, st] = createMemoryTransportPair(client, server);
  const reader = client.readable.getReader({ mode: "byob" });
  const read = reader.read(new Uint32Array(4));
  server.transport.write(new Uint8Array([1, 2, 3])); // three bytes of a four-byte element
  server.transport.writeEof();
  await assertRejects(() => read, TypeError); // the stream's own verdict on the read
  const writer = client.writable.getWriter();
  await writer.write(bytes("still talking"));
  await writer.close();
  await Promise.all([ct.closed, st.closed]);
  assertEquals(await ct.closed, undefined);
  assertEquals(server.text, "still talking");
});

Deno.test("Web Streams face: a connection lost with part of a BYOB element pending fails the held write", async () => {
  const [clientChannel, serverChannel] = createMemoryChannelPair({ capacity: 10 });
  const client = new Watched();
  const errors: Error[] = [];
  const ct = new StreamTransport(clientChannel, client, {
    writeBufferLimits: { high: 10, low: 0 },
    onError: (error) => errors.push(error),
  });
  const server = new Recorder({ onConnect: (t) => t.pauseReading() });
  const st = new StreamTransport(serverChannel, server);
  const reader = client.readable.getReader({ mode: "byob" });
  const read = reader.read(new Uint32Array(4));
  server.transport.write(new Uint8Array([1, 2, 3]));
  await client.untilReceived(3);
  const writer = client.writable.getWriter();
  const write = writer.write(new Uint8Array(1000)); // held: over the high watermark
  ct.abort();
  await assertRejects(() => read, TypeError);
  await assertRejects(() => within(write, 2000, "the held write"), TransportError);
  assertEquals(errors, [], "connectionLost() did not throw");
  st.abort();
  await Promise.all([ct.closed, st.closed]);
});

Deno.test("Web Streams face: an empty read from a custom channel is skipped, not a failure", async () => {
  const reads = [bytes("ab"), new Uint8Array(0), bytes("c")];
  const channel = {
    read(p: Uint8Array): Promise<number | null> {
      const next = reads.shift();
      if (next === undefined) return Promise.resolve(null);
      p.set(next);
      return Promise.resolve(next.byteLength);
    },
    write: (p: Uint8Array) => Promise.resolve(p.byteLength),
    closeWrite: () => Promise.resolve(),
    close() {},
  };
  const face = new StreamProtocol();
  const transport = new StreamTransport(channel, face);
  const got = await Array.fromAsync(face.readable);
  assertEquals(concat(got), bytes("abc"));
  await face.writable.close();
  assertEquals(await transport.closed, undefined);
});
