/**
 * The Plexus demo: servers and clients on loopback in one process, each layer in turn.
 *
 * Run it with `deno task demo`.
 */

import { endpointsDemo } from "./demo/endpoints.ts";
import { framingDemo } from "./demo/framing.ts";
import { packetDemo } from "./demo/packet.ts";
import { transportDemo } from "./demo/transport.ts";

const started = performance.now();
const log = (line: string): void => console.log(`  ${line}`);

console.log("Plexus demo (loopback only)");
console.log("transports and protocols:");
await transportDemo(log);
console.log("framing (a mid-stream framer switch):");
await framingDemo(log);
console.log("packet RPC (cs.packetstream wire format), both directions:");
await packetDemo(log);
console.log("endpoints (Tendril applications over TCP and UDP, tinyproto):");
await endpointsDemo(log);
console.log(`done in ${Math.round(performance.now() - started)} ms`);
