/**
 * TLS server engines compared, client and server in separate processes:
 *
 * - `listenTls`: `Deno.listenTls` (rustls); the accepted `TlsConn` is the channel.
 * - `node-over-deno`: `Deno.listen`, then `node:tls` over the accepted conn (what `Server`
 *   uses, so a handshake timeout can close the TCP socket).
 * - `node-net`: `node:tls.createServer` on `node:net`.
 *
 * The client (this process) uses `Deno.connectTls`. For each engine it measures handshakes per
 * second (--handshakes connections, --concurrency at a time: connect, handshake, one byte each
 * way, close) and bulk MiB/s client -> server and server -> client (--bulk-mib MiB in 256 KiB
 * writes). Engines take turns for --rounds rounds and each figure is the median of its rounds,
 * so load from other processes spreads over all of them. Ratios are against `listenTls`.
 *
 * `Server` uses `node-over-deno`: unlike `listenTls`, a handshake timeout there closes the TCP
 * socket, and unlike `node-net` it keeps `Deno.listen` and the server's accept loop.
 *
 * bench/tls_client.ts compares client engines against these servers (`--serve <engine>`).
 *
 *   deno run -A bench/tls.ts [--handshakes 1000] [--concurrency 16] [--bulk-mib 256] [--rounds 3]
 */

import { parseArgs } from "node:util";
import { createSecureContext, createServer as createNodeTlsServer, TLSSocket } from "node:tls";
import type { ByteChannel } from "../transport/byte_channel.ts";
import { channelToDuplex, NodeStreamChannel, writeAll } from "../transport/_node_channel.ts";

const fixtures = new URL("../tests/fixtures/", import.meta.url);
const cert = Deno.readTextFileSync(new URL("leaf.pem", fixtures));
const key = Deno.readTextFileSync(new URL("leaf.key", fixtures));
const ca = Deno.readTextFileSync(new URL("ca.pem", fixtures));

const ENGINES = ["listenTls", "node-over-deno", "node-net"] as const;
type Engine = typeof ENGINES[number];
const CHUNK = 256 * 1024;
const MIB = 1024 * 1024;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    serve: { type: "string" },
    handshakes: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "16" },
    "bulk-mib": { type: "string", default: "256" },
    rounds: { type: "string", default: "3" },
  },
});

// ---- server process ------------------------------------------------------------------------

/**
 * One request per connection, named by its first byte: `h` answers one byte; `u` + 4-byte MiB
 * count reads that much and answers one byte; `d` + 4-byte MiB count writes that much. Then it
 * waits for the client's EOF and closes.
 */
async function serveChannel(channel: ByteChannel): Promise<void> {
  const buffer = new Uint8Array(CHUNK);
  try {
    let got = 0;
    while (got < 1) got += (await channel.read(buffer.subarray(got)))!;
    const kind = String.fromCharCode(buffer[0]);
    if (kind !== "h") {
      while (got < 5) got += (await channel.read(buffer.subarray(got)))!;
    }
    const bytes = new DataView(buffer.buffer).getUint32(1) * MIB;
    if (kind === "h") await writeAll(channel, buffer.subarray(0, 1));
    if (kind === "u") {
      for (let left = bytes - (got - 5); left > 0;) left -= (await channel.read(buffer))!;
      await writeAll(channel, buffer.subarray(0, 1));
    }
    if (kind === "d") {
      const chunk = new Uint8Array(CHUNK);
      for (let sent = 0; sent < bytes; sent += CHUNK) await writeAll(channel, chunk);
    }
    while (await channel.read(buffer) !== null);
  } catch {
    // The client went away.
  } finally {
    channel.close();
  }
}

function serve(engine: Engine): void {
  const announce = (port: number): void => console.log(`port ${port}`);
  if (engine === "listenTls") {
    const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
    announce(listener.addr.port);
    (async () => {
      for await (const conn of listener) serveChannel(conn);
    })();
  } else if (engine === "node-over-deno") {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const secureContext = createSecureContext({ cert, key });
    announce(listener.addr.port);
    (async () => {
      for await (const conn of listener) {
        conn.setNoDelay(true);
        const inner = channelToDuplex(conn);
        const socket = new TLSSocket(inner, { isServer: true, secureContext });
        socket.once("secure", () => serveChannel(new NodeStreamChannel(socket, [inner])));
        socket.once("error", () => socket.destroy());
      }
    })();
  } else {
    const server = createNodeTlsServer({ cert, key }, (socket) => {
      socket.setNoDelay(true);
      serveChannel(new NodeStreamChannel(socket));
    });
    server.listen(0, "127.0.0.1", () => announce((server.address() as { port: number }).port));
  }
}

// ---- client (this process) -----------------------------------------------------------------

async function request(port: number, kind: string, mib = 0): Promise<Deno.TlsConn> {
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
  const head = new Uint8Array(kind === "h" ? 1 : 5);
  head[0] = kind.charCodeAt(0);
  if (kind !== "h") new DataView(head.buffer).setUint32(1, mib);
  await writeAll(conn, head);
  return conn;
}

async function readBytes(conn: Deno.Conn, bytes: number, buffer: Uint8Array): Promise<void> {
  for (let got = 0; got < bytes;) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`Connection closed after ${got} of ${bytes} bytes`);
    got += n;
  }
}

async function handshakesPerSecond(port: number, total: number, width: number): Promise<number> {
  let next = 0;
  const buffer = new Uint8Array(16);
  const worker = async (): Promise<void> => {
    while (next++ < total) {
      const conn = await request(port, "h");
      await readBytes(conn, 1, buffer);
      conn.close();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: width }, worker));
  return total / ((performance.now() - start) / 1000);
}

async function upload(port: number, mib: number): Promise<number> {
  const chunk = new Uint8Array(CHUNK);
  const start = performance.now();
  const conn = await request(port, "u", mib);
  for (let sent = 0; sent < mib * MIB; sent += CHUNK) await writeAll(conn, chunk);
  await readBytes(conn, 1, new Uint8Array(16));
  const seconds = (performance.now() - start) / 1000;
  conn.close();
  return mib / seconds;
}

async function download(port: number, mib: number): Promise<number> {
  const start = performance.now();
  const conn = await request(port, "d", mib);
  await readBytes(conn, mib * MIB, new Uint8Array(CHUNK));
  const seconds = (performance.now() - start) / 1000;
  conn.close();
  return mib / seconds;
}

interface Figures {
  handshakes: number;
  upload: number;
  download: number;
}

async function measure(engine: Engine): Promise<Figures> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--serve", engine],
    stdout: "piped",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`The ${engine} server exited before listening`);
    line += value;
  }
  const port = Number(/port (\d+)/.exec(line)![1]);
  try {
    const mib = Number(values["bulk-mib"]);
    // One untimed round warms both processes up.
    await handshakesPerSecond(port, 100, 4);
    await upload(port, 16);
    return {
      handshakes: await handshakesPerSecond(
        port,
        Number(values.handshakes),
        Number(values.concurrency),
      ),
      upload: await upload(port, mib),
      download: await download(port, mib),
    };
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
  }
}

if (values.serve) {
  serve(values.serve as Engine);
} else {
  const rounds = new Map<Engine, Figures[]>(ENGINES.map((engine) => [engine, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const engine of ENGINES) rounds.get(engine)!.push(await measure(engine));
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
  const base = results.get("listenTls")!;
  const ratio = (a: number, b: number): string => (a / b).toFixed(2);
  console.log(
    "engine           handshakes/s   upload MiB/s   download MiB/s   (ratio to listenTls)",
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
}
