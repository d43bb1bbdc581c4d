import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { createServer } from "@plexus/net/endpoints";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import type { FramedStats } from "@plexus/net/transport";
import { PacketConnection } from "@plexus/net/packet";
import { Cli, runCli } from "./_cli.ts";

/** A line echo server (replies end in \r\n) that keeps its connections' final stats. */
async function lineEcho() {
  const ended: Promise<FramedStats>[] = [];
  const server = await createServer(
    () => {
      const framed: FramedProtocol<Uint8Array> = new FramedProtocol(new LineFramer(), {
        frameReceived: (frame, framed) => framed.sendFrame(frame),
      });
      ended.push(framed.closed.then(() => framed.stats()));
      return framed;
    },
    "127.0.0.1:0",
  );
  const address = `127.0.0.1:${(server.addresses[0] as Deno.NetAddr).port}`;
  return { server, address, ended };
}

Deno.test("connect --trace prints open, each frame each way and close to stderr", async () => {
  const { server, address, ended } = await lineEcho();
  await using _ = server;
  const result = await runCli(["connect", address, "--trace"], "hi\nyo\n");
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.stdout, "hi\nyo\n");
  assertEquals(result.stderr.split("\n"), [
    `[${address}] OPEN`,
    `[${address}] WRITE FRAME LineFramer: 3B 68 69 0a |hi.|`,
    `[${address}] WRITE FRAME LineFramer: 3B 79 6f 0a |yo.|`,
    `[${address}] READ FRAME LineFramer: 4B 68 69 0d 0a |hi..|`,
    `[${address}] READ FRAME LineFramer: 4B 79 6f 0d 0a |yo..|`,
    `[${address}] CLOSE: peer-eof`,
    "",
  ]);
  await Promise.all(ended);
});

Deno.test("connect --trace=hex prints the frames as hexdump tables", async () => {
  const { server, address, ended } = await lineEcho();
  await using _ = server;
  const result = await runCli(["connect", address, "--trace=hex"], "hi\n");
  assertEquals(result.code, 0, result.stderr);
  const lines = result.stderr.split("\n");
  assertEquals(lines[0], `[${address}] OPEN`);
  assertEquals(lines[1], `[${address}] WRITE FRAME LineFramer: 3B`);
  assertEquals(
    lines[5],
    "|00000000| 68 69 0a                                        |hi.             |",
  );
  assertEquals(lines[7], `[${address}] READ FRAME LineFramer: 4B`);
  assertEquals(
    lines[11],
    "|00000000| 68 69 0d 0a                                     |hi..            |",
  );
  assertEquals(lines.at(-2), `[${address}] CLOSE: peer-eof`);
  await Promise.all(ended);
  const bad = await runCli(["connect", address, "--trace=bin"]);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "--trace takes =hex or no value");
});

Deno.test("connect --stats prints the counters, matching what the server counted", async () => {
  const { server, address, ended } = await lineEcho();
  await using _ = server;
  const result = await runCli(["connect", address, "--stats"], "hello\nworld\n!\n");
  assertEquals(result.code, 0, result.stderr);
  const [peer] = await Promise.all(ended);
  // Sent: "hello\n" "world\n" "!\n" = 14 bytes; echoed with \r\n: 17 bytes.
  assertEquals(peer.bytesReceived, 14);
  assertEquals(peer.bytesSent, 17);
  assertEquals(
    result.stderr,
    "plexus: stats: bytes in=17 out=14, frames in=3 out=3, closed=peer-eof\n",
  );
});

Deno.test("listen --trace --stats: one peer's frames, counters and close", async () => {
  const cli = new Cli(["listen", "127.0.0.1:0", "--framer", "len:4be", "--trace", "--stats"]);
  const line = await cli.waitFor(/listening on 127\.0\.0\.1:\d+/, "stderr");
  const port = Number(line.split(":").at(-1));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const name = `127.0.0.1:${conn.localAddr.port}`;
  await conn.write(new Uint8Array([0, 0, 0, 3, 0x61, 0x62, 0x63]));
  await cli.waitFor(/^abc\n$/);
  await cli.write("xy\n");
  await cli.closeStdin();
  const received = new Uint8Array(await new Response(conn.readable).arrayBuffer());
  assertEquals(received, new Uint8Array([0, 0, 0, 2, 0x78, 0x79]));
  assertEquals(await cli.exit(), 0);
  const lines = cli.stderr.split("\n");
  assertEquals(lines.slice(1), [
    `[${name}] OPEN`,
    `[${name}] READ FRAME LengthPrefixedFramer: 7B 00 00 00 03 61 62 63 |....abc|`,
    `[${name}] WRITE FRAME LengthPrefixedFramer: 6B 00 00 00 02 78 79 |....xy|`,
    `[${name}] CLOSE: peer-eof`,
    "plexus: stats: bytes in=7 out=6, frames in=1 out=1, closed=peer-eof",
    "",
  ]);
});

