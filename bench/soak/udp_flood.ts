/**
 * Soak, issue 8.7: a new UDP peer is answered right after a 100 000-source flood.
 *
 * A separate process (python3) floods a `UdpTendrilManager` echo service with the default
 * peer table (`maxPeers` 1024) from 100 000 one-datagram sources, each its own loopback
 * address; a genuine new peer asks 5 times during the flood and 5 times right after it.
 * Targets: 5/5 answered right after, at least 4/5 during, every flood source served (answered),
 * no newcomer refused, the table never past `maxPeers`. Exits 1 when a target is missed.
 *
 * Run: `deno run -A bench/soak/udp_flood.ts` (< 60 s; about 10 s here).
 */

import { Application, UdpTendrilManager } from "@plexus/net/endpoints";
import { GenuinePeer, startFlooder } from "../../tests/hostile/_udp_flood.ts";

const SOURCES = 100_000;
const MAX_PEERS = 1024;

class Echo extends Application {
  frameReceived(frame: Uint8Array): void {
    this.sendFrame(frame);
  }
}

const server = new UdpTendrilManager("127.0.0.1:0", { maxPeers: MAX_PEERS });
await server.start((tendril) => new Echo(tendril));
const target = server.localAddress!;
const started = performance.now();
const flooder = startFlooder(target.port, {
  warm: 4 * MAX_PEERS,
  least: SOURCES,
  most: SOURCES,
  seconds: 50,
});
await flooder.flooding;
const during = new GenuinePeer(target, 1000);
const answeredDuring = await during.askTimes(5);
const flood = await flooder.stop();
const seconds = (performance.now() - started) / 1000;
const after = new GenuinePeer(target, 1000);
const answeredAfter = await after.askTimes(5);
await during.close();
await after.close();
const { evictedPeers, droppedPeers } = server;
const size = server.tendrils.size;
const heapMiB = Deno.memoryUsage().heapUsed / 2 ** 20;
await server.shutdown();

console.log(
  `udp flood: ${flood.sent} sources in ${seconds.toFixed(1)} s ` +
    `(${Math.round(flood.sent / seconds)} new peers/s), ${flood.answered} answered; ` +
    `${evictedPeers} evicted, ${droppedPeers} dropped, table ${size}/${MAX_PEERS}, ` +
    `heap ${heapMiB.toFixed(0)} MiB; genuine peer answered ${answeredDuring}/5 during, ` +
    `${answeredAfter}/5 right after`,
);
const misses = [
  flood.sent < SOURCES && `only ${flood.sent} sources sent (target ${SOURCES})`,
  flood.answered < 0.99 * flood.sent && `only ${flood.answered} sources answered`,
  answeredAfter < 5 && `answered ${answeredAfter}/5 right after the flood (target 5/5)`,
  answeredDuring < 4 && `answered ${answeredDuring}/5 during the flood (target 4/5)`,
  droppedPeers > 0 && `${droppedPeers} newcomers refused (target 0)`,
  size > MAX_PEERS && `the table holds ${size} peers (maxPeers ${MAX_PEERS})`,
].filter((miss): miss is string => typeof miss === "string");
for (const miss of misses) console.error(`MISS: ${miss}`);
if (misses.length > 0) Deno.exit(1);
