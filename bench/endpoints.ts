/**
 * Endpoint benchmarks: a Plexus `Server` against a hand-written `Deno.listen` echo server, each
 * in its own process (so its peak memory can be read), driven by the same raw client here.
 *
 *   deno run -A bench/endpoints.ts [--connections 1000] [--pings 10] [--hold 10000] [--rounds 3]
 *
 * - concurrent: --connections connections open at once, each doing --pings 64-byte round
 *   trips; reports the time and the server's peak RSS (VmHWM), and ours / raw ratios
 *   (below 1: better).
 * - hold: --hold connections held open at once (each proven with one round trip); reports
 *   the time to open them and the server's RSS while holding them.
 *
 * The file limit is raised to the hard limit for this process and the servers when it is too
 * low for --hold connections.
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    connections: { type: "string", default: "1000" },
    pings: { type: "string", default: "10" },
    hold: { type: "string", default: "10000" },
    rounds: { type: "string", default: "3" },
    child: { type: "boolean", default: false },
  },
});
const CONNECTIONS = Number(values.connections);
const PINGS = Number(values.pings);
const HOLD = Number(values.hold);
const ROUNDS = Number(values.rounds);
const MESSAGE = new Uint8Array(64).fill(7);

/** Re-runs this script under a raised file limit when the current one is too low. */
async function ensureFileLimit(): Promise<boolean> {
  if (values.child) return false;
  const soft = Number(
    new TextDecoder().decode(
      (await new Deno.Command("bash", { args: ["-c", "ulimit -n"] }).output()).stdout,
    ),
  );
  if (soft >= HOLD * 2 + 1024) return false;
  const args = [...Deno.args, "--child"].map((a) => `'${a}'`).join(" ");
  const script = `ulimit -n $(ulimit -Hn) && exec '${Deno.execPath()}' run -A ` +
    `'${new URL(import.meta.url).pathname}' ${args}`;
  const { code } = await new Deno.Command("bash", { args: ["-c", script] }).spawn().status;
  Deno.exit(code);
}

interface ServerProcess {
  port: number;
  memory(field: "VmHWM" | "VmRSS"): Promise<number>;
  stop(): Promise<void>;
}

async function startServer(kind: "raw" | "ours"): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_echo_server.ts", import.meta.url).pathname, kind],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/port \d+/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${kind} server exited`);
    text += value;
  }
  const drain = (async () => {
    while (!(await reader.read()).done);
  })();
  return {
    port: Number(/port (\d+)/.exec(text)![1]),
    async memory(field) {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
    },
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await drain;
    },
  };
}

async function pingPong(conn: Deno.Conn, pings: number, buffer: Uint8Array): Promise<void> {
  for (let i = 0; i < pings; i++) {
    await conn.write(MESSAGE);
    for (let got = 0; got < MESSAGE.length;) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("server closed the connection");
      got += n;
    }
  }
}

async function connect(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  return conn;
}

/** Opens `count` connections at once, each doing `pings` round trips, then closes them. */
async function concurrent(port: number, count: number, pings: number): Promise<number> {
  const start = performance.now();
  await Promise.all(Array.from({ length: count }, async () => {
    const conn = await connect(port);
    await pingPong(conn, pings, new Uint8Array(1024));
    conn.close();
  }));
  return performance.now() - start;
}

/** Opens `count` connections, proves each with a round trip, and keeps them open. */
async function hold(port: number, count: number): Promise<{ ms: number; conns: Deno.Conn[] }> {
  const start = performance.now();
  const conns: Deno.Conn[] = [];
  const buffer = new Uint8Array(1024);
  for (let i = 0; i < count; i += 500) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, () => connect(port)),
    );
    await Promise.all(batch.map((conn) => pingPong(conn, 1, buffer)));
    conns.push(...batch);
  }
  return { ms: performance.now() - start, conns };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

if (!(await ensureFileLimit())) {
  console.log(
    `endpoints: ${CONNECTIONS} concurrent connections x ${PINGS} round trips, then ${HOLD} ` +
      `held open; ${ROUNDS} rounds, alternating which server goes first; ratios are ours / raw`,
  );
  const results = {
    raw: { ms: [] as number[], hwm: [] as number[] },
    ours: { ms: [] as number[], hwm: [] as number[] },
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order: ("raw" | "ours")[] = round % 2 ? ["ours", "raw"] : ["raw", "ours"];
    for (const kind of order) {
      const server = await startServer(kind);
      results[kind].ms.push(await concurrent(server.port, CONNECTIONS, PINGS));
      results[kind].hwm.push(await server.memory("VmHWM"));
      await server.stop();
    }
  }
  const time = { raw: median(results.raw.ms), ours: median(results.ours.ms) };
  const hwm = { raw: median(results.raw.hwm), ours: median(results.ours.hwm) };
  console.log(
    `concurrent: raw ${time.raw.toFixed(0)} ms, peak RSS ${mib(hwm.raw)} MiB | ours ` +
      `${time.ours.toFixed(0)} ms, peak RSS ${mib(hwm.ours)} MiB | time ratio ` +
      `${(time.ours / time.raw).toFixed(3)}, RSS ratio ${(hwm.ours / hwm.raw).toFixed(3)}`,
  );
  const held: Record<string, { ms: number; rss: number }> = {};
  for (const kind of ["raw", "ours"] as const) {
    const server = await startServer(kind);
    const { ms, conns } = await hold(server.port, HOLD);
    held[kind] = { ms, rss: await server.memory("VmRSS") };
    for (const conn of conns) conn.close();
    await server.stop();
  }
  console.log(
    `hold ${HOLD}: raw opened in ${held.raw.ms.toFixed(0)} ms, RSS ${mib(held.raw.rss)} MiB | ` +
      `ours opened in ${held.ours.ms.toFixed(0)} ms, RSS ${mib(held.ours.rss)} MiB | RSS ratio ` +
      `${(held.ours.rss / held.raw.rss).toFixed(3)}`,
  );
}
