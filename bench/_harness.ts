/**
 * The whole-process benchmark harness: every arm of a case is a server process and a client
 * process on 127.0.0.1, and the arms of a case take turns for several rounds in one run.
 *
 * A run of one arm, as the parent drives it:
 *
 * ```
 * parent                      server child                 client child
 * spawn server  ------------> listens, prints "port N"
 * spawn client (port N) ---------------------------------> connects, warms up, prints "ready"
 * reset the server's peak RSS, read /proc/<pid>/stat of both
 * write "go" ---------------------------------------------> timed work, prints "done <ms>"
 * read /proc/<pid>/stat and /proc/<pid>/status of both
 * close both stdins  -------> exits                        exits
 * ```
 *
 * CPU is user + sys of both processes over the timed window (clock ticks of `getconf CLK_TCK`);
 * wall time is the client's own clock around its timed work. Every step has a deadline: a child
 * that does not answer in time is killed and the run fails.
 *
 * Two environment variables help find where the time goes:
 * - `PLEXUS_BENCH_PROFILE=<dir>`: every Deno child writes a V8 CPU profile (100 µs samples)
 *   to `<dir>`, named after its arm and role (`plexus-server-<time>.cpuprofile`).
 * - `PLEXUS_BENCH_SPLIT=1`: each arm's run prints the server's and the client's CPU ticks
 *   apart (stderr), to tell which end bounds a case.
 *
 * @module
 */

/** A child program: a Deno module or a Node script, with the arguments after the role. */
export interface Program {
  /** `deno` runs a TypeScript module of bench/, `node` runs `_node.mjs`. */
  runtime: "deno" | "node";
  /** For `deno`, the module's URL; for `node`, ignored (always `_node.mjs`). */
  module: string;
  /** Which workload this program serves or drives, for example `"bulk"`. */
  workload: string;
  /** Which implementation: `"raw"`, `"plexus"`, `"buffered"`, `"node"`, ... */
  impl: string;
}

/** One arm of a case: a server and a client program, measured together. */
export interface Arm {
  /** The row label, for example `"Plexus (Protocol)"`. */
  label: string;
  /** The server process. */
  server: Program;
  /** The client process. */
  client: Program;
  /** The target ratio of issue 9, printed on this arm's row. */
  target?: string;
}

/** A case: arms measured in turn over several rounds; the first arm is the baseline. */
export interface Case {
  /** The case's name in the table. */
  name: string;
  /** Parameters handed to both processes of every arm (JSON). */
  params: Record<string, number>;
  /** Units of work per timed run (bytes, round trips, frames, ...). */
  units: number;
  /** How to print CPU per unit: the unit's name and its size in units. */
  per: { name: string; units: number };
  /** `rate`: ratio = baseline time / arm time (higher is better); `time`: arm / baseline. */
  mode: "rate" | "time";
  /** Also report the server's memory (peak RSS; RSS at the end for `hold`). */
  memory?: "peak" | "now";
  /** The baseline first, then the others. */
  arms: Arm[];
  /** Seconds one arm may take before it is killed. */
  timeout?: number;
  /**
   * This case's rounds when `--rounds` is not given (unset: {@linkcode DEFAULT_ROUNDS}). Cases
   * whose same-round ratios spread over ±0.3× on a shared machine take more (the short
   * latency-bound ones, bulk, ping-pong, UDP, pipelined frames): five rounds left their median
   * ±0.1× apart from one run to the next.
   */
  rounds?: number;
}

/** Rounds per case when neither `--rounds` nor the case says otherwise. */
export const DEFAULT_ROUNDS = 5;

/** What one timed run of one arm measured. */
export interface Sample {
  /** Wall time of the timed work, in ms (the client's clock). */
  ms: number;
  /** CPU of both processes over the timed window, in ns. */
  cpuNs: number;
  /** The server's peak RSS (`VmHWM`) during the timed work, in bytes. */
  hwm: number;
  /** The server's RSS at the end of the timed work (`VmRSS`), in bytes. */
  rss: number;
}

const BENCH_DIR = new URL("./", import.meta.url);
const ROOT = new URL("../", BENCH_DIR).pathname;
const NODE_SCRIPT = new URL("_node.mjs", BENCH_DIR).pathname;

let clockTicks: number | undefined;

/** Clock ticks per second for /proc/<pid>/stat, from `getconf CLK_TCK` (usually 100). */
export async function clkTck(): Promise<number> {
  if (clockTicks === undefined) {
    const { stdout } = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
    clockTicks = Number(new TextDecoder().decode(stdout).trim()) || 100;
  }
  return clockTicks;
}

/** utime + stime of a process, in clock ticks, from /proc/<pid>/stat. */
export function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name in parentheses may contain spaces: split after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5)
}

