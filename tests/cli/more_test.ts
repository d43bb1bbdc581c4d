import { assert, assertEquals, assertMatch } from "@std/assert";
import { createServer } from "@plexus/net/endpoints";
import { FramedProtocol, LineFramer, TinyprotoProtocol } from "@plexus/net/framing";
import { PacketConnection } from "@plexus/net/packet";
import { ProtocolAdapter } from "@plexus/net/protocol";
import { Cli, closedPort, pythonPacketPeer, rawPeer, runCli } from "./_cli.ts";

/** `plexus bench ADDRESS --mode rpc OPTIONS...`, run to its end. */
function benchRpc(
  address: string,
  ...options: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(["bench", address, "--mode", "rpc", ...options]);
}

Deno.test("bench's rate counts the drain's time as well as its requests", async () => {
  // Each answer takes 300 ms and the window is 50 ms: every request is answered in the drain.
  const timers = new Set<ReturnType<typeof setTimeout>>();
  await using server = await createServer(
    () =>
      new PacketConnection({
        requestHandler: () =>
          new Promise<undefined>((resolve) => {
            const id = setTimeout(() => {
              timers.delete(id);
              resolve(undefined);
            }, 300);
            timers.add(id);
          }),
      }),
    "127.0.0.1:0",
  );
  const address = `127.0.0.1:${(server.addresses[0] as Deno.NetAddr).port}`;
  const result = await benchRpc(address, "--duration", "50ms", "-d", "4", "-q");
  assertEquals(result.code, 0, result.stderr);
  const elapsed = Number(/, ([\d.]+) s\n/.exec(result.stdout)![1]);
  const [, ok, rate] = /requests: (\d+) ok, 0 errors, (\d+)\/s/.exec(result.stdout)!;
  assertEquals(Number(ok), 4);
  assert(elapsed >= 0.29, result.stdout); // not the 0.05 s window alone
  assert(Math.abs(Number(rate) - 4 / elapsed) <= 1, result.stdout);
  assertEquals(timers.size, 0);
});

Deno.test("bench --mode rpc counts a lost connection once, not once per request in flight", async () => {
  await using server = await createServer(
    () => {
      let served = 0;
      const connection: PacketConnection = new PacketConnection({
        requestHandler: () => {
          if (++served === 5) connection.abort();
        },
      });
      return connection;
    },
    "127.0.0.1:0",
  );
  const address = `127.0.0.1:${(server.addresses[0] as Deno.NetAddr).port}`;
  const result = await benchRpc(address, "--duration", "200ms", "-c", "2", "-d", "8", "-q");
  assertEquals(result.code, 1);
  assertMatch(result.stdout, /requests: \d+ ok, 2 errors/); // two connections, each lost once
});

Deno.test("bench prints a progress line to stderr without -q", async () => {
  await using server = await createServer(
    () => new PacketConnection({ requestHandler: () => undefined }),
    "127.0.0.1:0",
  );
  const address = `127.0.0.1:${(server.addresses[0] as Deno.NetAddr).port}`;
  const result = await benchRpc(address, "--duration", "1200ms");
  assertEquals(result.code, 0, result.stderr);
  assertMatch(result.stderr, /^ +1s {2}\d+ ok {2}\d+\/s {2}[\d.]+ MiB\/s {2}errors 0$/m);
});

