/** CLI and framed-protocol fixes from a review round, each pinned by the test that found it. */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { createServer } from "../../endpoints/mod.ts";
import { FramedProtocol, LineFramer, TinyprotoProtocol } from "../../framing/mod.ts";
import { createMemoryTransportPair, subscribe, type Transport } from "../../transport/mod.ts";
import { Cli, closedPort, fixture, rawPeer, runCli } from "./_cli.ts";

for (const mode of ["echo", "rpc"]) {
  Deno.test(`bench --mode ${mode}: requests never answered are errors, exit 1`, async () => {
    const server = rawPeer(() => "hold");
    try {
      const result = await runCli([
        "bench",
        `127.0.0.1:${server.port}`,
        "--mode",
        mode,
        "--duration",
        "100ms",
        "-q",
      ]);
      // 0 requests succeeded: the help says "Exit status: 0 when every request succeeded".
      assertMatch(result.stdout, /requests: 0 ok, [1-9]\d* errors/, result.stdout);
      assertEquals(result.code, 1, result.stdout);
    } finally {
      await server.close();
    }
  });
}

Deno.test("connect --framer tinyproto: replies to the last stdin lines are printed before exit", async () => {
  await using server = await createServer(
    () =>
      new TinyprotoProtocol({
        transmissionReceived: (payload, tp) => void tp.send(payload.slice()).catch(() => {}),
      }),
    "127.0.0.1:0",
  );
  const port = (server.addresses[0] as Deno.NetAddr).port;
  // `echo hello | plexus connect ADDR --framer tinyproto`: the help promises "At the end of
  // stdin the connection is half-closed; when the peer closes, plexus exits."
  const result = await runCli(["connect", `127.0.0.1:${port}`, "--framer", "tinyproto"], "hello\n");
  assertEquals(result.stdout, "hello\n", result.stderr);
  assertEquals(result.code, 0);
});

Deno.test("an empty or blank number is a usage error, not 0", async () => {
  const addr = `127.0.0.1:${closedPort()}`;
  for (
    const args of [
      ["rpc", addr, "call", ""],
      ["rpc", addr, "call", " "],
      ["rpc", addr, "call", "3", "--flags="],
      ["bench", addr, "--size=", "--duration", "10ms"],
    ]
  ) {
    const result = await runCli(args);
    // Got: 1, "cannot connect to ...": the empty string was taken as 0.
    assertEquals(result.code, 2, `${JSON.stringify(args)}: ${result.stderr}`);
  }
});

Deno.test("listen --cert/--key without --tls is a usage error, not a plaintext listener", async () => {
  const cli = new Cli(["listen", "127.0.0.1:0", "--cert", "cert.pem", "--key", "key.pem"]);
  const said = await cli.waitFor(/listening on|needs --tls/, "stderr");
  const listening = said === "listening on";
  if (listening) cli.kill("SIGTERM");
  const code = await cli.exit();
  assertEquals(code, 2, cli.stderr);
  assert(!listening, "listen served plaintext though --cert and --key were given");
});

Deno.test("connect takes no --cert/--key (server flags): unknown options, exit 2", async () => {
  const result = await runCli(["connect", `127.0.0.1:${closedPort()}`, "--cert", "x.pem"]);
  assertEquals(result.code, 2, result.stderr);
});

Deno.test("FramedProtocol: a frame dropped after close() is neither counted nor traced", async () => {
  const events: string[] = [];
  using _ = subscribe({ frame: (e) => events.push(`${e.direction} ${e.bytes?.byteLength}B`) });
  const a = new FramedProtocol(new LineFramer(), { frameReceived() {} });
  const b = new FramedProtocol(new LineFramer(), { frameReceived() {} });
  createMemoryTransportPair(a, b);
  a.transport.close();
  a.sendFrame(new TextEncoder().encode("dropped")); // documented: dropped once closing
  await Promise.all([a.closed, b.closed]);
  assertEquals(a.stats().bytesSent, 0);
  assertEquals(b.stats().framesReceived, 0);
  assertEquals(events, []); // got ["send 9B"]: a WRITE FRAME line for bytes never written
  assertEquals(a.stats().framesSent, 0); // got 1
});

Deno.test("listen --tls reports a failed handshake in one line, not a stack trace", async () => {
  const cli = new Cli([
    "listen",
    "127.0.0.1:0",
    "--tls",
    "--cert",
    fixture("leaf.pem"),
    "--key",
    fixture("leaf.key"),
  ]);
  const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:\d+/, "stderr")).split(":")[1]);
  const plain = await Deno.connect({ hostname: "127.0.0.1", port });
  await plain.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n")); // not a ClientHello
  await new Response(plain.readable).arrayBuffer(); // the server closes it
  await cli.waitFor(/handshake/i, "stderr");
  cli.kill("SIGTERM");
  await cli.exit();
  const lines = cli.stderr.trimEnd().split("\n");
  // Got: "TransportError: TLS handshake with ... failed: ..." and ~20 lines of stack and causes.
  assertEquals(lines.filter((line) => /^\s+at /.test(line)), [], cli.stderr);
});

Deno.test("bench --framer dot against a byte echo server: requests succeed (or a usage error)", async () => {
  await using server = await createServer(
    () => {
      let t: Transport;
      return {
        connectionMade: (tr: Transport) => t = tr,
        dataReceived: (d: Uint8Array) => t.write(d.slice()),
      };
    },
    "127.0.0.1:0",
  );
  const port = (server.addresses[0] as Deno.NetAddr).port;
  const result = await runCli([
    "bench",
    `127.0.0.1:${port}`,
    "--framer",
    "dot",
    "--duration",
    "100ms",
    "-q",
  ]);
  // The dot framer decodes a message with its last line ending: the reply is 66 bytes to 64.
  assertEquals(result.code, 0, result.stdout);
});

Deno.test("bench --framer chunk:N with another --size is a usage error", async () => {
  const result = await runCli(["bench", `127.0.0.1:${closedPort()}`, "--framer", "chunk:8"]);
  assertEquals(result.code, 2, result.stderr);
  assertMatch(result.stderr, /cannot carry a 64-byte payload/);
});
