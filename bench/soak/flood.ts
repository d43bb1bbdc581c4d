/**
 * Memory a hostile peer can pin: peers that flood a server with requests and never read the
 * answers, against
 *
 * - `echo`: a protocol that ignores `pauseWriting()` and answers each chunk with ten times
 *   its size (the careless protocol of asyncio, Node and Netty, which grows without bound);
 * - `packet`: a `PacketConnection` echo server, flooded with empty requests whose refusals
 *   (`too many requests`) outweigh them.
 *
 * The server runs in its own process with the default limits (`maxWriteBuffer` 32 MiB per
 * connection, `maxTotalWriteBuffer` 256 MiB in all) and its RSS is read from
 * `/proc/<pid>/status` while the flooders (another process) reconnect each time they are cut,
 * until every flooder has been cut `--rounds` times on average. Prints one JSON line per kind
 * and exits 1 when the peak RSS passes `--bound-mib` (512) or the flood does not finish in
 * time.
 *
 * ```
 * deno run -A bench/soak/flood.ts [--kind echo|packet|both] [--flooders 100] [--rounds 2]
 *   [--bound-mib 512] [--budget-mib N] [--max-write-mib N] [--timeout-s 50]
 * ```
 *
 * Internal modes: `serve --kind K [--budget-mib N] [--max-write-mib N]` and
 * `flood --kind K --port P --flooders N`.
 *
 * @module
 */

import { Server } from "@plexus/net/endpoints";
import { Packet, PacketConnection, PacketFramer } from "@plexus/net/packet";
import { encodeFrame } from "@plexus/net/framing";
import { ProtocolAdapter } from "@plexus/net/protocol";
import type { StreamProtocolLike, StreamTransport } from "@plexus/net/transport";

const MiB = 1024 * 1024;

type Kind = "echo" | "packet";

/** Parsed `--name value` flags. */
function flags(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith("--")) out.set(args[i].slice(2), args[i + 1] ?? "");
  }
  return out;
}

// ---- The server process ------------------------------------------------------------------

/** Answers each chunk with ten times as many fresh bytes, ignoring `pauseWriting()`. */
class TenfoldEcho extends ProtocolAdapter {
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(new Uint8Array(data.byteLength * 10));
  }
}

/** Names why a connection ended, for the orchestrator's count. */
function reason(error: Error | undefined): string {
  if (error === undefined) return "closed";
  if (error.message.includes("maxTotalWriteBuffer")) return "budget";
  if (error.name === "WriteBufferOverflowError") return "cap";
  if (error.message.includes("maxWriteBuffer")) return "packet";
  return `other: ${error.name}`;
}

async function serve(options: Map<string, string>): Promise<void> {
  const kind = options.get("kind") as Kind;
  const budget = options.get("budget-mib");
  const maxWrite = options.get("max-write-mib");
  const factory = (): StreamProtocolLike =>
    kind === "echo"
      ? new TenfoldEcho()
      : new PacketConnection({ requestHandler: (_t, _f, p) => p });
  const encoder = new TextEncoder();
  class Flooded extends Server {
    override connectionLost(_t: StreamTransport, _p: unknown, error: Error | undefined): void {
      Deno.stdout.writeSync(encoder.encode(`lost ${reason(error)}\n`));
    }
  }
  const server = new Flooded(factory, {
    timeout: 500,
    maxTotalWriteBuffer: budget ? Number(budget) * MiB : undefined,
    maxWriteBuffer: maxWrite ? Number(maxWrite) * MiB : undefined,
    onError: () => {},
  });
  const [address] = await server.listen("127.0.0.1:0", { backlog: 1024 });
  console.log(`port ${(address as Deno.NetAddr).port}`);
  await server.run();
}

// ---- The flooder process -----------------------------------------------------------------

/** What one write sends: 64 KiB of bytes, or 8192 empty requests with fresh tags. */
function floodBatch(kind: Kind): Uint8Array {
  if (kind === "echo") return new Uint8Array(64 * 1024).fill(0x61);
  const framer = new PacketFramer();
  const parts = Array.from(
    { length: 8192 },
    (_, i) => encodeFrame(framer, Packet.request(i + 2, 1)),
  );
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

async function flood(options: Map<string, string>): Promise<void> {
  const kind = options.get("kind") as Kind;
  const port = Number(options.get("port"));
  const count = Number(options.get("flooders"));
  const batch = floodBatch(kind);
  const one = async (): Promise<void> => {
    for (;;) {
      let conn: Deno.Conn | undefined;
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port });
        // Never read: write until the server cuts us, then come back.
        for (;;) {
          for (let at = 0; at < batch.byteLength;) at += await conn.write(batch.subarray(at));
        }
      } catch {
        try {
          conn?.close();
        } catch {
          // Gone already.
        }
      }
    }
  };
  await Promise.all(Array.from({ length: count }, one));
}

