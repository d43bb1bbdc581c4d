/**
 * Whole-process loopback benchmark of packet RPC: requests per second of a
 * {@linkcode PacketConnection} pair against a hand-written minimal tagged RPC over raw
 * `Deno.Conn`, in the same run. Both stay connected side by side and alternate short batches
 * (see `_interleave.ts`); the ratio printed is ours / raw (above 1: faster).
 *
 *   deno run --allow-net bench/packet.ts [--requests 1000000] [--serial 50000] [--batches 40]
 *
 * - 256 in flight: --requests requests with 32-byte payloads, 256 outstanding at any time.
 * - 1 in flight: --serial requests, one at a time (latency bound).
 *
 * The raw RPC is what one would write by hand: a 4-byte length, a 4-byte tag, the payload;
 * the client keeps a map of tags to resolvers, queues requests made in one turn into one
 * write, and the server answers every request of a read in one write.
 */

import { parseArgs } from "node:util";
import { PacketConnection } from "@plexus/net/packet";
import { StreamTransport } from "@plexus/net/transport";
import { compare, type Side } from "./_interleave.ts";
import { tcpPair, writeAll } from "./_net.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "1000000" },
    serial: { type: "string", default: "50000" },
    batches: { type: "string", default: "40" },
  },
});
const REQUESTS = Number(values.requests);
const SERIAL = Number(values.serial);
const BATCHES = Number(values.batches);
const PAYLOAD = new Uint8Array(32).fill(0x61);

/** Runs `n` calls of `call()` with `inFlight` outstanding at a time. */
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

// ---- raw: a minimal tagged RPC over Deno.Conn ------------------------------------------------

/** Growable byte queue for the raw side's reads and writes. */
class Bytes {
  buf = new Uint8Array(1 << 16);
  start = 0;
  end = 0;
  reserve(n: number): void {
    if (this.buf.length - this.end >= n) return;
    const live = this.end - this.start;
    const next = live + n > this.buf.length ? new Uint8Array(2 * (live + n)) : this.buf;
    next.copyWithin(0, this.start, this.end);
    if (next !== this.buf) next.set(this.buf.subarray(this.start, this.end));
    this.buf = next;
    this.start = 0;
    this.end = live;
  }
}

function putFrame(out: Bytes, tag: number, payload: Uint8Array): void {
  out.reserve(8 + payload.length);
  const view = new DataView(out.buf.buffer);
  view.setUint32(out.end, payload.length + 4);
  view.setUint32(out.end + 4, tag);
  out.buf.set(payload, out.end + 8);
  out.end += 8 + payload.length;
}

/** Reads frames forever, calling `onFrame(tag, payload)`; returns at end of stream. */
async function readFrames(
  conn: Deno.Conn,
  onFrame: (tag: number, payload: Uint8Array) => void,
  afterRead: () => void,
): Promise<void> {
  const input = new Bytes();
  for (;;) {
    input.reserve(1 << 16);
    const n = await conn.read(input.buf.subarray(input.end)).catch(() => null);
    if (n === null) return;
    input.end += n;
    const view = new DataView(input.buf.buffer);
    while (input.end - input.start >= 4) {
      const length = view.getUint32(input.start);
      if (input.end - input.start < 4 + length) break;
      const tag = view.getUint32(input.start + 4);
      onFrame(tag, input.buf.slice(input.start + 8, input.start + 4 + length));
      input.start += 4 + length;
    }
    afterRead();
  }
}

async function rawRpc(inFlight: number): Promise<Side> {
  const [client, server] = await tcpPair();
  // Server: answer each request of a read, all in one write.
  const serverOut = new Bytes();
  const serving = readFrames(server, (tag, payload) => putFrame(serverOut, tag, payload), () => {
    if (serverOut.end === 0) return;
    const data = serverOut.buf.slice(0, serverOut.end);
    serverOut.end = 0;
    writeAll(server, data).catch(() => {});
  });
  // Client: tags to resolvers; requests of one turn leave in one write.
  const pending = new Map<number, (payload: Uint8Array) => void>();
  const clientOut = new Bytes();
  let nextTag = 0;
  let scheduled = false;
  let writing: Promise<void> = Promise.resolve();
  const flush = (): void => {
    scheduled = false;
    const data = clientOut.buf.slice(0, clientOut.end);
    clientOut.end = 0;
    writing = writing.then(() => writeAll(client, data));
  };
  const receiving = readFrames(client, (tag, payload) => {
    const resolve = pending.get(tag)!;
    pending.delete(tag);
    resolve(payload);
  }, () => {});
  const call = (): Promise<Uint8Array> => {
    const tag = nextTag++ >>> 0;
    putFrame(clientOut, tag, PAYLOAD);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
    return new Promise((resolve) => pending.set(tag, resolve));
  };
  return {
    run: (n) => drive(n, inFlight, call),
    async close() {
      await writing;
      client.closeWrite();
      await serving;
      server.close();
      await receiving;
      client.close();
    },
  };
}

// ---- ours: PacketConnection over StreamTransport ---------------------------------------------

async function packetRpc(inFlight: number): Promise<Side> {
  const [client, server] = await tcpPair();
  const serving = new PacketConnection({ requestHandler: (_rqType, _flags, payload) => payload });
  const calling = new PacketConnection({ maxInFlight: Math.max(inFlight, 1) });
  new StreamTransport(server, serving);
  new StreamTransport(client, calling);
  return {
    run: (n) => drive(n, inFlight, () => calling.call(0, PAYLOAD)),
    async close() {
      await calling.close();
      await serving.closed;
    },
  };
}

const cases = [
  { name: "256 in flight", total: REQUESTS, inFlight: 256 },
  { name: "1 in flight", total: SERIAL, inFlight: 1 },
];

console.log(
  `packet RPC vs a raw tagged RPC over Deno.Conn, loopback, 32-byte payloads, ` +
    `${BATCHES} interleaved batches`,
);
for (const c of cases) {
  const result = await compare(
    await rawRpc(c.inFlight),
    await packetRpc(c.inFlight),
    c.total,
    BATCHES,
  );
  const fmt = (v: number): string => Math.round(v).toString().padStart(7);
  console.log(
    `${c.name.padEnd(14)} raw ${fmt(result.raw)} req/s   ours ${fmt(result.ours)} req/s` +
      `   ratio ${result.ratio.toFixed(3)} (halves ${
        result.halves.map((h) => h.toFixed(2)).join(", ")
      })`,
  );
}
