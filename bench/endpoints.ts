/**
 * Endpoint benchmarks, client and server in separate processes on 127.0.0.1 (see
 * `_harness.ts`): the time and the server's memory for many connections. Raw Deno, Plexus on
 * both ends (`Server` and `createConnection`) and Node `net` take turns.
 *
 * ```
 * deno task bench:endpoints [--quick] [--rounds 3] [--no-node]
 * ```
 *
 * - 1000 connections opened at once, each doing 10 round trips of 32 bytes, then closed: the
 *   time and the server's peak RSS (`VmHWM`); and the same five times in a row.
 * - hold 10 000 connections (`--quick`: 2 000), opened 500 at a time and each proven with one
 *   round trip: the time to open them and the server's RSS while it holds them.
 *
 * Before the timed work, each client warms both processes up with 3000 connections like the
 * timed ones, 1000 at a time.
 *
 * The raw server echoes from a 4 KiB buffer per connection; the Plexus server is a `Server`
 * with a `ProtocolAdapter` that writes back each chunk.
 *
 * @module
 */

import { createConnection, Server } from "@plexus/net/endpoints";
import { ProtocolAdapter } from "@plexus/net/protocol";
import {
  arm,
  type Case,
  childArgs,
  clientMain,
  connect,
  listen,
  runCases,
  type RunOptions,
  runOptions,
  serverMain,
  writeAll,
} from "./_harness.ts";

const MODULE = import.meta.url;
const MESSAGE = 32;
/**
 * Connections opened, used and closed (1000 at a time) before the timed work. Measured, 100
 * leave both processes' JIT cold: the raw arm then took ~1.45× its steady time, Plexus ~1.65×.
 */
const WARM_CONNS = 3000;
/**
 * Waves of the sustained case: the 1000-connection work this many times in a row (one wave
 * takes ~0.2 s, and the same-round ratios of one run spread over 0.99–1.62), with the server's
 * peak RSS over all of them, which shows the garbage connection churn leaves.
 */
const WAVES = 5;

/** The cases of this family for the given run options. */
export function endpointCases(options: RunOptions): Case[] {
  const arms = (target?: string) => [
    arm("raw Deno", MODULE, "conns", "raw"),
    arm("Plexus Server", MODULE, "conns", "plexus", target),
    arm("Node net", MODULE, "conns", "node"),
  ];
  const hold = options.quick ? 2_000 : 10_000;
  return [
    {
      name: "1000 conns × 10 round trips: time / peak RSS",
      params: { conns: 1000, pings: 10, hold: 0, warm: WARM_CONNS, waves: 1 },
      units: 1000,
      per: { name: "conn", units: 1 },
      mode: "time",
      memory: "peak",
      arms: arms("≤ 1.1× / ≤ 1.1×"),
      rounds: 9, // ~0.2 s of timed work, bound by wake-ups: see `Case.rounds`
    },
    {
      name: `the same, ${WAVES} waves in a row: time / peak RSS`,
      params: { conns: 1000, pings: 10, hold: 0, warm: WARM_CONNS, waves: WAVES },
      units: 1000 * WAVES,
      per: { name: "conn", units: 1 },
      mode: "time",
      memory: "peak",
      arms: arms(),
    },
    {
      name: `hold ${hold} conns: time / RSS`,
      params: { conns: hold, pings: 1, hold: 1, warm: WARM_CONNS, waves: 1 },
      units: hold,
      per: { name: "conn", units: 1 },
      mode: "time",
      memory: "now",
      arms: arms(),
    },
  ];
}

/** Raw server: echoes from a 4 KiB buffer per connection. */
async function rawServer(): Promise<never> {
  const listener = listen(4096);
  (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return;
        continue; // a connection reset before it was accepted
      }
      conn.setNoDelay(true);
      (async () => {
        const buffer = new Uint8Array(4096);
        for (let n; (n = await conn.read(buffer)) !== null;) {
          await writeAll(conn, buffer.subarray(0, n));
        }
        conn.close();
      })().catch(() => conn.close());
    }
  })();
  return await serverMain(listener.addr.port);
}