// ---- The orchestrator --------------------------------------------------------------------

/** The figures of one flood. */
export interface FloodResult {
  kind: Kind;
  flooders: number;
  /** How the connections ended: `cap`, `budget`, `packet` (the packet layer's own limit). */
  cuts: Record<string, number>;
  baselineMiB: number;
  peakMiB: number;
  boundMiB: number;
  seconds: number;
  ok: boolean;
}

/** The RSS of process `pid`, or 0 once it has exited. */
function rssOf(pid: number): number {
  let status: string;
  try {
    status = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return 0; // The server died: the flood then misses its cut target and fails.
  }
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kib * 1024;
}

/** Reads the server's lines as they come, calling `onLine` for each. */
async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
  }
}

/** Runs one flood against a fresh server process and returns its figures. */
export async function runFlood(options: {
  kind: Kind;
  flooders: number;
  rounds: number;
  boundMiB: number;
  budgetMiB?: number;
  maxWriteMiB?: number;
  timeoutMs: number;
}): Promise<FloodResult> {
  const self = new URL(import.meta.url).pathname;
  const serverArgs = ["run", "-A", self, "serve", "--kind", options.kind];
  if (options.budgetMiB) serverArgs.push("--budget-mib", String(options.budgetMiB));
  if (options.maxWriteMiB) serverArgs.push("--max-write-mib", String(options.maxWriteMiB));
  const server = new Deno.Command(Deno.execPath(), {
    args: serverArgs,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const cuts: Record<string, number> = {};
  let lost = 0;
  const port = Promise.withResolvers<number>();
  const reading = readLines(server.stdout, (line) => {
    if (line.startsWith("port ")) port.resolve(Number(line.slice(5)));
    else if (line.startsWith("lost ")) {
      const why = line.slice(5);
      cuts[why] = (cuts[why] ?? 0) + 1;
      if (why !== "closed") lost++;
    }
  });
  reading.finally(() => port.reject(new Error("The server exited before listening")));
  const serverPort = await port.promise;
  const baseline = rssOf(server.pid);
  const flooder = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      self,
      "flood",
      "--kind",
      options.kind,
      "--port",
      String(serverPort),
      "--flooders",
      String(options.flooders),
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const started = performance.now();
  const target = options.rounds * options.flooders;
  let peak = baseline;
  // RSS is an OS-level fact with no event to wait for: poll it, within a deadline.
  while (lost < target && performance.now() - started < options.timeoutMs) {
    peak = Math.max(peak, rssOf(server.pid));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  peak = Math.max(peak, rssOf(server.pid));
  const seconds = (performance.now() - started) / 1000;
  flooder.kill("SIGKILL");
  await flooder.status;
  server.kill("SIGTERM");
  await server.status;
  await reading;
  const result: FloodResult = {
    kind: options.kind,
    flooders: options.flooders,
    cuts,
    baselineMiB: Math.round(baseline / MiB),
    peakMiB: Math.round(peak / MiB),
    boundMiB: options.boundMiB,
    seconds: Math.round(seconds * 10) / 10,
    ok: lost >= target && peak < options.boundMiB * MiB,
  };
  return result;
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  if (mode === "serve") await serve(flags(rest));
  else if (mode === "flood") await flood(flags(rest));
  else {
    const options = flags(Deno.args);
    const kinds: Kind[] = options.get("kind") === "echo"
      ? ["echo"]
      : options.get("kind") === "packet"
      ? ["packet"]
      : ["echo", "packet"];
    let ok = true;
    for (const kind of kinds) {
      const result = await runFlood({
        kind,
        flooders: Number(options.get("flooders") ?? 100),
        rounds: Number(options.get("rounds") ?? 2),
        boundMiB: Number(options.get("bound-mib") ?? 512),
        budgetMiB: options.has("budget-mib") ? Number(options.get("budget-mib")) : undefined,
        maxWriteMiB: options.has("max-write-mib")
          ? Number(options.get("max-write-mib"))
          : undefined,
        timeoutMs: Number(options.get("timeout-s") ?? 25) * 1000,
      });
      console.log(JSON.stringify(result));
      ok &&= result.ok;
    }
    if (!ok) Deno.exit(1);
  }
}
