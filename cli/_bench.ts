/** `plexus bench ADDR`: a load generator for framed echo servers and packet RPC servers. */

import { createConnection } from "../endpoints/create_connection.ts";
import { decodeFrames, encodeFrame } from "../framing/codec.ts";
import { FramedProtocol } from "../framing/framed_protocol.ts";
import type { Framer } from "../framing/framer.ts";
import { IdentityFramer } from "../framing/identity.ts";
import { MAX_RQ_TYPE, PacketConnection } from "../packet/connection.ts";
import { DEFAULT_MAX_PACKET_SIZE } from "../packet/framer.ts";
import { varintLength } from "../framing/varint.ts";
import { EXTENSION_RQ_TYPE } from "../packet/extension.ts";
import { durationFlag, type FlagSpec, intFlag, parseArgs, UsageError } from "./_args.ts";
import {
  addressHelp,
  parseTarget,
  printLine,
  type Target,
  TLS_CLIENT_HELP,
  TLS_CLIENT_VALUE_FLAGS,
  tlsClientOptions,
} from "./_common.ts";
import { connectError, reason } from "./_errors.ts";
import { FRAMER_HELP, type FramerSpec, parseFramer } from "./_framer.ts";
import { Histogram } from "../transport/_histogram.ts";
import { formatMs, renderHistogram } from "./_histogram.ts";
import type { TlsClientOptions } from "../transport/tls_options.ts";

/** The longest run `--duration` may ask for: 10 minutes. */
export const MAX_BENCH_DURATION = 600_000;
/** How long requests still in flight at the end may take before the connections are cut. */
const DRAIN_GRACE = 2000;

/** The help of `plexus bench`. */
export const BENCH_HELP = `Usage: plexus bench [options] ADDR

Loads a server at ADDR with requests for --duration, printing a progress line to stderr every
second (requests, throughput, errors), then a summary to stdout: counts, latency percentiles
(p50, p90, p99, max) and a small histogram. Only ever connects to ADDR.

Modes (--mode):
  echo   frames of --size bytes through --framer; each frame the server sends back answers the
         oldest one in flight (a reply of another size counts as an error)
  rpc    cs.packetstream requests of type --rq-type with a --size byte payload; a failure
         response counts as an error

Options:
  --mode echo|rpc       what to send (default: echo)
  --framer SPEC         echo: the framer (default: len:4be)
  -c, --connections N   connections (default 1, at most 1000)
  -d, --depth N         requests in flight per connection (default 1, at most 1024)
  --duration DURATION   how long to send (default 5s, at most 10m)
  --size N              payload bytes (default 64; echo: what the framer carries, at
                        most 16777216; rpc: at most 16777209, less for a large --rq-type)
  --rq-type N           rpc: the request type (default 0)
  -q, --quiet           no progress line
${TLS_CLIENT_HELP}
  -h, --help            this help

${addressHelp(false)}

${FRAMER_HELP}

Exit status: 0 when every request succeeded, 1 on errors, 2 on a usage error.
`;

/** The flags of `plexus bench`. */
export const BENCH_FLAGS: FlagSpec = {
  values: [
    "mode",
    "framer",
    "connections",
    "depth",
    "duration",
    "size",
    "rq-type",
    ...TLS_CLIENT_VALUE_FLAGS,
  ],
  booleans: ["quiet", "tls", "insecure", "help"],
  aliases: { "-c": "--connections", "-d": "--depth", "-q": "--quiet", "-h": "--help" },
};

/** What every connection adds to. */
interface Tally {
  ok: number;
  errors: number;
  /** The first error seen, for the summary. */
  firstError: string | undefined;
  histogram: Histogram;
  /** When the last request settled (`performance.now()`). */
  lastAt: number;
  /** Whether new requests may start. */
  running: boolean;
}

/** One loaded connection: `idle` resolves when its last request settled. */
interface Worker {
  /** Starts sending: called once every connection is made, when the clock starts. */
  start(): void;
  idle: Promise<void>;
  close(): Promise<void>;
  abort(): void;
}

/**
 * Runs `plexus bench`.
 *
 * @returns The exit code.
 */
