import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { createServer } from "@plexus/net/endpoints";
import {
  decodeFrames,
  encodeFrame,
  FramedProtocol,
  LengthPrefixedFramer,
} from "@plexus/net/framing";
import {
  EXTENSION_RQ_TYPE,
  Packet,
  PacketConnection,
  PacketFramer,
  RemoteError,
} from "@plexus/net/packet";
import { Cli, closedPort, runCli } from "./_cli.ts";

Deno.test("rpc call prints ok, flags and payload; a failure response exits with 1", async () => {
  await using server = await createServer(
    () =>
      new PacketConnection({
        requestHandler(rqType, flags, payload) {
          if (rqType === 3) return [flags + 1, new TextDecoder().decode(payload).toUpperCase()];
          throw new RemoteError(7, `unknown rq_type ${rqType}`);
        },
      }),
    "127.0.0.1:0",
  );
  const address = `127.0.0.1:${(server.addresses[0] as Deno.NetAddr).port}`;
  const ok = await runCli(["rpc", address, "call", "3", "hello", "--flags", "4"]);
  assertEquals(ok.stdout, "ok flags=5 bytes=5\nHELLO\n");
  assertEquals(ok.code, 0);
  const fromStdin = await runCli(["rpc", address, "call", "3", "-"], "piped");
  assertEquals(fromStdin.stdout, "ok flags=1 bytes=5\nPIPED\n");
  const failed = await runCli(["rpc", address, "call", "9"]);
  assertEquals(failed.stdout, "failed flags=7 bytes=17\nunknown rq_type 9\n");
  assertEquals(failed.code, 1);
});

Deno.test("rpc call checks RQTYPE and --flags against the packet limits before connecting", async () => {
  const address = `127.0.0.1:${closedPort()}`;
  for (
    const [args, message] of [
      [["3", "--flags", String(2 ** 51)], "--flags must be an integer from 0 to 2251799813685247"],
      [[String(Number.MAX_SAFE_INTEGER)], "RQTYPE must be an integer from 0 to"],
      [[String(EXTENSION_RQ_TYPE)], "is reserved for the Plexus extensions"],
    ] as const
  ) {
    const result = await runCli(["rpc", address, "call", ...args]);
    // Got: 1, "request to ... failed: Cannot submit request: ...", once connected.
    assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assertStringIncludes(result.stderr, message);
  }
  // The largest flags are fine: the call goes on to connect (and finds no one).
  const largest = await runCli(["rpc", address, "call", "3", "--flags", String(2 ** 51 - 1)]);
  assertEquals(largest.code, 1, largest.stderr);
  assertStringIncludes(largest.stderr, "cannot connect");
});

Deno.test("rpc call prints the answer as soon as it arrives, before the peer's EOF", async () => {
  // A raw peer that answers the request and sends its EOF only once the answer is printed.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const cli = new Cli(["rpc", `127.0.0.1:${listener.addr.port}`, "call", "3", "hi"]);
  using conn = await listener.accept();
  let received = new Uint8Array();
  let request: Packet | undefined;
  const chunk = new Uint8Array(4096);
  while (request === undefined) {
    const n = await conn.read(chunk);
    if (n === null) throw new Error("the CLI closed before its request");
    received = new Uint8Array([...received, ...chunk.subarray(0, n)]);
    try {
      request = decodeFrames(new PacketFramer(), received).find((p) => p.isRequest);
    } catch {
      // A packet not whole yet.
    }
  }
  const send = (packet: Packet) => conn.write(encodeFrame(new PacketFramer(), packet));
  await send(Packet.response(request.tag, true, { payload: new TextEncoder().encode("HI") }));
  try {
    // Got: nothing until the peer's EOF or closeTimeout (10 s).
    await cli.waitFor(/^ok flags=0 bytes=2\nHI\n$/);
  } finally {
    await send(Packet.EOF);
    conn.closeWrite();
  }
  assertEquals(await cli.exit(), 0, cli.stderr);
});

