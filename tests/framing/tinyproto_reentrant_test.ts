/** tinyproto: send() from pauseWriting, fired by our own write, keeps the protocol's rules. */

import { assertEquals } from "@std/assert";
import { assertInstanceOf } from "../_assert.ts";
import { FrameTooLongError, TinyprotoProtocol } from "@plexus/net/framing";
import { type ByteChannel, createMemoryChannelPair, StreamTransport } from "@plexus/net/transport";
import { readExactly } from "./_helpers.ts";

async function readAll(channel: ByteChannel): Promise<number[]> {
  const out: number[] = [];
  const buffer = new Uint8Array(64);
  for (;;) {
    const n = await channel.read(buffer);
    if (n === null) return out;
    out.push(...buffer.subarray(0, n));
  }
}

Deno.test("tinyproto: a send() from pauseWriting (fired by an announcement) keeps one message in flight", async () => {
  let second: Promise<void> | undefined;
  const tp: TinyprotoProtocol = new TinyprotoProtocol({
    transmissionReceived() {},
    pauseWriting() {
      second ??= tp.send(new Uint8Array([2, 2]));
    },
  });
  const [mine, raw] = createMemoryChannelPair();
  new StreamTransport(mine, tp, { writeBufferLimits: { high: 2, low: 0 } });
  await raw.write(new Uint8Array([0xff])); // handshake
  assertEquals(await readExactly(raw, 1), new Uint8Array([0xff]));
  const first = tp.send(new Uint8Array([1])); // its 4-byte size goes over the high watermark
  assertEquals(await readExactly(raw, 4), new Uint8Array([0, 0, 0, 1]));
  await raw.write(new Uint8Array([0xff])); // go on with the first
  await first;
  // Next on the wire: the first payload, then the second's size; nothing else.
  assertEquals(await readExactly(raw, 5), new Uint8Array([1, 0, 0, 0, 2]));
  await raw.write(new Uint8Array([0xff])); // go on with the second
  await second;
  assertEquals(await readExactly(raw, 2), new Uint8Array([2, 2]));
  tp.close();
  raw.close();
  assertEquals(await tp.closed, undefined);
});

Deno.test("tinyproto: after our 00 refusal nothing but end of stream goes out, even from pauseWriting", async () => {
  let late: Promise<void> | undefined;
  const tp: TinyprotoProtocol = new TinyprotoProtocol({
    transmissionReceived() {},
    connectionStarted: () => tp.transport!.setWriteBufferLimits({ high: 0, low: 0 }),
    pauseWriting() {
      late ??= tp.send(new Uint8Array([9]));
      late.catch(() => {});
    },
  }, { maxSize: 10 });
  const [mine, raw] = createMemoryChannelPair();
  new StreamTransport(mine, tp);
  await raw.write(new Uint8Array([0xff, 0, 0, 0, 100])); // handshake; announce 100 > maxSize
  const wire = await readAll(raw); // up to our end of stream (half-close)
  raw.close();
  assertInstanceOf(await tp.closed, FrameTooLongError);
  await late?.catch(() => {});
  assertEquals(wire, [0xff, 0x00], "handshake, refusal, end of stream");
});
