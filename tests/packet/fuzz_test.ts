import { WatchedBuffer } from "../_shared.ts";
import { assertEquals, assertLessOrEqual } from "@std/assert";
import { decodeFrames, ReceiveBuffer } from "@plexus/net/framing";
import { Packet, PacketError, PacketFramer } from "@plexus/net/packet";
import { assertInstanceOf } from "../_assert.ts";
import { encode, prng } from "./_helpers.ts";

const LIMIT = 1000;

function randomPacket(random: () => number): Packet {
  const big = (): number => Math.floor(random() ** 4 * 2 ** 40);
  const payload = new Uint8Array(Math.floor(random() ** 2 * 300));
  for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(random() * 256);
  const channel = random() < 0.7 ? 0 : big();
  return random() < 0.5
    ? Packet.request(big(), big(), { channel, flags: big(), payload })
    : Packet.response(big(), random() < 0.5, { channel, flags: big(), payload });
}

/** Random valid packets, with random bytes flipped, cut or inserted. */
function mutate(random: () => number, input: Uint8Array): Uint8Array {
  const out = [...input];
  const edits = Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (out.length + 1));
    const kind = random();
    if (kind < 0.4 && out.length > 0) out[at % out.length] = Math.floor(random() * 256);
    else if (kind < 0.7) out.splice(at, 0, Math.floor(random() * 256));
    else out.splice(at, Math.floor(random() * 8));
  }
  return new Uint8Array(out);
}

Deno.test("fuzz: random valid packets round trip in random chunks", () => {
  const random = prng(20240630);
  for (let round = 0; round < 200; round++) {
    const packets = Array.from(
      { length: 1 + Math.floor(random() * 8) },
      () => randomPacket(random),
    );
    const stream = new Uint8Array(packets.flatMap((p) => [...encode(p)]));
    const buffer = new ReceiveBuffer({ initialCapacity: 32, minReadSize: 16 });
    const framer = new PacketFramer();
    const decoded: Packet[] = [];
    for (let at = 0; at < stream.length;) {
      const n = Math.min(stream.length - at, 1 + Math.floor(random() * 64));
      buffer.append(stream.subarray(at, at + n));
      at += n;
      for (let p = framer.decode(buffer); p; p = framer.decode(buffer)) decoded.push(p);
    }
    assertEquals(decoded, packets, `round ${round}`);
    assertEquals(buffer.length, 0);
  }
});

Deno.test("fuzz: malformed input only ever throws PacketError, and allocation stays bounded", () => {
  const random = prng(7);
  let errors = 0;
  for (let round = 0; round < 3000; round++) {
    let input: Uint8Array;
    if (random() < 0.3) {
      input = new Uint8Array(Math.floor(random() * 64));
      for (let i = 0; i < input.length; i++) input[i] = Math.floor(random() * 256);
    } else {
      const packets = Array.from(
        { length: 1 + Math.floor(random() * 3) },
        () => randomPacket(random),
      );
      input = mutate(random, new Uint8Array(packets.flatMap((p) => [...encode(p)])));
    }
    const buffer = new WatchedBuffer({ initialCapacity: 64, minReadSize: 64 });
    const framer = new PacketFramer({ maxPacketSize: LIMIT });
    try {
      for (let at = 0; at < input.length;) {
        const n = Math.min(input.length - at, 1 + Math.floor(random() * 128));
        const tail = buffer.getWriteBuffer(n);
        const take = Math.min(n, tail.length);
        tail.set(input.subarray(at, at + take));
        buffer.commit(take);
        at += take;
        for (let p = framer.decode(buffer); p; p = framer.decode(buffer)) {
          assertLessOrEqual(p.payload.byteLength, LIMIT);
        }
      }
    } catch (error) {
      assertInstanceOf(error, PacketError, `round ${round}: ${error}`);
      errors++;
    }
    // Never more than one packet's limit (plus its header and one read) held at once.
    assertLessOrEqual(buffer.maxCapacity, LIMIT + 10 + 2 * 128 + 64, `round ${round}`);
  }
  // The fuzzer does reach the error paths.
  assertLessOrEqual(100, errors);
});

Deno.test("fuzz: decodeFrames of random bytes ends in packets or typed errors only", () => {
  const random = prng(99);
  for (let round = 0; round < 2000; round++) {
    const input = new Uint8Array(Math.floor(random() * 40));
    for (let i = 0; i < input.length; i++) input[i] = Math.floor(random() * 256);
    try {
      decodeFrames(new PacketFramer({ maxPacketSize: LIMIT }), input);
    } catch (error) {
      // A stream cut inside a packet is the framing layer's TruncatedFrameError.
      assertInstanceOf(error, Error);
      assertEquals(
        ["PacketError", "PacketTooLongError", "TruncatedFrameError"].includes(error.name),
        true,
        String(error),
      );
    }
  }
});
