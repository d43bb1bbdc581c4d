/**
 * A server for the graceful-drain test, run as its own process: `deno run -A _drain_server.ts
 * MODE EXPECTED` with MODE `packet` (PacketConnection) or `line` (a FramedProtocol line protocol
 * whose replies are asynchronous). Every request waits 0–MAX_DELAY ms before its answer. It
 * prints `listening PORT`, then `accepted` once EXPECTED requests have reached handlers, and
 * serves until SIGTERM, when `run()` drains; it prints `drained ANSWERED` and exits.
 */
import { Server } from "@plexus/net/endpoints";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { PacketConnection } from "@plexus/net/packet";
import type { StreamProtocolLike } from "@plexus/net/transport";

const [mode, expectedText, maxDelayText = "300"] = Deno.args;
const expected = Number(expectedText);
const maxDelay = Number(maxDelayText);
let accepted = 0;
let answered = 0;

/** A seeded delay per request, so runs are repeatable. */
let seed = 12345;
function nextDelay(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % (maxDelay + 1);
}

function onAccepted(): void {
  if (++accepted === expected) console.log("accepted");
}

function packetProtocol(): StreamProtocolLike {
  return new PacketConnection({
    requestHandler: async (_rqType, _flags, payload) => {
      onAccepted();
      await new Promise((resolve) => setTimeout(resolve, nextDelay()));
      answered++;
      return payload;
    },
    maxConcurrentHandlers: 1024,
  });
}

function lineProtocol(): StreamProtocolLike {
  const pending = new Set<Promise<void>>();
  return new FramedProtocol(new LineFramer(), {
    frameReceived(line, framed) {
      onAccepted();
      const copy = line.slice();
      const reply = new Promise((resolve) => setTimeout(resolve, nextDelay())).then(() => {
        framed.sendFrame(copy);
        answered++;
      });
      pending.add(reply);
      reply.finally(() => pending.delete(reply));
    },
    async shutdown() {
      // Answer everything accepted, including what arrives while we wait.
      while (pending.size > 0) await Promise.all(pending);
    },
  });
}

const server = new Server(mode === "packet" ? packetProtocol : lineProtocol, { timeout: 10_000 });
const [address] = await server.listen("127.0.0.1:0");
console.log(`listening ${(address as Deno.NetAddr).port}`);
await server.run();
console.log(`drained ${answered}`);
