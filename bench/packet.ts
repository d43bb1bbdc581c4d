/**
 * Packet RPC benchmark, client and server in separate processes on 127.0.0.1 (see
 * `_harness.ts`): requests with 32-byte payloads echoed by the server, 256 in flight
 * (500 000 requests after 50 000 untimed; `--quick`: 50 000 after 5000) and 1 in flight (20 000
 * after 20 000 untimed; `--quick`: 3 000 after 3000). Raw Deno, a `PacketConnection` on both
 * ends and Node `net` take turns.
 *
 * ```
 * deno task bench:packet [--quick] [--rounds 3] [--no-node]
 * ```
 *
 * The raw RPC is the leanest tagged RPC written by hand: a frame is a 4-byte big-endian length,
 * a 4-byte tag and the payload; parsing is byte shifts over one reused read buffer; a reply is
 * a view (valid until the next read); resolvers sit in an array indexed by tag; the requests
 * of one turn leave in one write from one of two reused buffers; the server answers all the
 * requests of a read in one write. Both Deno clients run the same driver: `inFlight` loops,
 * each awaiting one call at a time.
 *
 * @module
 */

import { PacketConnection } from "@plexus/net/packet";
import { StreamTransport } from "@plexus/net/transport";
import {
  arm,
  type Case,
  childArgs,
  clientMain,
  connect,
  type RawConn,
  runCases,
  type RunOptions,
  runOptions,
  serveConnections,
  writeAll,
} from "./_harness.ts";

const MODULE = import.meta.url;
const READ = 64 * 1024;
/**
 * Requests made before the timed ones at 1 in flight. A request runs each function of either
 * end once, so V8 compiles them late: with `--trace-opt`, after 2000 requests (the old warm-up,
 * a tenth of the timed requests) Plexus still had 65 compilations to go in each process during
 * the timed work (raw: 12), after 10 000 about 50, after 20 000 about 15 (raw: 0–15). Measured,
 * the ratio to raw went from 0.93× to 0.97× (interleaved A/B, 8 rounds each) between 2000 and
 * 20 000.
 */
const LATENCY_WARM_UP = 20_000;

/** The cases of this family for the given run options. */
export function packetCases(options: RunOptions): Case[] {
  const q = options.quick;
  const rpc = (
    inFlight: number,
    requests: number,
    warm: number,
    target: string,
    rounds?: number,
  ): Case => ({
    name: `packet RPC 32 B, ${inFlight} in flight`,
    rounds,
    params: { requests, warm, inFlight, payload: 32 },
    units: requests,
    per: { name: "req", units: 1 },
    mode: "rate",
    arms: [
      arm("raw Deno", MODULE, "rpc", "raw"),
      arm("Plexus PacketConnection", MODULE, "rpc", "plexus", target),
      arm("Node net", MODULE, "rpc", "node"),
    ],
  });
  return [
    // Its same-round ratios spread over 0.47–0.88 in one session: 9 rounds too.
    rpc(256, q ? 50_000 : 500_000, q ? 5_000 : 50_000, "≥ 0.7×", 9),
    // Bound by the wake-up latency of both processes: 9 rounds (see `Case.rounds`). Warmed up
    // with as many requests as are timed (see `LATENCY_WARM_UP`).
    rpc(1, q ? 3_000 : 20_000, q ? 3_000 : LATENCY_WARM_UP, "≥ 0.9×", 9),
  ];
}

/** Runs `n` calls with `inFlight` outstanding at a time. */
async function drive(n: number, inFlight: number, call: () => Promise<unknown>): Promise<void> {
  let left = n;
  const worker = async (): Promise<void> => {
    while (left > 0) {
      left--;
      await call();
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker));
}

/**
 * Calls `onFrame(start, end)` for each whole frame of `buffer[start, end)` (positions of the
 * frame after its length field) and returns where the unparsed bytes begin.
 */
function parse(
  buffer: Uint8Array,
  start: number,
  end: number,
  onFrame: (from: number, to: number) => void,
): number {
  while (end - start >= 4) {
    const size = 4 + ((buffer[start] << 24) | (buffer[start + 1] << 16) |
          (buffer[start + 2] << 8) | buffer[start + 3]) >>> 0;
    if (end - start < size) break;
    onFrame(start + 4, start + size);
    start += size;
  }
  return start;
}

function putU32(buffer: Uint8Array, at: number, value: number): void {
  buffer[at] = value >>> 24;
  buffer[at + 1] = value >>> 16;
  buffer[at + 2] = value >>> 8;
  buffer[at + 3] = value;
}

