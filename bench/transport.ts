/**
 * Transport benchmarks, client and server in separate processes on 127.0.0.1 (see
 * `_harness.ts`): bulk one way, TCP ping-pong and UDP with a window of datagrams in flight.
 * Each case measures raw Deno, Plexus on both ends and Node `net`/`dgram`, in turns.
 *
 * ```
 * deno task bench:transport [--quick] [--rounds 3] [--no-node]
 * ```
 *
 * - bulk: 4 GiB one way in 256 KiB writes (`--quick`: 512 MiB), then the sender half-closes
 *   and the receiver answers one byte. Plexus sends from a `Protocol` that obeys
 *   `pauseWriting` and receives with a plain `Protocol` (each read an owned chunk: fresh
 *   memory per read), the same with `reuseReadBuffer` (one reused buffer, as the raw code
 *   has), or a `BufferedProtocol` (reads into its own reused buffer). Raw Deno reads into one
 *   reused 256 KiB buffer.
 * - ping-pong: 40 000 round trips of 32 bytes, one at a time, after 20 000 untimed; Plexus is a
 *   plain `Protocol` on both ends.
 * - UDP: 60 000 datagrams of 64 bytes echoed, 64 in flight; Plexus is a `UdpTransport` on both
 *   ends (the echo gets owned datagrams, the client a reused receive buffer).
 *
 * @module
 */

import {
  type BufferedProtocol,
  type DatagramTransport,
  type Protocol,
  StreamTransport,
  type Transport,
  UdpTransport,
} from "@plexus/net/transport";
import {
  arm,
  type Case,
  childArgs,
  clientMain,
  connect,
  runCases,
  type RunOptions,
  runOptions,
  serveConnections,
  serverMain,
  writeAll,
} from "./_harness.ts";

const CHUNK = 256 * 1024;
const MODULE = import.meta.url;

/** The cases of this family for the given run options. */
export function transportCases(options: RunOptions): Case[] {
  const q = options.quick;
  const bulk = (q ? 512 : 4096) * 2 ** 20;
  const pings = q ? 5_000 : 40_000;
  const datagrams = q ? 10_000 : 60_000;
  return [
    {
      name: `bulk ${bulk / 2 ** 30} GiB`,
      params: { bytes: bulk, warm: (q ? 64 : 256) * 2 ** 20 },
      units: bulk,
      per: { name: "GB", units: 1e9 },
      mode: "rate",
      arms: [
        arm("raw Deno", MODULE, "bulk", "raw"),
        arm("Plexus Protocol", MODULE, "bulk", "plexus", "≥ 0.9×"),
        arm("Plexus Protocol, reused read buffer", MODULE, "bulk", "reuse", "≥ 0.9×"),
        arm("Plexus BufferedProtocol", MODULE, "bulk", "buffered"),
        arm("Node net", MODULE, "bulk", "node"),
      ],
      rounds: 9, // same-round ratios spread over 0.60–1.12 in one run: see `Case.rounds`
    },
    {
      name: "ping-pong 32 B",
      // Warmed up with half as many round trips as are timed: after 5000 (an eighth), V8 still
      // compiled Plexus's per-round-trip functions during the timed work (28 and 29
      // compilations, raw 0 and 12); after 20 000, neither did (see `LATENCY_WARM_UP` in
      // `packet.ts`).
      params: { rounds: pings, warm: pings / 2 },
      units: pings,
      per: { name: "rt", units: 1 },
      mode: "rate",
      arms: [
        arm("raw Deno", MODULE, "ping", "raw"),
        arm("Plexus Protocol", MODULE, "ping", "plexus", "≥ 0.95×"),
        arm("Node net", MODULE, "ping", "node"),
      ],
      rounds: 9, // 0.79–1.13
    },
    {
      name: "UDP 64 B, window 64",
      params: { count: datagrams, warm: datagrams / 8, window: 64 },
      units: datagrams,
      per: { name: "dgram", units: 1 },
      mode: "rate",
      arms: [
        arm("raw Deno", MODULE, "udp", "raw"),
        arm("Plexus UdpTransport", MODULE, "udp", "plexus", "≥ 0.9×"),
        arm("Node dgram", MODULE, "udp", "node"),
      ],
      rounds: 9, // 0.70–1.29
    },
  ];
}

// ---- bulk ------------------------------------------------------------------------------------

const ACK = new Uint8Array([1]);

/** Raw: reads into one reused buffer; answers one byte at end of stream. */
async function bulkRawServer(): Promise<never> {
  return await serveConnections(async (conn) => {
    const buffer = new Uint8Array(CHUNK);
    let got = 0;
    for (let n; (n = await conn.read(buffer)) !== null;) got += n;
    await writeAll(conn, ACK);
  });
}