Deno.test("rpc serve --echo answers requests until SIGTERM", async () => {
  const serve = new Cli(["rpc", "127.0.0.1:0", "serve", "--echo"]);
  const line = await serve.waitFor(/listening on 127\.0\.0\.1:\d+/, "stderr");
  const address = line.slice("listening on ".length);
  const call = await runCli([
    "rpc",
    address,
    "call",
    "5",
    "@tests/fixtures/ca.pem",
    "--flags",
    "2",
  ]);
  const ca = await Deno.readTextFile("tests/fixtures/ca.pem");
  assertEquals(call.stdout, `ok flags=2 bytes=${ca.length}\n${ca.replace(/\n$/, "")}\n`);
  await serve.waitFor(/^rq_type=5 flags=2 \d+B 2d 2d 2d 2d 2d/);
  serve.kill("SIGTERM");
  assertEquals(await serve.exit(), 0);
});

Deno.test("bench counts every echoed frame and prints a latency summary", async () => {
  let served = 0;
  await using server = await createServer(
    () =>
      new FramedProtocol(new LengthPrefixedFramer(), {
        frameReceived(frame, framed) {
          served++;
          framed.sendFrame(frame);
        },
      }),
    "127.0.0.1:0",
  );
  const address = `127.0.0.1:${(server.addresses[0] as Deno.NetAddr).port}`;
  const result = await runCli([
    "bench",
    address,
    "--duration",
    "500ms",
    "-c",
    "2",
    "-d",
    "4",
    "--size",
    "100",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const [, ok, errors] = /requests: (\d+) ok, (\d+) errors/.exec(result.stdout)!;
  assertEquals(Number(errors), 0);
  assert(Number(ok) > 0);
  assertEquals(Number(ok), served); // every frame sent was answered and counted
  assertMatch(result.stdout, /latency: p50 \S+ \S+, p90 \S+ \S+, p99 \S+ \S+, max /);
  assertMatch(result.stdout, /\| #+ +\d+\n/);
});

Deno.test("bench --mode rpc counts packet requests and their failures", async () => {
  let served = 0;
  await using server = await createServer(
    () =>
      new PacketConnection({
        requestHandler: (rqType) => {
          served++;
          if (rqType !== 0) throw new RemoteError(1, "no");
        },
      }),
    "127.0.0.1:0",
  );
  const address = `127.0.0.1:${(server.addresses[0] as Deno.NetAddr).port}`;
  const ok = await runCli(["bench", address, "--mode", "rpc", "--duration", "300ms", "-d", "8"]);
  assertEquals(ok.code, 0, ok.stderr);
  const count = Number(/requests: (\d+) ok, 0 errors/.exec(ok.stdout)![1]);
  assertEquals(count, served);
  const failing = await runCli([
    "bench",
    address,
    "--mode",
    "rpc",
    "--rq-type",
    "1",
    "--duration",
    "200ms",
    "-q",
  ]);
  assertEquals(failing.code, 1);
  assertMatch(failing.stdout, /requests: 0 ok, [1-9]\d* errors/);
});

Deno.test("listen takes one peer: frames both ways, then half-close", async () => {
  const cli = new Cli(["listen", "127.0.0.1:0", "--framer", "len:4be"]);
  const line = await cli.waitFor(/listening on 127\.0\.0\.1:\d+/, "stderr");
  const port = Number(line.split(":").at(-1));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new Uint8Array([0, 0, 0, 3, 0x61, 0x62, 0x63]));
  await cli.waitFor(/^abc\n$/);
  await cli.write("xy\n");
  await cli.closeStdin(); // the CLI half-closes after sending "xy"
  const received = new Uint8Array(await new Response(conn.readable).arrayBuffer());
  assertEquals(received, new Uint8Array([0, 0, 0, 2, 0x78, 0x79]));
  assertEquals(await cli.exit(), 0);
});

Deno.test("listen --udp prints datagrams from a Python peer and answers the last sender", async () => {
  const cli = new Cli(["listen", "--udp", "127.0.0.1:0", "--wait", "0"]);
  const line = await cli.waitFor(/listening on 127\.0\.0\.1:\d+/, "stderr");
  const port = line.split(":").at(-1);
  const peer = new Deno.Command("python3", {
    args: [
      "-c",
      `import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"from python", ("127.0.0.1", int(sys.argv[1])))
print(s.recvfrom(100)[0].decode(), flush=True)`,
      port!,
    ],
    stdout: "piped",
  }).spawn();
  await cli.waitFor(/^from python\n$/);
  await cli.write("answer\n");
  const output = await peer.output();
  assertEquals(new TextDecoder().decode(output.stdout), "answer\n");
  await cli.closeStdin();
  assertEquals(await cli.exit(), 0);
});
