/**
 * Whole-process loopback benchmarks of the transport layer against raw `Deno.Conn` and
 * `Deno.DatagramConn` in the same run. Both stay connected side by side and alternate short
 * batches (see `_interleave.ts`), and the ratio printed is ours / raw (above 1: faster).
 *
 *   deno task bench [--bulk-mib 1024] [--pings 40000] [--datagrams 40000] [--batches 40]
 *
 * - bulk: one TCP connection per side carries --bulk-mib MiB one way in 256 KiB writes; our
 *   receiver is a plain Protocol (owned copies) or a BufferedProtocol (zero copy).
 * - tcp ping-pong: --pings round trips of a 64-byte message; our ends are plain Protocols
 *   (each read is copied into a chunk the protocol owns: one allocation per read) or
 *   BufferedProtocols (no allocation per message, like the raw loop).
 * - udp ping-pong: --datagrams round trips of a 64-byte datagram; our ends get each datagram
 *   as an owned copy (the default) or as a view of the reused receive buffer
 *   (`reuseReceiveBuffer`; the echo then copies only what it queues for sending).
 */

import { parseArgs } from "node:util";
import {
  type BufferedProtocol,
  type DatagramTransport,
  type Protocol,
  StreamTransport,
  type Transport,
  UdpTransport,
} from "@plexus/net/transport";
import { compare, type Side } from "./_interleave.ts";
import { tcpPair, writeAll } from "./_net.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "bulk-mib": { type: "string", default: "1024" },
    pings: { type: "string", default: "40000" },
    datagrams: { type: "string", default: "40000" },
    batches: { type: "string", default: "40" },
  },
});
const BULK = Number(values["bulk-mib"]) * 1024 * 1024;
const PINGS = Number(values.pings);
const DATAGRAMS = Number(values.datagrams);
const BATCHES = Number(values.batches);
const CHUNK = 256 * 1024;
const MESSAGE = 64;