async function bulkRawSend(conn: Deno.TcpConn, bytes: number, chunk: Uint8Array): Promise<void> {
  for (let sent = 0; sent < bytes; sent += chunk.length) await writeAll(conn, chunk);
  await conn.closeWrite();
  if ((await conn.read(new Uint8Array(1))) !== 1) throw new Error("No acknowledgement");
  conn.close();
}

function bulkRawClient(port: number, p: Record<string, number>): Promise<never> {
  return clientMain(async () => {
    const chunk = new Uint8Array(CHUNK);
    await bulkRawSend(await connect(port), p.warm, chunk);
    const conn = await connect(port);
    return () => bulkRawSend(conn, p.bytes, chunk);
  });
}

/** Plexus: a plain Protocol (owned chunks) or a BufferedProtocol (its own reused buffer). */
async function bulkPlexusServer(kind: "plexus" | "reuse" | "buffered"): Promise<never> {
  return await serveConnections((conn) => {
    let transport: Transport;
    let got = 0;
    const buffer = new Uint8Array(CHUNK);
    const eofReceived = (): boolean => {
      transport.write(ACK);
      return false;
    };
    const connectionMade = (t: Transport): void => {
      transport = t;
    };
    const protocol: Protocol | BufferedProtocol = kind === "buffered"
      ? { connectionMade, getBuffer: () => buffer, bufferUpdated: (n) => got += n, eofReceived }
      : { connectionMade, dataReceived: (data) => got += data.length, eofReceived };
    new StreamTransport(conn, protocol, { reuseReadBuffer: kind === "reuse" });
  });
}

/** Writes `bytes` in CHUNK writes while not paused, then half-closes and awaits the ack. */
class Producer implements Protocol {
  #transport!: Transport;
  #left: number;
  #paused = false;
  readonly #chunk = new Uint8Array(CHUNK);
  readonly done: PromiseWithResolvers<void> = Promise.withResolvers();
  constructor(bytes: number) {
    this.#left = bytes;
  }
  connectionMade(transport: Transport): void {
    this.#transport = transport;
  }
  start(): Promise<void> {
    this.#produce();
    return this.done.promise;
  }
  dataReceived(): void {
    this.#transport.close();
    this.done.resolve();
  }
  connectionLost(error: Error | undefined): void {
    if (error) this.done.reject(error);
  }
  pauseWriting(): void {
    this.#paused = true;
  }
  resumeWriting(): void {
    this.#paused = false;
    this.#produce();
  }
  #produce(): void {
    while (!this.#paused && this.#left > 0) {
      this.#transport.write(this.#chunk);
      this.#left -= CHUNK;
    }
    if (this.#left <= 0 && !this.#paused) {
      this.#left = 0;
      this.#paused = true; // done: never produce again
      this.#transport.writeEof();
    }
  }
}

function bulkPlexusClient(port: number, p: Record<string, number>): Promise<never> {
  return clientMain(async () => {
    const warm = new Producer(p.warm);
    new StreamTransport(await connect(port), warm);
    await warm.start();
    const timed = new Producer(p.bytes);
    new StreamTransport(await connect(port), timed);
    return () => timed.start();
  });
}

// ---- ping-pong -------------------------------------------------------------------------------

const PING = 32;

/** Raw: echoes what it reads, from one 4 KiB buffer per connection. */
async function pingRawServer(): Promise<never> {
  return await serveConnections(async (conn) => {
    const buffer = new Uint8Array(4096);
    for (let n; (n = await conn.read(buffer)) !== null;) {
      await writeAll(conn, buffer.subarray(0, n));
    }
  });
}

function pingRawClient(port: number, p: Record<string, number>): Promise<never> {
  return clientMain(async () => {
    const conn = await connect(port);
    const message = new Uint8Array(PING);
    const buffer = new Uint8Array(4096);
    const rounds = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        await writeAll(conn, message);
        for (let got = 0; got < PING;) {
          const r = await conn.read(buffer);
          if (r === null) throw new Error("The echo ended");
          got += r;
        }
      }
    };
    await rounds(p.warm);
    return () => rounds(p.rounds);
  });
}

/** Plexus: a plain Protocol that writes back each chunk it is given. */
async function pingPlexusServer(): Promise<never> {
  return await serveConnections((conn) => {
    let transport: Transport;
    new StreamTransport(conn, {
      connectionMade: (t) => transport = t,
      dataReceived: (data) => transport.write(data),
    });
  });
}

function pingPlexusClient(port: number, p: Record<string, number>): Promise<never> {
  return clientMain(async () => {
    const message = new Uint8Array(PING);
    let transport!: Transport;
    let left = 0;
    let got = 0;
    let done = Promise.withResolvers<void>();
    new StreamTransport(await connect(port), {
      connectionMade: (t) => transport = t,
      dataReceived(data) {
        got += data.length;
        if (got < PING) return;
        got -= PING;
        if (--left > 0) transport.write(message);
        else done.resolve();
      },
      connectionLost: (error) => done.reject(error ?? new Error("The echo ended")),
    });
    const rounds = (n: number): Promise<void> => {
      left = n;
      done = Promise.withResolvers();
      transport.write(message);
      return done.promise;
    };
    await rounds(p.warm);
    return () => rounds(p.rounds);
  });
}

