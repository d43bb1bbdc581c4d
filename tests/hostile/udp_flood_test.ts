/**
 * Issue 8.7: a spoofed-source UDP flood must not lock genuine newcomers out of a full peer
 * table. A separate process floods an echo service from at least 20 000 one-datagram sources
 * (its table holds 128); a genuine new peer asks 5 times while the flood goes on and 5 times
 * right after it. The 100 000-source figure is `bench/soak/udp_flood.ts`.
 */

import { assert, assertEquals } from "@std/assert";
import { Application, UdpTendrilManager } from "@plexus/net/endpoints";
import { GenuinePeer, startFlooder } from "./_udp_flood.ts";

const MAX_PEERS = 128;
/** How long one question may wait for its answer before it counts as unanswered. */
const ANSWER_DEADLINE_MS = 1000;

class Echo extends Application {
  frameReceived(frame: Uint8Array): void {
    this.sendFrame(frame);
  }
}

Deno.test("a new UDP peer is answered during and right after a 20 000-source flood", async () => {
  const server = new UdpTendrilManager("127.0.0.1:0", { maxPeers: MAX_PEERS });
  await server.start((tendril) => new Echo(tendril));
  const target = server.localAddress!;
  // Each flood source is answered once (an echo) and never heard from again: unproven.
  const flooder = startFlooder(target.port, {
    warm: 4 * MAX_PEERS,
    least: 20_000,
    most: 50_000,
    seconds: 8,
  });
  await flooder.flooding; // the flood has filled the table many times over by now
  const during = new GenuinePeer(target, ANSWER_DEADLINE_MS);
  const answeredDuring = await during.askTimes(5);
  const flood = await flooder.stop(); // the flood went on until here, and to 20 000 at least
  const after = new GenuinePeer(target, ANSWER_DEADLINE_MS);
  const answeredAfter = await after.askTimes(5);
  await during.close();
  await after.close();
  const { evictedPeers, droppedPeers } = server;
  const size = server.tendrils.size;
  await server.shutdown();

  console.log(
    `${flood.sent} sources sent, ${flood.answered} answered, ${evictedPeers} evicted, ` +
      `${droppedPeers} dropped; ` +
      `the genuine peer was answered ${answeredDuring}/5 during, ${answeredAfter}/5 after`,
  );
  assert(answeredDuring >= 4, `answered ${answeredDuring}/5 during the flood`);
  assertEquals(answeredAfter, 5, `answered ${answeredAfter}/5 right after the flood`);
  assert(flood.sent >= 20_000, `${flood.sent} sources`);
  assert(evictedPeers >= MAX_PEERS, `${evictedPeers} evicted: the flood filled the table`);
  assertEquals(droppedPeers, 0, "no newcomer was refused");
  assert(size <= MAX_PEERS, `the table holds ${size} peers`);
});
