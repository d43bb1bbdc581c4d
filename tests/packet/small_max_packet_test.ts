/**
 * A small `maxPacketSize`: the connection refuses one too small for its own packets, and a
 * refusal whose text does not fit goes out with an empty payload, so the peer still gets its
 * failure response and nothing throws out of a timer or a promise callback (which would end
 * the process).
 */

import { assertEquals, assertThrows } from "@std/assert";
import { PacketConnection, PacketFramer } from "@plexus/net/packet";
import { decodeFrames } from "@plexus/net/framing";
import type { Transport } from "@plexus/net/transport";
import { SendBuffer } from "@plexus/net/transport";
import { refuse } from "../../packet/_handlers.ts";
import { PacketWriter } from "../../packet/_writer.ts";
import { text } from "./_helpers.ts";

Deno.test("maxPacketSize below 64 is refused, naming the value", () => {
  for (const max of [0, 20, 63]) {
    const error = assertThrows(() => new PacketConnection({ maxPacketSize: max }), RangeError);
    assertEquals(error.message.includes(`at least 64`), true, error.message);
    assertEquals(error.message.endsWith(`got ${max}`), true, error.message);
  }
  new PacketConnection({ maxPacketSize: 64 });
});

Deno.test("a refusal whose text exceeds maxPacketSize goes out with an empty payload", () => {
  const out = new SendBuffer();
  const writer = new PacketWriter(64, 0);
  writer.attach({ out, commit() {}, isClosing: () => false } as unknown as Transport);
  const wide = 2 ** 40;
  refuse(writer, wide, wide, `channel ${wide}: tag already in use: ${wide}`);
  refuse(writer, 0, 7, "too many requests");
  const sent = decodeFrames(new PacketFramer(), out.shift(Infinity)!);
  assertEquals(
    sent.map((p) => [p.isRequest, p.ok, p.channel, p.tag, text(p.payload)]),
    [[false, false, wide, wide, ""], [false, false, 0, 7, "too many requests"]],
  );
});