export async function bench(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, BENCH_FLAGS);
  if (args.booleans.has("help")) {
    console.log(BENCH_HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError("too many arguments");
  const target = parseTarget(args.positionals[0], false);
  const mode = args.values.get("mode") ?? "echo";
  if (mode !== "echo" && mode !== "rpc") {
    throw new UsageError(`--mode must be echo or rpc, got "${mode}"`);
  }
  // The other mode's flags are usage errors, not silently ignored.
  const misplaced = mode === "rpc" ? "framer" : "rq-type";
  if (args.values.has(misplaced)) {
    throw new UsageError(
      `--${misplaced} is for --mode ${mode === "rpc" ? "echo" : "rpc"}, not ${mode}`,
    );
  }
  const framer = parseFramer(args.values.get("framer") ?? "len:4be");
  if (mode === "echo" && (framer.kind !== "framer" || framer.raw)) {
    throw new UsageError(`echo mode needs a framer with frame boundaries, not ${framer.name}`);
  }
  const makeFramer = framer.kind === "framer" ? framer.create : () => new IdentityFramer();
  const connections = intFlag(args, "connections", 1, 1, 1000);
  const depth = intFlag(args, "depth", 1, 1, 1024);
  const duration = durationFlag(args, "duration", 5000, MAX_BENCH_DURATION);
  const size = intFlag(args, "size", 64, 0, 16 << 20);
  const rqType = intFlag(args, "rq-type", 0, 0, MAX_RQ_TYPE);
  if (rqType === EXTENSION_RQ_TYPE) {
    throw new UsageError(`--rq-type ${rqType} is reserved for the Plexus extensions`);
  }
  const tls = await tlsClientOptions(args);
  const quiet = args.booleans.has("quiet");

  const tally: Tally = {
    ok: 0,
    errors: 0,
    firstError: undefined,
    histogram: new Histogram(),
    lastAt: 0,
    running: true,
  };
  const payload = new Uint8Array(size).fill(0x78); // "x": no line ending, no zero byte
  // What an echo of the payload decodes to (a dot body keeps its CRLF): its length is the reply
  // expected; a framer that cannot carry the payload as one frame is a usage error.
  const replySize = mode === "echo"
    ? echoedSize(framer.name, makeFramer, payload)
    : checkRpcSize(size, rqType);
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < connections; i++) {
      workers.push(
        mode === "echo"
          ? await echoWorker(target, tls, makeFramer, payload, replySize, depth, tally)
          : await rpcWorker(target, tls, rqType, payload, depth, tally),
      );
    }
  } catch (error) {
    for (const worker of workers) worker.abort();
    throw error;
  }

  // Every connection is made before any sends: a request answered while others were still
  // connecting would count without its time.
  const started = performance.now();
  for (const worker of workers) worker.start();
  const progress = quiet ? undefined : startProgress(started, tally, size);
  await new Promise((resolve) => setTimeout(resolve, duration));
  tally.running = false;
  const drained = Promise.all(workers.map((w) => w.idle));
  let grace: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    drained.then(() => false),
    new Promise<boolean>((resolve) => grace = setTimeout(() => resolve(true), DRAIN_GRACE)),
  ]);
  clearTimeout(grace);
  if (progress !== undefined) progress.stop();
  // After the drain: `tally.ok` counts the requests answered in it too, so the rate's time
  // must include it.
  // A timed-out drain counts up to the last answer, not the grace spent waiting in vain.
  const end = timedOut ? Math.max(started + duration, tally.lastAt) : performance.now();
  const elapsed = (end - started) / 1000;
  if (timedOut) {
    for (const worker of workers) worker.abort();
    await drained; // the aborted connections count their unanswered requests as errors
  } else await Promise.all(workers.map((w) => w.close()));

  summarize({ mode, target, framer, connections, depth, size, elapsed, tally });
  return tally.errors === 0 ? 0 : 1;
}

function countError(tally: Tally, error: unknown): void {
  tally.errors++;
  tally.firstError ??= reason(error);
}

