/**
 * Hostile peers: slowloris. An idle timeout cannot stop a peer that trickles a byte at a time;
 * the deadlines (`deadlines` option) bound a frame's total time, the time to the first frame,
 * and a request's total time. The attackers run in their own process (./_slowloris.ts).
 */
import { assert, assertEquals } from "@std/assert";
import { createConnection, Server } from "@plexus/net/endpoints";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { PacketConnection } from "@plexus/net/packet";
import { DeadlineError, type DeadlineLimit, type StreamTransport } from "@plexus/net/transport";
import { bytes, text } from "../_shared.ts";
import { type AttackOptions, type AttackResult, startAttack } from "./_slowloris.ts";
import { within } from "../_shared.ts";

/** Scheduling slack allowed past a deadline (a loaded CI machine, 300 sockets at once). */
const SLACK = 1500;

/** A line echo that tells the peer why before a deadline closes it. */
function lineEcho(): FramedProtocol {
  return new FramedProtocol(new LineFramer(), {
    frameReceived: (line, framed) => framed.sendFrame(line),
    limitExceeded: (error, framed) => framed.sendFrame(bytes(`ERR ${error.message}`)),
  });
}

/** A server that counts the connections a deadline ended, by limit. */
class CountingServer<P extends FramedProtocol | PacketConnection> extends Server<P> {
  readonly cut = new Map<DeadlineLimit, number>();
  readonly other: (Error | undefined)[] = [];
  #expected = Infinity;
  #all = Promise.withResolvers<void>();

  /** Resolves once `count` connections were ended by a deadline. */
  cutCount(count: number): Promise<void> {
    this.#expected = count;
    this.#check();
    return this.#all.promise;
  }

  override connectionLost(_t: StreamTransport, _p: P, error: Error | undefined): void {
    if (error instanceof DeadlineError) {
      this.cut.set(error.limit, (this.cut.get(error.limit) ?? 0) + 1);
    } else this.other.push(error);
    this.#check();
  }

  #check(): void {
    let total = 0;
    for (const n of this.cut.values()) total += n;
    if (total >= this.#expected) this.#all.resolve();
  }
}

/** Round-trips `count` lines through the line echo at `address`, one at a time. */
async function echoLines(address: Deno.Addr, count: number): Promise<string[]> {
  let next = Promise.withResolvers<string>();
  const { protocol } = await createConnection(
    () =>
      new FramedProtocol(new LineFramer(), {
        frameReceived: (line) => next.resolve(text(line)),
      }),
    address,
  );
  const got: string[] = [];
  for (let i = 0; i < count; i++) {
    protocol.sendFrame(bytes(`line ${i}`));
    got.push(await next.promise);
    next = Promise.withResolvers<string>();
  }
  protocol.close();
  await protocol.closed;
  return got;
}

function describe(result: AttackResult): string {
  const sorted = [...result.latencies].sort((a, b) => a - b);
  return `${result.cut}/${result.connected} cut (${result.resets} resets), latency ms ` +
    `min ${sorted[0]} median ${sorted[sorted.length >> 1]} max ${sorted[sorted.length - 1]}`;
}

async function attack(
  server: CountingServer<FramedProtocol>,
  options: AttackOptions,
): Promise<AttackResult> {
  const [address] = await server.listen("127.0.0.1:0");
  const run = startAttack((address as Deno.NetAddr).port, options);
  await run.connected;
  // A well-behaved client is served while the attack goes on.
  const lines = await echoLines(address, 5);
  assertEquals(lines, ["line 0", "line 1", "line 2", "line 3", "line 4"]);
  return await run.result;
}

Deno.test("slowloris: 300 trickling connections are cut frameTimeout after their first byte, others are served", async () => {
  const frameTimeout = 1000;
  await using server = new CountingServer(lineEcho, { deadlines: { frameTimeout } });
  const result = await attack(server, {
    connections: 300,
    mode: "trickle",
    interval: 200,
    limit: 10_000,
  });
  assertEquals(result.cut, 300, describe(result));
  assert(Math.max(...result.latencies) < frameTimeout + SLACK, describe(result));
  assert(Math.min(...result.latencies) >= frameTimeout - 50, describe(result));
  await within(server.cutCount(300), 5000, "the server's connectionLost for each");
  assertEquals(server.cut.get("frameTimeout"), 300);
  assertEquals(server.other, [undefined], "only the good client ended otherwise (orderly)");
});

Deno.test("slowloris: silent connections are cut at firstFrameTimeout", async () => {
  const firstFrameTimeout = 500;
  await using server = new CountingServer(lineEcho, { deadlines: { firstFrameTimeout } });
  const result = await attack(server, { connections: 100, mode: "silent", limit: 10_000 });
  assertEquals(result.cut, 100, describe(result));
  assert(Math.max(...result.latencies) < firstFrameTimeout + SLACK, describe(result));
  await within(server.cutCount(100), 5000, "the server's connectionLost for each");
  assertEquals(server.cut.get("firstFrameTimeout"), 100);
  assertEquals(server.other, [undefined]);
});

Deno.test("slowloris: the peer is told why before the connection closes", async () => {
  await using server = new CountingServer(lineEcho, { deadlines: { frameTimeout: 200 } });
  const [address] = await server.listen("127.0.0.1:0");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: (address as Deno.NetAddr).port });
  await conn.write(bytes("half a li"));
  const reply = new Uint8Array(200);
  let got = "";
  const readAll = async (): Promise<void> => {
    for (let n = await conn.read(reply); n !== null; n = await conn.read(reply)) {
      got += text(reply.subarray(0, n));
    }
  };
  try {
    await within(readAll(), 5000, "the server's end of the connection");
  } finally {
    conn.close();
  }
  assertEquals(got, "ERR Frame incomplete 200 ms after its first byte (frameTimeout)\r\n");
  await within(server.cutCount(1), 5000, "the server's connectionLost");
});

Deno.test("slow packet request: the peer gets a failure naming requestTimeout, the connection serves on", async () => {
  const reasons: unknown[] = [];
  await using server = new CountingServer(
    () =>
      new PacketConnection({
        requestHandler: (rqType, _flags, payload, { signal }) => {
          if (rqType === 2) return payload;
          return new Promise((_, reject) =>
            signal.addEventListener("abort", () => {
              reasons.push(signal.reason);
              reject(signal.reason);
            })
          );
        },
      }),
    { deadlines: { requestTimeout: 200 } }, // no PacketConnection option: the server's applies
  );
  const [address] = await server.listen("127.0.0.1:0");
  const { protocol: client } = await createConnection(() => new PacketConnection(), address);
  const slow = await within(client.submit(1), 5000, "the answer to the slow request");
  assertEquals(slow.ok, false);
  assertEquals(
    text(slow.payload),
    "Request not answered 200 ms after it arrived (requestTimeout)",
  );
  assertEquals((reasons[0] as DeadlineError).limit, "requestTimeout");
  assertEquals(text(await client.call(2, "fine")), "fine");
  await client.close();
  assertEquals(await client.closed, undefined);
});