/** A read buffer that keeps a partial frame at its front between reads. */
class ReadBuffer {
  buffer = new Uint8Array(2 * READ);
  start = 0;
  end = 0;
  /** Reads once into the tail; false at end of stream. */
  async fill(conn: RawConn): Promise<boolean> {
    if (this.buffer.length - this.end < READ) {
      const pending = this.end - this.start;
      if (pending + READ > this.buffer.length) {
        const bigger = new Uint8Array(pending + 2 * READ);
        bigger.set(this.buffer.subarray(this.start, this.end));
        this.buffer = bigger;
      } else {
        this.buffer.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = pending;
    }
    const n = await conn.read(this.buffer.subarray(this.end));
    if (n === null) return false;
    this.end += n;
    return true;
  }
}

/** Raw server: answers every request of a read in one write from a reused buffer. */
async function rawServer(): Promise<never> {
  return await serveConnections((conn) => serveRawRpc(conn));
}

/** The raw server's loop (also `inprocess.ts`'s). */
export async function serveRawRpc(conn: RawConn): Promise<void> {
  const input = new ReadBuffer();
  let out = new Uint8Array(2 * READ);
  let o = 0;
  const answer = (from: number, to: number): void => {
    const size = to - from;
    if (o + 4 + size > out.length) {
      const bigger = new Uint8Array(2 * (o + 4 + size));
      bigger.set(out.subarray(0, o));
      out = bigger;
    }
    putU32(out, o, size);
    out.set(input.buffer.subarray(from, to), o + 4);
    o += 4 + size;
  };
  while (await input.fill(conn)) {
    input.start = parse(input.buffer, input.start, input.end, answer);
    if (o > 0) {
      await writeAll(conn, out.subarray(0, o));
      o = 0;
    }
  }
}

/** Raw client: see the module doc. */
function rawClient(port: number, p: Record<string, number>): Promise<never> {
  return clientMain(async () => {
    const call = rawCaller(await connect(port), new Uint8Array(p.payload).fill(0x61));
    await drive(p.warm, p.inFlight, call);
    return () => drive(p.requests, p.inFlight, call);
  });
}

/**
 * The raw client's calls over `conn` (also `inprocess.ts`'s): each sends `payload` and
 * resolves to its reply, a view valid until the next read. Starts the reply loop.
 */
export function rawCaller(conn: RawConn, payload: Uint8Array): () => Promise<Uint8Array> {
  const slots = 1024; // more than in flight: a tag's slot is free again when it is reused
  const mask = slots - 1;
  const resolvers: ((reply: Uint8Array) => void)[] = new Array(slots);
  let nextTag = 0;
  // Two send buffers: requests gather in one while the other is being written.
  let out = new Uint8Array(2 * READ);
  let spare = new Uint8Array(2 * READ);
  let o = 0;
  let writing: Promise<void> | undefined;
  let scheduled = false;
  const flush = async (): Promise<void> => {
    scheduled = false;
    while (writing) await writing;
    if (o === 0) return;
    const data = out.subarray(0, o);
    [out, spare] = [spare, out];
    o = 0;
    writing = writeAll(conn, data);
    await writing;
    writing = undefined;
  };
  const input = new ReadBuffer();
  const onReply = (from: number, to: number): void => {
    const b = input.buffer;
    const tag = ((b[from] << 24) | (b[from + 1] << 16) | (b[from + 2] << 8) | b[from + 3]) >>> 0;
    const resolve = resolvers[tag & mask];
    resolvers[tag & mask] = undefined!;
    resolve(b.subarray(from + 4, to));
  };
  (async () => {
    while (await input.fill(conn)) {
      input.start = parse(input.buffer, input.start, input.end, onReply);
    }
  })().catch(() => {});
  return (): Promise<Uint8Array> => {
    const tag = nextTag;
    nextTag = (nextTag + 1) >>> 0;
    const size = 4 + payload.length;
    if (o + 4 + size > out.length) {
      const bigger = new Uint8Array(2 * (o + 4 + size));
      bigger.set(out.subarray(0, o));
      out = bigger;
    }
    putU32(out, o, size);
    putU32(out, o + 4, tag);
    out.set(payload, o + 8);
    o += 4 + size;
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
    return new Promise((resolve) => resolvers[tag & mask] = resolve);
  };
}

/** Plexus server: a PacketConnection whose handler returns the request's payload. */
async function plexusServer(): Promise<never> {
  return await serveConnections((conn) => {
    new StreamTransport(
      conn,
      new PacketConnection({ requestHandler: (_type, _flags, payload) => payload }),
    );
  });
}

/** Plexus client: a PacketConnection, the same driver as the raw client. */
function plexusClient(port: number, p: Record<string, number>): Promise<never> {
  return clientMain(async () => {
    const payload = new Uint8Array(p.payload).fill(0x61);
    const calling = new PacketConnection({ maxInFlight: Math.max(p.inFlight, 1) });
    new StreamTransport(await connect(port), calling);
    const call = (): Promise<unknown> => calling.call(0, payload);
    await drive(p.warm, p.inFlight, call);
    return () => drive(p.requests, p.inFlight, call);
  });
}

const child = childArgs();
if (child) {
  const { role, impl, params, port } = child;
  const plexus = impl !== "raw";
  await (role === "server"
    ? (plexus ? plexusServer() : rawServer())
    : (plexus ? plexusClient(port, params) : rawClient(port, params)));
} else if (import.meta.main) {
  const options = await runOptions(Deno.args);
  await runCases(packetCases(options), options);
}