Deno.test("connect and listen over a Unix socket (unix:PATH and a bare PATH)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/echo.sock`;
    await using server = await createServer(
      () =>
        new FramedProtocol(new LineFramer(), {
          frameReceived: (frame, framed) => framed.sendFrame(frame),
        }),
      { path },
    );
    const result = await runCli(["connect", `unix:${path}`, "--stats"], "over unix\n");
    assertEquals(result.stdout, "over unix\n");
    assertEquals(
      result.stderr,
      "plexus: stats: bytes in=11 out=10, frames in=1 out=1, closed=peer-eof\n",
    );
    assertEquals(result.code, 0);
    await server.close();

    const listenPath = `${dir}/listen.sock`;
    const cli = new Cli(["listen", listenPath]);
    await cli.waitFor(/listening on/, "stderr");
    const conn = await Deno.connect({ transport: "unix", path: listenPath });
    await conn.write(new TextEncoder().encode("from peer\n"));
    await cli.waitFor(/^from peer\n$/);
    await cli.write("to peer\n");
    await cli.closeStdin();
    assertEquals(await new Response(conn.readable).text(), "to peer\n");
    assertEquals(await cli.exit(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connect --framer tinyproto talks to a Plexus tinyproto echo server", async () => {
  await using server = await createServer(
    () =>
      new TinyprotoProtocol({
        transmissionReceived: (payload, tp) => void tp.send(payload.slice()).catch(() => {}),
      }),
    "127.0.0.1:0",
  );
  const address = `127.0.0.1:${(server.addresses[0] as Deno.NetAddr).port}`;
  // tinyproto has no half-close: wait for each echo before the next line and the end.
  const cli = new Cli(["connect", address, "--framer", "tinyproto", "--stats"]);
  await cli.write("hello\n");
  await cli.waitFor(/^hello\n$/);
  await cli.write("world\n");
  await cli.waitFor(/^hello\nworld\n$/);
  await cli.closeStdin();
  assertEquals(await cli.exit(), 0, cli.stderr);
  assertMatch(cli.stderr, /^plexus: stats: bytes in=\d+ out=\d+, frames in=\d+ out=\d+, /);
});

Deno.test("rpc call against a Python peer speaking the cs.packetstream wire format", async () => {
  const peer = pythonPacketPeer();
  const port = await peer.port;
  const result = await runCli([
    "rpc",
    `127.0.0.1:${port}`,
    "call",
    "300",
    "from deno",
    "--flags",
    "6",
  ]);
  assertEquals(
    await peer.done,
    `300 6 ${
      Array.from(new TextEncoder().encode("from deno"), (b) => b.toString(16).padStart(2, "0"))
        .join("")
    }`,
  );
  assertEquals(result.stdout, "ok flags=7 bytes=9\nFROM DENO\n");
  assertEquals(result.code, 0, result.stderr);
});

Deno.test("bench --mode echo: a connection the server dropped before the run started is an error", async () => {
  const server = rawPeer((i) => i === 0 ? "drop" : "echo");
  try {
    const result = await runCli([
      "bench",
      `127.0.0.1:${server.port}`,
      "-c",
      "2",
      "-d",
      "4",
      "--duration",
      "200ms",
      "-q",
    ]);
    assertMatch(result.stdout, /requests: \d+ ok, [1-9]\d* errors/, result.stdout + result.stderr);
    assertEquals(result.code, 1, result.stdout);
  } finally {
    await server.close();
  }
});

/** A peer that accepts one connection, writes `bytes` and closes. */
function sendAndClose(bytes: Uint8Array): { port: number; done: Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const conn = await listener.accept();
    listener.close();
    await conn.write(bytes);
    conn.close();
  })();
  return { port: listener.addr.port, done };
}

Deno.test("connect --framer chunk:4 prints every 4-byte frame, not only the first", async () => {
  const peer = sendAndClose(new TextEncoder().encode("abcdefgh"));
  const result = await runCli(["connect", `127.0.0.1:${peer.port}`, "--framer", "chunk:4"]);
  await peer.done;
  assertEquals(result.stdout, "abcd\nefgh\n", result.stderr);
  assertEquals(result.code, 0, result.stderr);
});

/** Echoes every chunk it reads. */
class ByteEcho extends ProtocolAdapter {
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
}

Deno.test("bench --framer chunk:64 --size 64 against a byte echo: every reply counts", async () => {
  await using server = await createServer(() => new ByteEcho(), "127.0.0.1:0");
  const port = (server.addresses[0] as Deno.NetAddr).port;
  const result = await runCli([
    "bench",
    `127.0.0.1:${port}`,
    "--framer",
    "chunk:64",
    "--size",
    "64",
    "--duration",
    "200ms",
    "-q",
  ]);
  assertMatch(result.stdout, /requests: \d+ ok, 0 errors/);
  assertEquals(result.code, 0, result.stdout);
});

Deno.test("flags that do not apply are usage errors, not silently ignored", async () => {
  const port = closedPort();
  const cases: string[][] = [
    ["connect", `127.0.0.1:${port}`, "--insecure"],
    ["bench", `127.0.0.1:${port}`, "--insecure"],
    ["bench", `127.0.0.1:${port}`, "--mode", "rpc", "--rq-type", "9007199254740991"],
    ["rpc", `127.0.0.1:${port}`, "call", "1", "--cert", "/nonexistent", "--key", "/nonexistent"],
    ["rpc", "127.0.0.1:0", "serve", "--echo", "--ca", "/nonexistent"],
  ];
  const wrong: string[] = [];
  for (const args of cases) {
    const result = await runCli(args);
    if (result.code !== 2) wrong.push(`${args.join(" ")} -> exit ${result.code}: ${result.stderr}`);
  }
  assertEquals(wrong, []);
});

Deno.test("bench --mode rpc checks --size against the packet limit before connecting", async () => {
  // maxPacketSize (16 MiB) counts the tag (up to 5 bytes in a run), flags and rq_type too: the
  // help's 16777216 failed every request after connecting (exit 1, "0 ok, 1 errors").
  const refused = await runCli([
    "bench",
    `127.0.0.1:${closedPort()}`,
    "--mode",
    "rpc",
    "--size",
    "16777210",
  ]);
  assertEquals(refused.code, 2, refused.stderr);
  assertMatch(refused.stderr, /--size 16777210 does not fit a packet .*at most 16777209 bytes/);
  await using server = await createServer(
    () => new PacketConnection({ requestHandler: (_t, _f, payload) => payload }),
    "127.0.0.1:0",
  );
  const port = (server.addresses[0] as Deno.NetAddr).port;
  const largest = await runCli([
    "bench",
    `127.0.0.1:${port}`,
    "--mode",
    "rpc",
    "--size",
    "16777209",
    "--duration",
    "200ms",
    "-q",
  ]);
  assertMatch(largest.stdout, /requests: [1-9]\d* ok, 0 errors/);
  assertEquals(largest.code, 0, largest.stdout);
});