async function echoWorker(
  target: Target,
  tls: TlsClientOptions | undefined,
  makeFramer: () => Framer<Uint8Array>,
  payload: Uint8Array,
  replySize: number,
  depth: number,
  tally: Tally,
): Promise<Worker> {
  // Start times of the frames in flight, oldest first, in a ring: nothing allocated per frame.
  const starts = new Float64Array(depth);
  let head = 0;
  let inFlight = 0;
  /** Waiting for the run to start, sending, or lost (a loss before the start is an error). */
  let state: "waiting" | "started" | "lost" = "waiting";
  /** Whether the run gave up on this connection after the drain grace (`abort()`). */
  let givenUp = false;
  const idle = Promise.withResolvers<void>();
  const send = (framed: FramedProtocol<Uint8Array>): void => {
    starts[(head + inFlight) % depth] = performance.now();
    inFlight++;
    framed.sendFrame(payload);
  };
  const protocol = new FramedProtocol(makeFramer(), {
    frameReceived(frame, framed) {
      if (inFlight === 0) {
        countError(tally, new Error("the server sent a frame no request asked for"));
        return;
      }
      tally.lastAt = performance.now();
      tally.histogram.record(tally.lastAt - starts[head]);
      head = (head + 1) % depth;
      inFlight--;
      if (frame.byteLength === replySize) tally.ok++;
      else {
        countError(
          tally,
          new Error(`a reply of ${frame.byteLength} bytes, expected ${replySize}`),
        );
      }
      if (tally.running) send(framed);
      else if (inFlight === 0) idle.resolve();
    },
    connectionLost(error) {
      const before = state;
      state = "lost";
      if (before === "waiting" || inFlight > 0 || error) {
        countError(
          tally,
          error ??
            new Error(
              before === "waiting"
                ? "the server closed the connection before the run started"
                : givenUp
                ? `${inFlight} requests unanswered ${DRAIN_GRACE} ms after the run`
                : `the server closed with ${inFlight} requests in flight`,
            ),
        );
      }
      idle.resolve();
    },
  });
  try {
    // All `depth` frames are written at once (the server paces them): the write buffer must
    // hold them, past the default 64 MiB cap (1 MiB x 64 reached it).
    const wire = encodeFrame(makeFramer(), payload).byteLength;
    await createConnection(() => protocol, target.address, {
      tls,
      timeout: 30_000,
      maxWriteBuffer: Math.max(64 << 20, depth * wire + (1 << 20)),
    });
  } catch (error) {
    throw connectError(target.label, error);
  }
  return {
    start() {
      // Lost before the clock started (counted then): its requests would never be answered.
      if (state === "lost") return;
      state = "started";
      for (let i = 0; i < depth; i++) send(protocol);
    },
    idle: idle.promise,
    async close() {
      protocol.close();
      await protocol.closed;
    },
    abort: () => {
      // Given up after the drain's grace: the requests left were never answered (the
      // server did not close the connection).
      givenUp = true;
      protocol.transport.abort();
    },
  };
}

async function rpcWorker(
  target: Target,
  tls: TlsClientOptions | undefined,
  rqType: number,
  payload: Uint8Array,
  depth: number,
  tally: Tally,
): Promise<Worker> {
  let connection: PacketConnection;
  try {
    ({ protocol: connection } = await createConnection(
      () => new PacketConnection(),
      target.address,
      {
        tls,
        timeout: 30_000,
      },
    ));
  } catch (error) {
    throw connectError(target.label, error);
  }
  // The `depth` loops share the connection: when it is lost they all fail, but that is one
  // error, not `depth`.
  let lost = false;
  const loop = async (): Promise<void> => {
    while (tally.running) {
      const start = performance.now();
      try {
        const response = await connection.submit(rqType, { payload });
        tally.lastAt = performance.now();
        tally.histogram.record(tally.lastAt - start);
        if (response.ok) tally.ok++;
        else {countError(
            tally,
            new Error(`failure response: ${new TextDecoder().decode(response.payload)}`),
          );}
      } catch (error) {
        if (!lost) countError(tally, error);
        lost = true;
        return; // the connection is gone
      }
    }
  };
  let loops: Promise<void>[] = [];
  return {
    start() {
      loops = Array.from({ length: depth }, loop);
    },
    get idle() {
      return Promise.all(loops).then(() => {});
    },
    close: () => connection.close(),
    abort: () => connection.abort(),
  };
}

