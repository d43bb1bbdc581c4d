/**
 * `packetGrace` accounting of the PacketWriter: what is held counts from the last commit, the
 * 64 KiB limit commits at once (at exactly 64 KiB too), and `close()` drops the hold timer and
 * the transport.
 */

import { assertEquals } from "@std/assert";
import type { Transport } from "@plexus/net/transport";
import { SendBuffer } from "@plexus/net/transport";
import { PacketWriter } from "../../packet/_writer.ts";

function counting(): { transport: Transport; out: SendBuffer; commits: () => number } {
  const out = new SendBuffer();
  let commits = 0;
  const transport = {
    out,
    commit: () => void commits++,
    isClosing: () => false,
  } as unknown as Transport;
  return { transport, out, commits: () => commits };
}

Deno.test("packetGrace commits at exactly 64 KiB held, and counts afresh after a commit", () => {
  const { transport, out, commits } = counting();
  const writer = new PacketWriter(1 << 20, 60_000);
  writer.attach(transport);
  // 3 length bytes + tag + flags + 65528 payload bytes = 65533 bytes: held.
  writer.response(2, true, 0, 0, new Uint8Array(65528));
  assertEquals([out.length, commits()], [65533, 0]);
  // 3 more bytes make exactly 65536: committed at once, the timer dropped.
  writer.response(3, true, 0, 0, new Uint8Array(0));
  assertEquals([out.length, commits()], [65536, 1]);
  // What was committed no longer counts: 40000 bytes are held again.
  writer.response(4, true, 0, 0, new Uint8Array(40000));
  assertEquals(commits(), 1);
  writer.flush();
  assertEquals(commits(), 2);
  writer.flush(); // nothing held: nothing to commit
  assertEquals(commits(), 2);
});

Deno.test("close() drops the packetGrace timer and writes nothing more", () => {
  const { transport, out, commits } = counting();
  const writer = new PacketWriter(1 << 20, 60_000);
  writer.attach(transport);
  writer.request(2, 0, 0, 0, new Uint8Array(10));
  const held = out.length;
  writer.close(); // a timer left behind would fail the op sanitizer
  writer.request(3, 0, 0, 0, new Uint8Array(10));
  writer.response(2, true, 0, 0, new Uint8Array(10));
  writer.flush();
  assertEquals([out.length, commits()], [held, 0]);
});