// ---- UDP -------------------------------------------------------------------------------------

const DATAGRAM = 64;

function udpSocket(): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
}

/** Raw: receives into one buffer and sends the view back before the next receive. */
async function udpRawServer(): Promise<never> {
  const socket = udpSocket();
  (async () => {
    const buffer = new Uint8Array(2048);
    for (;;) {
      const [data, from] = await socket.receive(buffer);
      await socket.send(data, from);
    }
  })().catch(() => {});
  return await serverMain((socket.addr as Deno.NetAddr).port);
}

/**
 * Keeps `window` datagrams in flight until `count` came back. A datagram lost on the way is
 * noticed by a 100 ms watchdog, which counts it lost and refills the window.
 */
class Window {
  sent = 0;
  received = 0;
  lost = 0;
  count = 0;
  #done = Promise.withResolvers<void>();
  #timer: ReturnType<typeof setInterval> | undefined;
  constructor(readonly window: number, readonly send: () => void) {}
  run(count: number): Promise<void> {
    this.sent = this.received = 0;
    this.count = count;
    this.#done = Promise.withResolvers();
    let seen = -1;
    this.#timer = setInterval(() => {
      if (this.received === seen) {
        this.lost += this.sent - this.received;
        this.sent = this.received;
        this.fill();
      }
      seen = this.received;
    }, 100);
    this.fill();
    return this.#done.promise.finally(() => {
      clearInterval(this.#timer);
      if (this.lost) console.error(`udp: ${this.lost} datagrams lost (counted after 100 ms)`);
    });
  }
  fill(): void {
    while (this.sent < this.count && this.sent - this.received < this.window) {
      this.sent++;
      this.send();
    }
  }
  /** Counts one datagram back; sends the next one. */
  got(): void {
    if (++this.received >= this.count) this.#done.resolve();
    else if (this.sent < this.count) {
      this.sent++;
      this.send();
    }
  }
}

function udpRawClient(port: number, p: Record<string, number>): Promise<never> {
  return clientMain(() => {
    const socket = udpSocket();
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
    const message = new Uint8Array(DATAGRAM);
    const ignore = (): void => {};
    // The message never changes, so sends need not be awaited before the next one.
    const window = new Window(p.window, () => socket.send(message, to).catch(ignore));
    (async () => {
      const buffer = new Uint8Array(2048);
      for (;;) {
        await socket.receive(buffer);
        window.got();
      }
    })().catch(() => {});
    return window.run(p.warm).then(() => () => window.run(p.count));
  });
}

/** Plexus: a UdpTransport echo; each datagram arrives as an owned copy and is sent back. */
async function udpPlexusServer(): Promise<never> {
  const socket = udpSocket();
  let transport: DatagramTransport;
  new UdpTransport(socket, {
    connectionMade: (t) => transport = t,
    datagramReceived: (data, addr) => transport.sendto(data, addr),
  });
  return await serverMain((socket.addr as Deno.NetAddr).port);
}

function udpPlexusClient(port: number, p: Record<string, number>): Promise<never> {
  return clientMain(() => {
    const message = new Uint8Array(DATAGRAM);
    let transport!: DatagramTransport;
    const window = new Window(p.window, () => transport.sendto(message));
    new UdpTransport(udpSocket(), {
      connectionMade: (t) => transport = t,
      datagramReceived: () => window.got(),
    }, {
      remoteAddress: { transport: "udp", hostname: "127.0.0.1", port },
      reuseReceiveBuffer: true,
    });
    return window.run(p.warm).then(() => () => window.run(p.count));
  });
}

// ---- entry -----------------------------------------------------------------------------------

const child = childArgs();
if (child) {
  const { role, workload, impl, params, port } = child;
  const server = role === "server";
  const plexus = impl !== "raw";
  switch (workload) {
    case "bulk":
      await (server
        ? (plexus ? bulkPlexusServer(impl as "plexus" | "reuse" | "buffered") : bulkRawServer())
        : (plexus ? bulkPlexusClient(port, params) : bulkRawClient(port, params)));
      break;
    case "ping":
      await (server
        ? (plexus ? pingPlexusServer() : pingRawServer())
        : (plexus ? pingPlexusClient(port, params) : pingRawClient(port, params)));
      break;
    case "udp":
      await (server
        ? (plexus ? udpPlexusServer() : udpRawServer())
        : (plexus ? udpPlexusClient(port, params) : udpRawClient(port, params)));
      break;
  }
} else if (import.meta.main) {
  const options = await runOptions(Deno.args);
  await runCases(transportCases(options), options);
}