function startProgress(started: number, tally: Tally, size: number): { stop(): void } {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  let lastOk = 0;
  let last = started;
  const timer = setInterval(() => {
    const now = performance.now();
    const rate = (tally.ok - lastOk) / ((now - last) / 1000);
    lastOk = tally.ok;
    last = now;
    const line = `${((now - started) / 1000).toFixed(0).padStart(4)}s  ${tally.ok} ok  ` +
      `${rate.toFixed(0)}/s  ${mib(rate * size)}/s  errors ${tally.errors}`;
    Deno.stderr.writeSync(encoder.encode(tty ? `\r\x1b[K${line}` : `${line}\n`));
  }, 1000);
  return {
    stop() {
      clearInterval(timer);
      if (tty) Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
    },
  };
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 2 : 1)} MiB`;
}

interface Summary {
  mode: string;
  target: Target;
  framer: FramerSpec;
  connections: number;
  depth: number;
  size: number;
  elapsed: number;
  tally: Tally;
}

function summarize(s: Summary): void {
  const { tally, elapsed } = s;
  const h = tally.histogram;
  const rate = tally.ok / elapsed;
  const how = s.mode === "echo" ? `${s.framer.name} echo` : "packet rpc";
  printLine(
    `${how} to ${s.target.label}: ${s.connections} connections x ${s.depth} in flight, ` +
      `${s.size}-byte payloads, ${elapsed.toFixed(2)} s`,
  );
  printLine(
    `requests: ${tally.ok} ok, ${tally.errors} errors, ${rate.toFixed(0)}/s, ` +
      `${mib(rate * s.size)}/s each way`,
  );
  if (tally.firstError !== undefined) printLine(`first error: ${tally.firstError}`);
  if (h.count === 0) return;
  const { p50, p90, p99, max, mean } = h.summary();
  printLine(
    `latency: p50 ${formatMs(p50)}, p90 ${formatMs(p90)}, p99 ${formatMs(p99)}, ` +
      `max ${formatMs(max)}, mean ${formatMs(mean)}`,
  );
  for (const row of renderHistogram(h)) printLine(row);
}

/**
 * The largest tag a run may use, for the size check: a 5-byte varint covers 2^35 requests on one
 * connection, more than 10 minutes (the longest run) can send.
 */
const LARGEST_TAG = 2 ** 35 - 1;

/**
 * Checks that a request with a `size`-byte payload fits the packet limit with any tag of the run:
 * `maxPacketSize` counts the tag, flags and rq_type fields too, so a 16 MiB payload does not fit.
 *
 * @returns `size`, the reply size expected.
 * @throws {UsageError} When it does not fit.
 */
function checkRpcSize(size: number, rqType: number): number {
  const limit = DEFAULT_MAX_PACKET_SIZE - varintLength(LARGEST_TAG) - 1 - varintLength(rqType + 1);
  if (size > limit) {
    throw new UsageError(
      `--size ${size} does not fit a packet with --rq-type ${rqType}: at most ${limit} bytes in ` +
        `rpc mode (maxPacketSize ${DEFAULT_MAX_PACKET_SIZE} counts the tag, flags and rq_type too)`,
    );
  }
  return size;
}

/**
 * The size of the frame an echo of `payload` decodes to with the framer (a dot body keeps its
 * CRLF, say).
 *
 * @throws {UsageError} When the framer cannot carry the payload as one frame (`chunk:N` with
 * another `--size`, say).
 */
function echoedSize(
  name: string,
  makeFramer: () => Framer<Uint8Array>,
  payload: Uint8Array,
): number {
  let frames: Uint8Array[];
  try {
    frames = decodeFrames(makeFramer(), encodeFrame(makeFramer(), payload));
  } catch (error) {
    throw new UsageError(
      `--framer ${name} cannot carry a ${payload.byteLength}-byte payload: ${reason(error)}`,
    );
  }
  if (frames.length !== 1) {
    throw new UsageError(
      `--framer ${name} cannot carry a ${payload.byteLength}-byte payload as one frame (--size)`,
    );
  }
  return frames[0].byteLength;
}