class Echo extends ProtocolAdapter {
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
}

/** Plexus server: a `Server` of echo protocols. */
async function plexusServer(): Promise<never> {
  const server = new Server(() => new Echo());
  const [address] = await server.listen("127.0.0.1:0", { backlog: 4096 });
  server.run().catch(() => {});
  return await serverMain((address as Deno.NetAddr).port);
}

/** One connection of the client: `rounds(n)` does n round trips; `close()` closes it. */
interface Pinger {
  rounds(n: number): Promise<void>;
  close(): void;
}

async function rawPinger(port: number): Promise<Pinger> {
  const conn = await connect(port);
  const message = new Uint8Array(MESSAGE);
  const buffer = new Uint8Array(MESSAGE);
  return {
    async rounds(n) {
      for (let i = 0; i < n; i++) {
        await writeAll(conn, message);
        for (let got = 0; got < MESSAGE;) {
          const r = await conn.read(buffer.subarray(got));
          if (r === null) throw new Error("The server closed the connection");
          got += r;
        }
      }
    },
    close: () => conn.close(),
  };
}

class PingProtocol extends ProtocolAdapter {
  static readonly message = new Uint8Array(MESSAGE);
  #left = 0;
  #got = 0;
  #done: PromiseWithResolvers<void> | undefined;
  rounds(n: number): Promise<void> {
    if (n === 0) return Promise.resolve();
    this.#left = n;
    this.#done = Promise.withResolvers();
    this.transport!.write(PingProtocol.message);
    return this.#done.promise;
  }
  override dataReceived(data: Uint8Array): void {
    this.#got += data.length;
    if (this.#got < MESSAGE) return;
    this.#got -= MESSAGE;
    if (--this.#left > 0) this.transport!.write(PingProtocol.message);
    else {
      this.#done!.resolve();
      this.#done = undefined;
    }
  }
  override connectionLost(error: Error | undefined): void {
    this.#done?.reject(error ?? new Error("The server closed the connection"));
  }
}

async function plexusPinger(port: number): Promise<Pinger> {
  const { transport, protocol } = await createConnection(
    () => new PingProtocol(),
    `127.0.0.1:${port}`,
  );
  return { rounds: (n) => protocol.rounds(n), close: () => transport.close() };
}

/** The client: opens connections, does round trips, closes them or holds them. */
function client(port: number, p: Record<string, number>, plexus: boolean): Promise<never> {
  const open = plexus ? plexusPinger : rawPinger;
  const once = async (): Promise<void> => {
    const pinger = await open(port);
    await pinger.rounds(p.pings);
    pinger.close();
  };
  const concurrent = async (count: number): Promise<void> => {
    await Promise.all(Array.from({ length: count }, once));
  };
  const hold = async (count: number): Promise<void> => {
    const held: Pinger[] = [];
    for (let i = 0; i < count; i += 500) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(500, count - i) }, () => open(port)),
      );
      await Promise.all(batch.map((pinger) => pinger.rounds(1)));
      held.push(...batch);
    }
    // Held until the process exits.
  };
  return clientMain(async () => {
    for (let left = p.warm; left > 0; left -= 1000) await concurrent(Math.min(left, 1000));
    return async () => {
      if (p.hold) return await hold(p.conns);
      for (let wave = 0; wave < (p.waves ?? 1); wave++) await concurrent(p.conns);
    };
  });
}

const child = childArgs();
if (child) {
  const { role, impl, params, port } = child;
  const plexus = impl !== "raw";
  await (role === "server"
    ? (plexus ? plexusServer() : rawServer())
    : client(port, params, plexus));
} else if (import.meta.main) {
  const options = await runOptions(Deno.args);
  await runCases(endpointCases(options), options);
}
