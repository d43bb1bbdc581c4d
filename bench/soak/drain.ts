/**
 * Soak: SIGTERM with 5000 requests in flight over 50 connections, handlers taking 0–500 ms,
 * for packet RPC and a line protocol with asynchronous replies. The server is its own process
 * (`tests/hostile/_drain_server.ts`). Target: 100% of accepted requests answered.
 */
import { TextLineStream } from "@std/streams";
import { createConnection } from "@plexus/net/endpoints";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { PacketConnection } from "@plexus/net/packet";

const CONNECTIONS = 50;
const PER_CONNECTION = 100;
const MAX_DELAY = 500;
const total = CONNECTIONS * PER_CONNECTION;
const serverScript = new URL("../../tests/hostile/_drain_server.ts", import.meta.url).pathname;

async function run(mode: "packet" | "line"): Promise<boolean> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", serverScript, mode, String(total), String(MAX_DELAY)],
    stdout: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream() as TransformStream<string, string>)[Symbol.asyncIterator]();
  const next = async () => String((await lines.next()).value);
  const port = Number((await next()).split(" ")[1]);
  let answered = 0;
  const ends: Promise<unknown>[] = [];
  for (let c = 0; c < CONNECTIONS; c++) {
    if (mode === "packet") {
      const { protocol } = await createConnection(() => new PacketConnection(), {
        hostname: "127.0.0.1",
        port,
      });
      for (let i = 0; i < PER_CONNECTION; i++) {
        ends.push(protocol.call(1, `${c}:${i}`).then(() => answered++, () => {}));
      }
    } else {
      const { protocol } = await createConnection(
        () => new FramedProtocol(new LineFramer(), { frameReceived: () => void answered++ }),
        { hostname: "127.0.0.1", port },
      );
      for (let i = 0; i < PER_CONNECTION; i++) {
        protocol.sendFrame(new TextEncoder().encode(`${c}:${i}`));
      }
      ends.push(protocol.closed);
    }
  }
  await next(); // "accepted": every request reached a handler
  const signalled = performance.now();
  child.kill("SIGTERM");
  await Promise.all(ends);
  const drained = await next();
  const took = performance.now() - signalled;
  await lines.return?.();
  await child.status;
  const ok = answered === total;
  console.log(
    `${mode}: ${answered}/${total} answered (${(100 * answered / total).toFixed(1)}%), ` +
      `server "${drained}", drain took ${took.toFixed(0)} ms ${ok ? "ok" : "MISSED"}`,
  );
  return ok;
}

const results = [await run("packet"), await run("line")];
Deno.exit(results.every(Boolean) ? 0 : 1);