Deno.test("rpc call --trace --stats: packets each way, requests, latency, bytes", async () => {
  const served: Promise<number>[] = [];
  await using server = await createServer(
    () => {
      const connection = new PacketConnection({
        requestHandler: (_rqType, flags, payload) => [flags, payload],
      });
      served.push(connection.closed.then(() => connection.stats().transport!.bytesReceived));
      return connection;
    },
    "127.0.0.1:0",
  );
  const address = `127.0.0.1:${(server.addresses[0] as Deno.NetAddr).port}`;
  const result = await runCli(["rpc", address, "call", "3", "hello", "--trace", "--stats"]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.stdout, "ok flags=0 bytes=5\nhello\n");
  const lines = result.stderr.trimEnd().split("\n");
  assertEquals(lines[0], `[${address}] OPEN`);
  // The request and its response, frames and packets (rqType as on the wire: ours + 1).
  assertEquals(lines.slice(1, 5), [
    `[${address}] WRITE FRAME PacketEncoder: 9B 08 02 02 04 68 65 6c 6c 6f |....hello|`,
    `[${address}] SEND PACKET: Packet(isRequest=true,channel=0,tag=2,rqType=4,flags=0x0,payload=68656c6c6f)`,
    `[${address}] READ FRAME PacketDecoder: 8B 07 02 04 68 65 6c 6c 6f |...hello|`,
    `[${address}] RECEIVE PACKET: Packet(isRequest=false,channel=0,tag=2,flags=0x1,payload=68656c6c6f)`,
  ]);
  assertEquals(lines.at(-2), `[${address}] CLOSE: close`);
  const stats = lines.at(-1)!;
  const match =
    /^plexus: stats: bytes in=(\d+) out=(\d+), requests sent=1 responses=1 failed=0 lost=0 served=0, latency p50=(\S+)ms p99=(\S+)ms, closed=close$/
      .exec(stats);
  if (!match) throw new Error(`unexpected stats line: ${stats}`);
  // What the server read is what the CLI counted as sent: the request, ERQ and EOF.
  const [serverIn] = await Promise.all(served);
  assertEquals(Number(match[2]), serverIn);
  // And it read the response (8 bytes), the server's ERQ and EOF.
  assertEquals(Number(match[1]), 8 + 4 + 4);
  // The request is 9 bytes (08 02 02 04 "hello"), ERQ and EOF 4 each.
  assertEquals(serverIn, 9 + 4 + 4);
  assert(Number(match[3]) > 0 && Number(match[3]) <= Number(match[4]), stats);
});

Deno.test("rpc serve --stats prints the server's totals at exit", async () => {
  const serve = new Cli(["rpc", "127.0.0.1:0", "serve", "--echo", "-q", "--stats"]);
  const line = await serve.waitFor(/listening on 127\.0\.0\.1:\d+/, "stderr");
  const address = line.slice("listening on ".length);
  for (const payload of ["a", "bc"]) {
    assertEquals((await runCli(["rpc", address, "call", "1", payload])).code, 0);
  }
  serve.kill("SIGTERM");
  assertEquals(await serve.exit(), 0);
  assertMatch(
    serve.stderr,
    /plexus: stats: connections accepted=2 closed=2 rejected=0, bytes in=\d+ out=\d+, requests served=2\n$/,
  );
  // Two requests (1- and 2-byte payloads: 5 + 6 bytes) and each client's ERQ and EOF.
  assertStringIncludes(serve.stderr, `bytes in=${5 + 6 + 2 * 8} `);
});