/** A `Vm*` field of /proc/<pid>/status, in bytes. */
export function memory(pid: number, field: "VmHWM" | "VmRSS"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

/**
 * Resets a process's peak RSS (`VmHWM`) to its current RSS (`clear_refs` 5, Linux 4.0+), so
 * that a peak read after the timed work is the peak of that work, not of the warm-up.
 */
export function resetPeakRss(pid: number): void {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // Not Linux, or not allowed: the peak then includes the warm-up.
  }
}

/** Whether `node` can be run here. */
export async function hasNode(): Promise<boolean> {
  try {
    return (await new Deno.Command("node", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/**
 * `--cpu-prof` flags for a child when `PLEXUS_BENCH_PROFILE` names a directory: each Deno
 * child then writes a V8 CPU profile there, named after its arm and role.
 */
function profileFlags(program: Program, role: string): string[] {
  const dir = Deno.env.get("PLEXUS_BENCH_PROFILE");
  if (!dir) return [];
  return [
    "--cpu-prof",
    "--cpu-prof-interval=100",
    `--cpu-prof-dir=${dir}`,
    `--cpu-prof-name=${program.impl}-${role}-${Date.now()}.cpuprofile`,
  ];
}

/** A spawned child with a line reader on its stdout and a writer on its stdin. */
class Child {
  readonly process: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stdout: ReadableStreamDefaultReader<string>;
  #pending = "";

  constructor(program: Program, role: "server" | "client", args: string[]) {
    const [command, argv] = program.runtime === "node"
      ? ["node", [NODE_SCRIPT, role, program.workload, program.impl, ...args]]
      : [Deno.execPath(), [
        "run",
        "--allow-net=127.0.0.1",
        ...profileFlags(program, role),
        new URL(program.module).pathname,
        role,
        program.workload,
        program.impl,
        ...args,
      ]];
    this.process = new Deno.Command(command, {
      args: argv,
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.process.stdin.getWriter();
    this.#stdout = this.process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  get pid(): number {
    return this.process.pid;
  }

  /** The next line the child prints. */
  async line(): Promise<string> {
    while (!this.#pending.includes("\n")) {
      const { value, done } = await this.#stdout.read();
      if (done) throw new Error(`Child ${this.pid} ended before answering`);
      this.#pending += value;
    }
    const at = this.#pending.indexOf("\n");
    const line = this.#pending.slice(0, at);
    this.#pending = this.#pending.slice(at + 1);
    return line;
  }

  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Closes stdin (the child exits) and waits for the child; kills it after `ms`. */
  async finish(ms: number): Promise<void> {
    await this.#stdin.close().catch(() => {});
    const timer = setTimeout(() => this.kill(), ms);
    try {
      await this.process.status;
    } finally {
      clearTimeout(timer);
      await this.#stdout.cancel().catch(() => {});
    }
  }

  kill(): void {
    try {
      this.process.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Resolves `promise`, or rejects after `ms` with a message naming `what`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one arm once: spawn, warm up, measure, stop. */
export async function runArm(c: Case, arm: Arm): Promise<Sample> {
  const limit = (c.timeout ?? 120) * 1000;
  const params = JSON.stringify(c.params);
  const server = new Child(arm.server, "server", [params]);
  let client: Child | undefined;
  try {
    const portLine = await within(server.line(), 20_000, `${arm.label} server start`);
    const port = /^port (\d+)$/.exec(portLine)?.[1];
    if (!port) throw new Error(`Unexpected server line: ${portLine}`);
    client = new Child(arm.client, "client", [params, port]);
    const ready = await within(client.line(), limit, `${arm.label} warm-up`);
    if (ready !== "ready") throw new Error(`Unexpected client line: ${ready}`);
    const ticks = await clkTck();
    resetPeakRss(server.pid);
    const beforeServer = cpuTicks(server.pid);
    const before = beforeServer + cpuTicks(client.pid);
    await client.send("go");
    const done = await within(client.line(), limit, `${arm.label} timed run`);
    const afterServer = cpuTicks(server.pid);
    const after = afterServer + cpuTicks(client.pid);
    if (Deno.env.get("PLEXUS_BENCH_SPLIT")) {
      console.error(
        `${arm.label}: server ${afterServer - beforeServer} ticks, client ${
          after - afterServer - (before - beforeServer)
        } ticks`,
      );
    }
    const ms = Number(/^done ([\d.]+)$/.exec(done)?.[1]);
    if (!Number.isFinite(ms)) throw new Error(`Unexpected client line: ${done}`);
    const sample: Sample = {
      ms,
      cpuNs: (after - before) * 1e9 / ticks,
      hwm: memory(server.pid, "VmHWM"),
      rss: memory(server.pid, "VmRSS"),
    };
    await client.finish(10_000);
    await server.finish(10_000);
    return sample;
  } catch (error) {
    client?.kill();
    server.kill();
    await client?.process.status;
    await server.process.status;
    throw error;
  }
}

/** The median of `xs`. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** One printed row: an arm's medians and its same-round ratios to the baseline. */
export interface Row {
  /** The case's name. */
  name: string;
  /** The arm's label. */
  label: string;
  /** The arm's samples, one per round. */
  samples: Sample[];
  /** Same-round ratios to the baseline (undefined for the baseline). */
  ratios?: number[];
  /** Same-round ratios of CPU per unit to the baseline's (lower is better). */
  cpuRatios?: number[];
  /** Same-round server memory ratios to the baseline. */
  memoryRatios?: number[];
}

/**
 * Measures a case: `rounds` rounds, each running every arm once, in an order that changes
 * every round so that no arm always goes first or always follows the same arm. Returns a row
 * per arm.
 */
export async function measure(c: Case, rounds: number): Promise<Row[]> {
  if (!(Number.isInteger(rounds) && rounds >= 1)) {
    throw new RangeError(`Cannot measure ${c.name}: need at least one round, got ${rounds}`);
  }
  const samples: Sample[][] = c.arms.map(() => []);
  for (let round = 0; round < rounds; round++) {
    // Forwards from arm `round` in even rounds, backwards from it in odd ones: every arm goes
    // first once in n rounds, two arms alternate, three run all six orders in six rounds.
    // (Rotating and reversing in the same round ran two arms in the same order every round.)
    const n = c.arms.length;
    const order = c.arms.map((_, i) => ((round % 2 ? round - i : round + i) % n + n) % n);
    for (const i of order) samples[i][round] = await runArm(c, c.arms[i]);
  }
  const base = samples[0];
  const mem = (s: Sample): number => c.memory === "now" ? s.rss : s.hwm;
  return c.arms.map((arm, i) => ({
    name: c.name,
    label: arm.label,
    samples: samples[i],
    ratios: i === 0
      ? undefined
      : samples[i].map((s, r) => c.mode === "rate" ? base[r].ms / s.ms : s.ms / base[r].ms),
    cpuRatios: i === 0 ? undefined : samples[i].map((s, r) => s.cpuNs / base[r].cpuNs),
    memoryRatios: i === 0 || !c.memory
      ? undefined
      : samples[i].map((s, r) => mem(s) / mem(base[r])),
  }));
}

function cpuPer(c: Case, row: Row): string {
  const ns = median(row.samples.map((s) => s.cpuNs)) / c.units * c.per.units;
  const text = ns >= 1e9
    ? `${(ns / 1e9).toFixed(2)} s`
    : ns >= 1e6
    ? `${(ns / 1e6).toFixed(2)} ms`
    : ns >= 1e3
    ? `${(ns / 1e3).toFixed(2)} µs`
    : `${ns.toFixed(0)} ns`;
  return `${text}/${c.per.name}`;
}

function spread(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${median(s).toFixed(2)}× (${s[0].toFixed(2)}–${s[s.length - 1].toFixed(2)})`;
}

/** Prints a case's rows as Markdown table rows (see {@linkcode printHeader}). */
export function printRows(c: Case, rows: Row[]): void {
  for (const row of rows) {
    const ms = median(row.samples.map((s) => s.ms));
    const rate = c.units / (ms / 1000) / c.per.units;
    const figure = c.mode === "rate"
      ? `${rate >= 1000 ? rate.toFixed(0) : rate.toFixed(2)} ${c.per.name}/s`
      : `${ms.toFixed(0)} ms`;
    const mem = c.memory
      ? ` ${
        (median(row.samples.map((s) => c.memory === "now" ? s.rss : s.hwm)) / 2 ** 20).toFixed(1)
      } MiB`
      : "";
    const ratio = row.ratios ? spread(row.ratios) : "baseline";
    const memRatio = row.memoryRatios ? ` / ${spread(row.memoryRatios)}` : "";
    const cpuRatio = row.cpuRatios ? spread(row.cpuRatios) : "";
    const target = c.arms.find((arm) => arm.label === row.label)?.target ?? "";
    console.log(
      `| ${c.name} | ${row.label} | ${figure}${mem} | ${cpuPer(c, row)} | ${ratio}${memRatio} | ` +
        `${cpuRatio} | ${target} |`,
    );
  }
}

/** Prints the table header. */
export function printHeader(): void {
  console.log(
    "| case | arm | median (server memory) | CPU per unit, client + server | " +
      "ratio to raw Deno, median (min–max) | CPU per unit / raw's | target |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
}

/** Options every bench entry point takes. */
export interface RunOptions {
  /** Scale the work down about tenfold. */
  quick: boolean;
  /**
   * Rounds per case from `--rounds` (at least 3 for a median of same-round ratios); unset:
   * each case's own `rounds`, else {@linkcode DEFAULT_ROUNDS}.
   */
  rounds: number | undefined;
  /** Whether to add the Node arms. */
  node: boolean;
}

/** Parses `--quick`, `--rounds N` and `--no-node` from `args`. */
export async function runOptions(args: string[]): Promise<RunOptions> {
  const at = args.indexOf("--rounds");
  const rounds = at >= 0 ? Number(args[at + 1]) : undefined;
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1)) {
    throw new RangeError(`Invalid --rounds ${args[at + 1]}`);
  }
  return {
    quick: args.includes("--quick"),
    rounds,
    node: !args.includes("--no-node") && await hasNode(),
  };
}

/** The rounds a case runs: `--rounds`, else the case's own, else {@linkcode DEFAULT_ROUNDS}. */
export function roundsOf(c: Case, options: RunOptions): number {
  return options.rounds ?? c.rounds ?? DEFAULT_ROUNDS;
}

/** Measures the cases and prints them as one table. */
export async function runCases(cases: Case[], options: RunOptions): Promise<void> {
  printHeader();
  for (const c of cases) {
    if (!options.node) c.arms = c.arms.filter((arm) => arm.server.runtime !== "node");
    printRows(c, await measure(c, roundsOf(c, options)));
  }
}

// ---- the children's side ---------------------------------------------------------------------

/** Reads stdin lines; resolves each `next()` with the next line, or null at end of input. */
class StdinLines {
  #pending = "";
  #decoder = new TextDecoder();
  #buffer = new Uint8Array(256);
  async next(): Promise<string | null> {
    while (!this.#pending.includes("\n")) {
      const n = await Deno.stdin.read(this.#buffer);
      if (n === null) return null;
      this.#pending += this.#decoder.decode(this.#buffer.subarray(0, n), { stream: true });
    }
    const at = this.#pending.indexOf("\n");
    const line = this.#pending.slice(0, at);
    this.#pending = this.#pending.slice(at + 1);
    return line;
  }
}

function say(line: string): void {
  const bytes = new TextEncoder().encode(line + "\n");
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
}

/** A server child: announces `port`, then exits when stdin closes. */
export async function serverMain(port: number): Promise<never> {
  say(`port ${port}`);
  const lines = new StdinLines();
  while ((await lines.next()) !== null);
  Deno.exit(0);
}

/**
 * A server child on 127.0.0.1: each accepted connection (Nagle off) goes to `serve`; when
 * `serve` returns a promise, the connection is closed once it settles. Announces the port and
 * exits when stdin closes, as {@linkcode serverMain}.
 */
export function serveConnections(
  serve: (conn: Deno.TcpConn) => Promise<void> | void,
): Promise<never> {
  const listener = listen();
  (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      const served = serve(conn);
      if (served) served.catch(() => {}).finally(() => closeQuietly(conn));
    }
  })();
  return serverMain(listener.addr.port);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/**
 * A client child: `prepare` connects and warms up and returns the timed work; it runs on
 * "go", its wall time is printed, and the process exits when stdin closes.
 */
export async function clientMain(prepare: () => Promise<() => Promise<void>>): Promise<never> {
  const work = await prepare();
  say("ready");
  const lines = new StdinLines();
  if ((await lines.next()) !== "go") Deno.exit(1);
  const start = performance.now();
  await work();
  say(`done ${(performance.now() - start).toFixed(3)}`);
  while ((await lines.next()) !== null);
  Deno.exit(0);
}

/**
 * The child entry point of a family module: `role workload impl params [port]` from
 * `Deno.args`; undefined when this process is not a child (it is the parent).
 */
export function childArgs(): {
  role: "server" | "client";
  workload: string;
  impl: string;
  params: Record<string, number>;
  port: number;
} | undefined {
  const [role, workload, impl, params, port] = Deno.args;
  if (role !== "server" && role !== "client") return undefined;
  return { role, workload, impl, params: JSON.parse(params), port: Number(port) };
}

/** What the raw loops read from and write to: a `Deno.Conn`, or any byte channel. */
export interface RawConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
}

/** What `writeAll` writes to. */
export type Writer = Pick<RawConn, "write">;

/** Writes all of `data`, continuing short writes. */
export async function writeAll(conn: Writer, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

/** Connects to 127.0.0.1:`port` with Nagle off. */
export async function connect(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  return conn;
}

/** A TCP listener on 127.0.0.1, any port. */
export function listen(backlog = 511): Deno.TcpListener {
  return Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: backlog });
}

/** An arm with both ends of the same runtime and implementation; Node when `impl` is "node". */
export function arm(
  label: string,
  module: string,
  workload: string,
  impl: string,
  target?: string,
): Arm {
  const runtime = impl === "node" ? "node" : "deno";
  return {
    label,
    server: { runtime, module, workload, impl },
    client: { runtime, module, workload, impl },
    target,
  };
}
