/**
 * TLS client engines compared, client and server in separate processes:
 *
 * - `startTls`: `Deno.connect`, then `Deno.startTls` over the conn (rustls).
 * - `node-over-deno`: `Deno.connect`, then `node:tls` over the conn (what `createConnection`
 *   and client-side `startTls()` use, so a handshake timeout or an abort closes the socket).
 *
 * The server is a separate process running one of bench/tls.ts's server engines (--server,
 * `listenTls` by default), with the same requests. For each client engine it measures
 * handshakes per second (--handshakes connections, --concurrency at a time: connect,
 * handshake, one byte each way, close) and bulk MiB/s client -> server and server -> client
 * (--bulk-mib MiB in 256 KiB writes). Engines take turns for --rounds rounds, each against a
 * fresh server, and each figure is the median of its rounds. Ratios are against `startTls`.
 *
 *   deno run -A bench/tls_client.ts [--server listenTls|node-over-deno|node-net]
 *     [--handshakes 1000] [--concurrency 16] [--bulk-mib 256] [--rounds 3]
 */

import { parseArgs } from "node:util";
import { connect as nodeTlsConnect } from "node:tls";
import type { ByteChannel } from "../transport/byte_channel.ts";
import { channelToDuplex, NodeStreamChannel, writeAll } from "../transport/_node_channel.ts";

const fixtures = new URL("../tests/fixtures/", import.meta.url);
const ca = Deno.readTextFileSync(new URL("ca.pem", fixtures));

const ENGINES = ["startTls", "node-over-deno"] as const;
type Engine = typeof ENGINES[number];
const CHUNK = 256 * 1024;
const MIB = 1024 * 1024;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    server: { type: "string", default: "listenTls" },
    handshakes: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "16" },
    "bulk-mib": { type: "string", default: "256" },
    rounds: { type: "string", default: "3" },
  },
});

async function connect(engine: Engine, port: number): Promise<ByteChannel> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  tcp.setNoDelay(true);
  if (engine === "startTls") {
    const conn = await Deno.startTls(tcp, { hostname: "127.0.0.1", caCerts: [ca] });
    await conn.handshake();
    return conn;
  }
  const inner = channelToDuplex(tcp);
  const socket = nodeTlsConnect({ socket: inner, host: "127.0.0.1", ca: [ca] });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  return new NodeStreamChannel(socket, [inner]);
}

async function request(engine: Engine, port: number, kind: string, mib = 0) {
  const channel = await connect(engine, port);
  const head = new Uint8Array(kind === "h" ? 1 : 5);
  head[0] = kind.charCodeAt(0);
  if (kind !== "h") new DataView(head.buffer).setUint32(1, mib);
  await writeAll(channel, head);
  return channel;
}

async function readBytes(channel: ByteChannel, bytes: number, buffer: Uint8Array) {
  for (let got = 0; got < bytes;) {
    const n = await channel.read(buffer);
    if (n === null) throw new Error(`Connection closed after ${got} of ${bytes} bytes`);
    got += n;
  }
}

async function handshakesPerSecond(engine: Engine, port: number, total: number, width: number) {
  let next = 0;
  const buffer = new Uint8Array(16);
  const worker = async (): Promise<void> => {
    while (next++ < total) {
      const channel = await request(engine, port, "h");
      await readBytes(channel, 1, buffer);
      channel.close();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: width }, worker));
  return total / ((performance.now() - start) / 1000);
}

async function upload(engine: Engine, port: number, mib: number): Promise<number> {
  const chunk = new Uint8Array(CHUNK);
  const start = performance.now();
  const channel = await request(engine, port, "u", mib);
  for (let sent = 0; sent < mib * MIB; sent += CHUNK) await writeAll(channel, chunk);
  await readBytes(channel, 1, new Uint8Array(16));
  const seconds = (performance.now() - start) / 1000;
  channel.close();
  return mib / seconds;
}

async function download(engine: Engine, port: number, mib: number): Promise<number> {
  const start = performance.now();
  const channel = await request(engine, port, "d", mib);
  await readBytes(channel, mib * MIB, new Uint8Array(CHUNK));
  const seconds = (performance.now() - start) / 1000;
  channel.close();
  return mib / seconds;
}

interface Figures {
  handshakes: number;
  upload: number;
  download: number;
}

async function measure(engine: Engine): Promise<Figures> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./tls.ts", import.meta.url).pathname,
      "--serve",
      values.server!,
    ],
    stdout: "piped",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`The ${values.server} server exited before listening`);
    line += value;
  }
  const port = Number(/port (\d+)/.exec(line)![1]);
  try {
    const mib = Number(values["bulk-mib"]);
    // One untimed round warms both processes up.
    await handshakesPerSecond(engine, port, 100, 4);
    await upload(engine, port, 16);
    return {
      handshakes: await handshakesPerSecond(
        engine,
        port,
        Number(values.handshakes),
        Number(values.concurrency),
      ),
      upload: await upload(engine, port, mib),
      download: await download(engine, port, mib),
    };
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
  }
}

const rounds = new Map<Engine, Figures[]>(ENGINES.map((engine) => [engine, []]));
for (let round = 0; round < Number(values.rounds); round++) {
  for (const engine of ENGINES) {
    const figures = await measure(engine);
    rounds.get(engine)!.push(figures);
    console.error(`round ${round + 1} ${engine}: ${JSON.stringify(figures)}`);
  }
}
const median = (figures: number[]): number =>
  figures.sort((a, b) => a - b)[Math.floor(figures.length / 2)];
const results = new Map<Engine, Figures>();
for (const [engine, figures] of rounds) {
  results.set(engine, {
    handshakes: median(figures.map((f) => f.handshakes)),
    upload: median(figures.map((f) => f.upload)),
    download: median(figures.map((f) => f.download)),
  });
}
const base = results.get("startTls")!;
const ratio = (a: number, b: number): string => (a / b).toFixed(2);
console.log(
  `client engine vs ${values.server} server   handshakes/s   upload MiB/s   download MiB/s   (ratio to startTls)`,
);
for (const [engine, f] of results) {
  console.log(
    `${engine.padEnd(16)} ${f.handshakes.toFixed(0).padStart(8)} ${
      ratio(f.handshakes, base.handshakes).padStart(5)
    }   ${f.upload.toFixed(0).padStart(6)} ${ratio(f.upload, base.upload).padStart(5)}   ${
      f.download.toFixed(0).padStart(6)
    } ${ratio(f.download, base.download).padStart(5)}`,
  );
}
