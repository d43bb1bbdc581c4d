/**
 * Slowloris at full size (issue 8.3): 2000 connections each trickle one byte every 2 s into a
 * line-echo `Server` and never finish a line. An `idleTimeout` of 10 s alone never fires (no
 * connection is ever idle); `deadlines.frameTimeout` (10 s here) must cut every one of them
 * within 10 s of its first byte, while a well-behaved client is served meanwhile.
 *
 * The attacker is a Python process (tests/hostile/_slowloris.ts); the server runs here, and its
 * RSS is read before the attack, at its peak and once every connection is gone. Prints one
 * JSON line; exits 1 when a connection outlives `frameTimeout + slack` or the good client is
 * not served. `--baseline` runs the same attack with the deadlines off, to show the problem
 * (no target: it reports how many connections survived past the idle timeout).
 *
 * ```
 * deno run -A bench/soak/slowloris.ts [--connections 2000] [--interval 2000]
 *   [--frame-timeout 10000] [--idle-timeout 10000] [--slack 3000] [--baseline]
 * ```
 *
 * @module
 */

import { createConnection, Server } from "@plexus/net/endpoints";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { DeadlineError, type StreamTransport } from "@plexus/net/transport";
import { startAttack } from "../../tests/hostile/_slowloris.ts";

const MiB = 1024 * 1024;

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const connections = flag("connections", 2000);
const interval = flag("interval", 2000);
const frameTimeout = flag("frame-timeout", 10_000);
const idleTimeout = flag("idle-timeout", 10_000);
const slack = flag("slack", 3000);
const baseline = Deno.args.includes("--baseline");

const encoder = new TextEncoder();
const decoder = new TextDecoder();

let cutByDeadline = 0;
let cutOtherwise = 0;

class LineServer extends Server<FramedProtocol> {
  override connectionLost(_t: StreamTransport, _p: FramedProtocol, error?: Error): void {
    if (error instanceof DeadlineError) cutByDeadline++;
    else cutOtherwise++;
  }
}

const server = new LineServer(
  () =>
    new FramedProtocol(new LineFramer(), {
      frameReceived: (line, framed) => framed.sendFrame(line),
    }),
  {
    idleTimeout,
    deadlines: baseline
      ? { firstFrameTimeout: Infinity, frameTimeout: Infinity }
      : { firstFrameTimeout: Infinity, frameTimeout },
  },
);
const [address] = await server.listen("127.0.0.1:0");
const rss = (): number => Math.round(Deno.memoryUsage().rss / MiB);
const rssBefore = rss();
let rssPeak = rssBefore;
const sampler = setInterval(() => rssPeak = Math.max(rssPeak, rss()), 200);

const attack = startAttack((address as Deno.NetAddr).port, {
  connections,
  mode: "trickle",
  interval,
  limit: frameTimeout + slack + interval,
});
await attack.connected;

// A well-behaved client, served while the attack runs: five line round trips.
let served = 0;
let next = Promise.withResolvers<void>();
const started = performance.now();
const { protocol: good } = await createConnection(
  () =>
    new FramedProtocol(new LineFramer(), {
      frameReceived: (line) => {
        if (decoder.decode(line) === `line ${served}`) served++;
        next.resolve();
      },
    }),
  address,
);
for (let i = 0; i < 5; i++) {
  good.sendFrame(encoder.encode(`line ${i}`));
  await next.promise;
  next = Promise.withResolvers<void>();
}
const goodMs = Math.round(performance.now() - started);
good.close();
await good.closed;

const result = await attack.result;
clearInterval(sampler);
rssPeak = Math.max(rssPeak, rss());
// Let the server finish the connections the attacker saw end (bounded: 10 s).
for (let waited = 0; server.connections.size > 0 && waited < 10_000; waited += 50) {
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const rssAfter = rss();
const sorted = [...result.latencies].sort((a, b) => a - b);
const figure = {
  case: baseline ? "slowloris-baseline" : "slowloris",
  connections,
  intervalMs: interval,
  idleTimeoutMs: idleTimeout,
  frameTimeoutMs: baseline ? null : frameTimeout,
  cut: result.cut,
  cutByDeadline,
  cutOtherwise: cutOtherwise - 1, // the good client's orderly close
  survivedMs: result.cut === connections ? null : frameTimeout + slack + interval,
  latencyMs: {
    min: sorted[0] ?? null,
    median: sorted[sorted.length >> 1] ?? null,
    max: sorted.at(-1) ?? null,
  },
  goodClient: { served: `${served}/5`, ms: goodMs },
  rssMiB: { before: rssBefore, peak: rssPeak, after: rssAfter },
};
console.log(JSON.stringify(figure));
server.abortClients();
await server.close();

const ok = baseline || (
  result.cut === connections && cutByDeadline === connections &&
  (sorted.at(-1) ?? Infinity) <= frameTimeout + slack && served === 5
);
if (!ok) {
  console.error(
    `slowloris: missed the target (all cut within ${frameTimeout + slack} ms, good client served)`,
  );
}
Deno.exit(ok ? 0 : 1);
