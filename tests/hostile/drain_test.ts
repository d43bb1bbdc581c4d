/**
 * Hostile peers, case 2: SIGTERM with requests in flight. `Server.run()` must drain: every
 * request a handler accepted is answered before the connection closes. The server runs as its
 * own process (`_drain_server.ts`) and gets a real SIGTERM.
 */
import { assertEquals } from "@std/assert";
import { TextLineStream } from "@std/streams";
import { createConnection } from "@plexus/net/endpoints";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { PacketConnection, RemoteError } from "@plexus/net/packet";
import { assert } from "../_assert.ts";

const CONNECTIONS = 50;
const PER_CONNECTION = 20; // 1000 requests in flight; the soak runs 5000 with 0–500 ms handlers

/** Starts the drain server; yields its stdout lines. */
function startServer(mode: "packet" | "line", expected: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./_drain_server.ts", import.meta.url).pathname,
      mode,
      String(expected),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream() as TransformStream<string, string>)[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const { value, done } = await lines.next();
    if (done) throw new Error("the drain server ended early");
    return value;
  };
  return { child, next, lines };
}

Deno.test("SIGTERM drains a packet RPC server: every accepted request is answered", async () => {
  const total = CONNECTIONS * PER_CONNECTION;
  const { child, next, lines } = startServer("packet", total);
  const port = Number((await next()).split(" ")[1]);
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const { protocol } = await createConnection(() => new PacketConnection(), {
        hostname: "127.0.0.1",
        port,
      });
      return protocol;
    }),
  );
  const calls = clients.flatMap((client, c) =>
    Array.from({ length: PER_CONNECTION }, (_, i) => client.call(1, `${c}:${i}`))
  );
  assertEquals(await next(), "accepted");
  child.kill("SIGTERM");
  // A request sent during the drain is refused in words, never left hanging.
  const late = await Promise.allSettled(clients.map((client) => client.call(1, "late")));
  const answers = await Promise.allSettled(calls);
  const answered = answers.filter((a) => a.status === "fulfilled").length;
  assertEquals(answered, total, "every accepted request answered");
  answers.forEach((answer, i) => {
    if (answer.status === "fulfilled") {
      const expected = `${Math.floor(i / PER_CONNECTION)}:${i % PER_CONNECTION}`;
      assertEquals(new TextDecoder().decode(answer.value as Uint8Array), expected);
    }
  });
  for (const outcome of late) {
    if (outcome.status === "rejected") {
      assert(
        outcome.reason instanceof RemoteError || outcome.reason.name === "ConnectionClosedError",
        String(outcome.reason),
      );
    }
  }
  // The server ends each connection in order (ERQ, EOF): our side closes cleanly.
  const errors = await Promise.all(clients.map((client) => client.closed));
  assertEquals(errors.filter((e) => e !== undefined), []);
  // Late requests that reached a handler before the drain began were answered too.
  const lateAnswered = late.filter((outcome) => outcome.status === "fulfilled").length;
  assertEquals(await next(), `drained ${total + lateAnswered}`);
  await lines.return?.();
  assertEquals((await child.status).code, 0);
});

Deno.test("SIGTERM drains a line protocol with asynchronous replies: every request is answered", async () => {
  const total = CONNECTIONS * PER_CONNECTION;
  const { child, next, lines } = startServer("line", total);
  const port = Number((await next()).split(" ")[1]);
  const replies: string[][] = [];
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      const got: string[] = [];
      replies.push(got);
      const { protocol } = await createConnection(
        () =>
          new FramedProtocol(new LineFramer(), {
            frameReceived: (line) => void got.push(new TextDecoder().decode(line)),
          }),
        { hostname: "127.0.0.1", port },
      );
      for (let i = 0; i < PER_CONNECTION; i++) {
        protocol.sendFrame(new TextEncoder().encode(`${c}:${i}`));
      }
      return protocol;
    }),
  );
  assertEquals(await next(), "accepted");
  child.kill("SIGTERM");
  await Promise.all(clients.map((client) => client.closed));
  assertEquals(replies.flat().length, total, "every accepted request answered");
  assertEquals(await next(), `drained ${total}`);
  await lines.return?.();
  assertEquals((await child.status).code, 0);
});
