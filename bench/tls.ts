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
 * With `--clients`, client engines are compared instead, against one server engine (`--server`,
 * `listenTls` by default), ratios against `startTls`:
 *
 * - `startTls`: `Deno.connect`, then `Deno.startTls` over the conn (rustls): what
 *   `createConnection` and a client-side `startTls()` use over TCP.
 * - `node-over-deno`: `Deno.connect`, then `node:tls` over the conn (what clients over other
 *   channels use; a handshake timeout or an abort there closes the socket).
 *
 *   deno run -A bench/tls.ts [--clients [--server ENGINE]] [--handshakes 1000] [--concurrency 16]
 *     [--bulk-mib 256] [--rounds 3]
 */

import { parseArgs } from "node:util";
import {
  connect as nodeTlsConnect,
  createSecureContext,
  createServer as createNodeTlsServer,
  TLSSocket,
} from "node:tls";
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
    clients: { type: "boolean", default: false },
    server: { type: "string", default: "listenTls" },
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

/** How the client opens a TLS connection to 127.0.0.1:`port`. */
type Dial = (port: number) => Promise<ByteChannel>;

/** The client engines: `connectTls` for the server comparison, the others for `--clients`. */
const DIALS: Record<string, Dial> = {
  connectTls: (port) => Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] }),
  async startTls(port) {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    tcp.setNoDelay(true);
    const conn = await Deno.startTls(tcp, { hostname: "127.0.0.1", caCerts: [ca] });
    await conn.handshake();
    return conn;
  },
  async "node-over-deno"(port) {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    tcp.setNoDelay(true);
    const inner = channelToDuplex(tcp);
    const socket = nodeTlsConnect({ socket: inner, host: "127.0.0.1", ca: [ca] });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    return new NodeStreamChannel(socket, [inner]);
  },
};

async function request(dial: Dial, port: number, kind: string, mib = 0): Promise<ByteChannel> {
  const channel = await dial(port);
  const head = new Uint8Array(kind === "h" ? 1 : 5);
  head[0] = kind.charCodeAt(0);
  if (kind !== "h") new DataView(head.buffer).setUint32(1, mib);
  await writeAll(channel, head);
  return channel;
}

async function readBytes(channel: ByteChannel, bytes: number, buffer: Uint8Array): Promise<void> {
  for (let got = 0; got < bytes;) {
    const n = await channel.read(buffer);
    if (n === null) throw new Error(`Connection closed after ${got} of ${bytes} bytes`);
    got += n;
  }
}

async function handshakesPerSecond(
  dial: Dial,
  port: number,
  total: number,
  width: number,
): Promise<number> {
  let next = 0;
  const buffer = new Uint8Array(16);
  const worker = async (): Promise<void> => {
    while (next++ < total) {
      const channel = await request(dial, port, "h");
      await readBytes(channel, 1, buffer);
      channel.close();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: width }, worker));
  return total / ((performance.now() - start) / 1000);
}

async function upload(dial: Dial, port: number, mib: number): Promise<number> {
  const chunk = new Uint8Array(CHUNK);
  const start = performance.now();
  const channel = await request(dial, port, "u", mib);
  for (let sent = 0; sent < mib * MIB; sent += CHUNK) await writeAll(channel, chunk);
  await readBytes(channel, 1, new Uint8Array(16));
  const seconds = (performance.now() - start) / 1000;
  channel.close();
  return mib / seconds;
}

async function download(dial: Dial, port: number, mib: number): Promise<number> {
  const start = performance.now();
  const channel = await request(dial, port, "d", mib);
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

/** Measures `dial` against a fresh server process of `engine`. */
async function measure(engine: Engine, dial: Dial): Promise<Figures> {
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
    await handshakesPerSecond(dial, port, 100, 4);
    await upload(dial, port, 16);
    return {
      handshakes: await handshakesPerSecond(
        dial,
        port,
        Number(values.handshakes),
        Number(values.concurrency),
      ),
      upload: await upload(dial, port, mib),
      download: await download(dial, port, mib),
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
  // The rows: server engines against a Deno.connectTls client, or (--clients) client engines
  // against one server engine. The first row is the baseline.
  const rows: [string, Engine, Dial][] = values.clients
    ? ["startTls", "node-over-deno"].map((name) => [name, values.server as Engine, DIALS[name]])
    : ENGINES.map((engine) => [engine, engine, DIALS.connectTls]);
  const rounds = new Map<string, Figures[]>(rows.map(([name]) => [name, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [name, engine, dial] of rows) rounds.get(name)!.push(await measure(engine, dial));
  }
  const median = (figures: number[]): number =>
    figures.sort((a, b) => a - b)[Math.floor(figures.length / 2)];
  const results = new Map<string, Figures>();
  for (const [name, figures] of rounds) {
    results.set(name, {
      handshakes: median(figures.map((f) => f.handshakes)),
      upload: median(figures.map((f) => f.upload)),
      download: median(figures.map((f) => f.download)),
    });
  }
  const [baseName] = rows[0];
  const base = results.get(baseName)!;
  const ratio = (a: number, b: number): string => (a / b).toFixed(2);
  console.log(
    `engine           handshakes/s   upload MiB/s   download MiB/s   (ratio to ${baseName})`,
  );
  for (const [name, f] of results) {
    console.log(
      `${name.padEnd(16)} ${f.handshakes.toFixed(0).padStart(8)} ${
        ratio(f.handshakes, base.handshakes).padStart(5)
      }   ${f.upload.toFixed(0).padStart(6)} ${ratio(f.upload, base.upload).padStart(5)}   ${
        f.download.toFixed(0).padStart(6)
      } ${ratio(f.download, base.download).padStart(5)}`,
    );
  }
}