/** Resolves when a counter reaches a target; `add()` counts. */
class Target {
  #count = 0;
  #goal = 0;
  #done = Promise.withResolvers<void>();
  set(n: number): Promise<void> {
    this.#count = 0;
    this.#goal = n;
    this.#done = Promise.withResolvers<void>();
    return this.#done.promise;
  }
  add(n: number): void {
    this.#count += n;
    if (this.#count >= this.#goal) this.#done.resolve();
  }
}

// ---- bulk ----------------------------------------------------------------------------------

async function bulkRaw(): Promise<Side> {
  const [client, server] = await tcpPair();
  const chunk = new Uint8Array(CHUNK);
  const buffer = new Uint8Array(CHUNK);
  return {
    async run(bytes) {
      const sending = (async () => {
        for (let sent = 0; sent < bytes; sent += CHUNK) await writeAll(client, chunk);
      })();
      for (let got = 0; got < bytes;) got += (await server.read(buffer))!;
      await sending;
    },
    close() {
      client.close();
      server.close();
      return Promise.resolve();
    },
  };
}

/** Writes `run(n)` bytes in CHUNK writes, respecting pauseWriting. */
class Producer implements Protocol {
  transport!: Transport;
  #left = 0;
  #paused = false;
  readonly #chunk = new Uint8Array(CHUNK);
  connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  dataReceived(): void {}
  pauseWriting(): void {
    this.#paused = true;
  }
  resumeWriting(): void {
    this.#paused = false;
    this.#produce();
  }
  run(bytes: number): void {
    this.#left = bytes;
    this.#produce();
  }
  #produce(): void {
    while (!this.#paused && this.#left > 0) {
      this.transport.write(this.#chunk);
      this.#left -= CHUNK;
    }
  }
}

async function bulkOurs(buffered: boolean): Promise<Side> {
  const [client, server] = await tcpPair();
  const received = new Target();
  const buffer = new Uint8Array(CHUNK);
  const sink: Protocol | BufferedProtocol = buffered
    ? { getBuffer: () => buffer, bufferUpdated: (n) => received.add(n) }
    : { dataReceived: (data) => received.add(data.byteLength) };
  const producer = new Producer();
  const receiving = new StreamTransport(server, sink);
  const sending = new StreamTransport(client, producer);
  return {
    run(bytes) {
      const done = received.set(bytes);
      producer.run(bytes);
      return done;
    },
    async close() {
      sending.close();
      await Promise.all([sending.closed, receiving.closed]);
    },
  };
}

// ---- tcp ping-pong -------------------------------------------------------------------------

async function pingPongRaw(): Promise<Side> {
  const [client, server] = await tcpPair();
  const echo = (async () => {
    const buffer = new Uint8Array(CHUNK);
    for (let n; (n = await server.read(buffer)) !== null;) {
      await writeAll(server, buffer.subarray(0, n));
    }
    server.close();
  })();
  const message = new Uint8Array(MESSAGE);
  const buffer = new Uint8Array(CHUNK);
  return {
    async run(n) {
      for (let i = 0; i < n; i++) {
        await writeAll(client, message);
        for (let got = 0; got < MESSAGE;) got += (await client.read(buffer))!;
      }
    },
    async close() {
      await client.closeWrite();
      await echo;
      client.close();
    },
  };
}

/**
 * A BufferedProtocol echo that never copies: each read lands in a fresh region of a slab, and
 * that region is written back as is (it is never reused, so the queued write stays valid).
 */
class SlabEcho implements BufferedProtocol {
  #transport!: Transport;
  #slab = new Uint8Array(4 * CHUNK);
  #offset = 0;
  #region = this.#slab;
  connectionMade(transport: Transport): void {
    this.#transport = transport;
  }
  getBuffer(): Uint8Array {
    if (this.#slab.length - this.#offset < CHUNK) {
      this.#slab = new Uint8Array(4 * CHUNK);
      this.#offset = 0;
    }
    return this.#region = this.#slab.subarray(this.#offset, this.#offset + CHUNK);
  }
  bufferUpdated(n: number): void {
    this.#transport.write(this.#region.subarray(0, n));
    this.#offset += (n + 7) & ~7;
  }
}

async function pingPongOurs(buffered: boolean): Promise<Side> {
  const [client, server] = await tcpPair();
  let echoTransport: Transport;
  const echo = new StreamTransport(
    server,
    buffered ? new SlabEcho() : {
      connectionMade: (t) => echoTransport = t,
      dataReceived: (data) => echoTransport.write(data),
    },
  );
  const message = new Uint8Array(MESSAGE);
  const rounds = new Target();
  let left = 0;
  let got = 0;
  let pinger: Transport;
  const onData = (n: number): void => {
    got += n;
    if (got < MESSAGE) return;
    got -= MESSAGE;
    rounds.add(1);
    if (--left > 0) pinger.write(message);
  };
  const buffer = new Uint8Array(CHUNK);
  const pinging = new StreamTransport(
    client,
    buffered
      ? { connectionMade: (t) => pinger = t, getBuffer: () => buffer, bufferUpdated: onData }
      : { connectionMade: (t) => pinger = t, dataReceived: (data) => onData(data.byteLength) },
  );
  return {
    run(n) {
      left = n;
      const done = rounds.set(n);
      pinger.write(message);
      return done;
    },
    async close() {
      pinging.close();
      await Promise.all([pinging.closed, echo.closed]);
    },
  };
}

// ---- udp ping-pong -------------------------------------------------------------------------

function udpSockets(): [Deno.DatagramConn, Deno.DatagramConn] {
  const a = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const b = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  return [a, b];
}

function udpRaw(): Promise<Side> {
  const [a, b] = udpSockets();
  const echo = (async () => {
    const buffer = new Uint8Array(65536);
    try {
      for (;;) {
        const [data, from] = await b.receive(buffer);
        await b.send(data, from);
      }
    } catch {
      // Closed.
    }
  })();
  const message = new Uint8Array(MESSAGE);
  const buffer = new Uint8Array(65536);
  return Promise.resolve({
    async run(n) {
      for (let i = 0; i < n; i++) {
        await a.send(message, b.addr);
        await a.receive(buffer);
      }
    },
    async close() {
      a.close();
      b.close();
      await echo;
    },
  });
}

function udpOurs(reuseReceiveBuffer: boolean): Promise<Side> {
  const [a, b] = udpSockets();
  let echoTransport: DatagramTransport;
  const echo = new UdpTransport(b, {
    connectionMade: (t) => echoTransport = t,
    // With a reused receive buffer the datagram must be copied before it is queued for sending.
    datagramReceived: (data, addr) =>
      echoTransport.sendto(reuseReceiveBuffer ? data.slice() : data, addr),
  }, { reuseReceiveBuffer });
  const message = new Uint8Array(MESSAGE);
  const rounds = new Target();
  let left = 0;
  let pinger: DatagramTransport;
  const pinging = new UdpTransport(a, {
    connectionMade: (t) => pinger = t,
    datagramReceived: () => {
      rounds.add(1);
      if (--left > 0) pinger.sendto(message);
    },
  }, { remoteAddress: b.addr as Deno.NetAddr, reuseReceiveBuffer });
  return Promise.resolve({
    run(n) {
      left = n;
      const done = rounds.set(n);
      pinger.sendto(message);
      return done;
    },
    async close() {
      pinging.close();
      echo.close();
      await Promise.all([pinging.closed, echo.closed]);
    },
  });
}

// ---- runner --------------------------------------------------------------------------------

const cases: {
  name: string;
  unit: string;
  scale: number;
  total: number;
  raw: () => Promise<Side>;
  ours: () => Promise<Side>;
}[] = [
  {
    name: "bulk, BufferedProtocol",
    unit: "MiB/s",
    scale: 1 / 2 ** 20,
    total: BULK,
    raw: bulkRaw,
    ours: () => bulkOurs(true),
  },
  {
    name: "bulk, Protocol (copies)",
    unit: "MiB/s",
    scale: 1 / 2 ** 20,
    total: BULK,
    raw: bulkRaw,
    ours: () => bulkOurs(false),
  },
  {
    name: "tcp ping-pong, Buffered",
    unit: "rt/s",
    scale: 1,
    total: PINGS,
    raw: pingPongRaw,
    ours: () => pingPongOurs(true),
  },
  {
    name: "tcp ping-pong, Protocol",
    unit: "rt/s",
    scale: 1,
    total: PINGS,
    raw: pingPongRaw,
    ours: () => pingPongOurs(false),
  },
  {
    name: "udp ping-pong, copies",
    unit: "rt/s",
    scale: 1,
    total: DATAGRAMS,
    raw: udpRaw,
    ours: () => udpOurs(false),
  },
  {
    name: "udp ping-pong, reused",
    unit: "rt/s",
    scale: 1,
    total: DATAGRAMS,
    raw: udpRaw,
    ours: () => udpOurs(true),
  },
];

console.log(
  `transport vs raw Deno, loopback, ${BATCHES} interleaved batches: bulk ${BULK / 2 ** 20} MiB, ` +
    `${PINGS} tcp round trips, ${DATAGRAMS} udp round trips`,
);
for (const c of cases) {
  const result = await compare(await c.raw(), await c.ours(), c.total, BATCHES);
  const fmt = (v: number): string => Math.round(v * c.scale).toString().padStart(7);
  console.log(
    `${c.name.padEnd(24)} raw ${fmt(result.raw)} ${c.unit}   ours ${fmt(result.ours)} ${c.unit}` +
      `   ratio ${result.ratio.toFixed(3)} (halves ${
        result.halves.map((h) => h.toFixed(2)).join(", ")
      })`,
  );
}
