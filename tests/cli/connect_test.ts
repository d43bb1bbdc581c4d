import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { createServer } from "@plexus/net/endpoints";
import { FramedProtocol, LengthPrefixedFramer, LineFramer } from "@plexus/net/framing";
import { createDatagramEndpoint } from "@plexus/net/endpoints";
import type { DatagramProtocol, DatagramTransport } from "@plexus/net/transport";
import { Cli, closedPort, fixture, pythonEchoAfterEof, runCli } from "./_cli.ts";
import { tls } from "../_net.ts";

// What two stdin lines, "hello" and "world", become on the wire through each framer.
const WIRE: [string, string][] = [
  ["line", "68656c6c6f0a776f726c640a"],
  ["len:4be", "0000000568656c6c6f00000005776f726c64"],
  ["netstring", "353a68656c6c6f2c353a776f726c642c"],
  ["cobs", "0668656c6c6f0006776f726c6400"],
  ["len:varint", "0568656c6c6f05776f726c64"],
];

for (const [framer, wire] of WIRE) {
  Deno.test(`connect --framer ${framer} sends framed lines, half-closes at stdin's end, prints the replies`, async () => {
    const peer = pythonEchoAfterEof();
    const port = await peer.port;
    // The peer answers only after our EOF: the CLI must half-close, then keep reading.
    const result = await runCli(
      ["connect", `127.0.0.1:${port}`, "--framer", framer],
      "hello\nworld\n",
    );
    assertEquals(await peer.done, wire);
    assertEquals(result.stdout, "hello\nworld\n");
    assertEquals(result.stderr, "");
    assertEquals(result.code, 0);
  });
}

Deno.test("connect --framer dot prints each body as it came, with no blank line after it", async () => {
  const peer = pythonEchoAfterEof();
  const port = await peer.port;
  const result = await runCli(
    ["connect", `127.0.0.1:${port}`, "--framer", "dot"],
    "hello\n.dots\n",
  );
  const wire = new TextEncoder().encode("hello\r\n.\r\n..dots\r\n.\r\n");
  assertEquals(await peer.done, Array.from(wire, (b) => b.toString(16).padStart(2, "0")).join(""));
  // Got: "hello\r\n\n.dots\r\n\n": a newline after each body, which ends with its own.
  assertEquals(result.stdout, "hello\r\n.dots\r\n");
  assertEquals(result.code, 0, result.stderr);
});

Deno.test("connect --hex prints each frame a Plexus server sends as a hexdump", async () => {
  await using server = await createServer(
    () =>
      new FramedProtocol(new LengthPrefixedFramer({ lengthFieldLength: 2, littleEndian: true }), {
        frameReceived: (frame, framed) => framed.sendFrame(frame),
      }),
    "127.0.0.1:0",
  );
  const port = (server.addresses[0] as Deno.NetAddr).port;
  const result = await runCli(
    ["connect", `127.0.0.1:${port}`, "--framer", "len:2le", "--hex"],
    "hi\r\n",
  );
  assertEquals(result.code, 0);
  assertEquals(
    result.stdout.split("\n")[3],
    "|00000000| 68 69                                           |hi              |",
  );
});

Deno.test("connect reports a refused connection in one line and exits with 1", async () => {
  const port = closedPort();
  const result = await runCli(["connect", `127.0.0.1:${port}`]);
  assertEquals(result.stderr, `plexus: cannot connect to 127.0.0.1:${port}: connection refused\n`);
  assertEquals(result.code, 1);
});

Deno.test("connect --tls --ca talks to a Plexus TLS server; without the CA it fails clearly", async () => {
  await using server = await createServer(
    () =>
      new FramedProtocol(new LineFramer(), { frameReceived: (f, framed) => framed.sendFrame(f) }),
    "127.0.0.1:0",
    { tls: { cert: tls.cert, key: tls.key, alpnProtocols: ["echo"] }, onError: () => {} },
  );
  const port = (server.addresses[0] as Deno.NetAddr).port;
  const ok = await runCli(
    ["connect", `localhost:${port}`, "--tls", "--ca", fixture("ca.pem"), "--alpn", "echo"],
    "secret\n",
  );
  assertEquals(ok.stdout, "secret\n");
  assertEquals(ok.code, 0);
  const sni = await runCli(
    ["connect", `127.0.0.1:${port}`, "--tls", "--ca", fixture("ca.pem"), "--sni", "localhost"],
    "by name\n",
  );
  assertEquals(sni.stdout, "by name\n");
  assertEquals(sni.code, 0);
  const untrusted = await runCli(["connect", `127.0.0.1:${port}`, "--tls"], "x\n");
  assertEquals(untrusted.code, 1);
  assertMatch(
    untrusted.stderr,
    /^plexus: cannot connect to 127\.0\.0\.1:\d+: TLS handshake failed: .*\n$/,
  );
});

Deno.test("connect --starttls upgrades after the peer's go-ahead, SMTP style", async () => {
  await using server = await createServer(
    () =>
      new FramedProtocol(new LineFramer(), {
        connectionMade: (framed) => framed.sendFrame(new TextEncoder().encode("220 ready")),
        frameReceived(frame, framed) {
          const line = new TextDecoder().decode(frame);
          if (line === "STARTTLS") {
            framed.sendFrame(new TextEncoder().encode("220 go ahead"));
            void framed.transport.startTls!({ serverSide: true, cert: tls.cert, key: tls.key });
          } else {
            const secure = framed.transport.getExtraInfo("tls") === true;
            framed.sendFrame(new TextEncoder().encode(`${secure ? "tls" : "plain"}: ${line}`));
          }
        },
      }),
    "127.0.0.1:0",
  );
  const port = (server.addresses[0] as Deno.NetAddr).port;
  const result = await runCli(
    ["connect", `localhost:${port}`, "--starttls", "STARTTLS", "--ca", fixture("ca.pem")],
    "EHLO me\nSTARTTLS\nEHLO again\n",
  );
  assertEquals(result.stdout, "220 ready\nplain: EHLO me\n220 go ahead\ntls: EHLO again\n");
  assertEquals(result.code, 0);
});

Deno.test("connect --udp sends each line as a datagram and prints the replies", async () => {
  let transport: DatagramTransport | undefined;
  const received: string[] = [];
  const echo: DatagramProtocol = {
    connectionMade: (t) => transport = t as DatagramTransport,
    datagramReceived(data, addr) {
      received.push(new TextDecoder().decode(data));
      transport!.sendto(data, addr);
    },
  };
  const server = await createDatagramEndpoint(() => echo, { localAddress: "127.0.0.1:0" });
  const port = (server.transport.getExtraInfo("sockname") as Deno.NetAddr).port;
  const cli = new Cli(["connect", "--udp", `127.0.0.1:${port}`, "--wait", "0"]);
  await cli.write("ping\n");
  await cli.waitFor(/^ping\n$/);
  await cli.write("pong\n");
  await cli.waitFor(/^ping\npong\n$/);
  await cli.closeStdin();
  assertEquals(await cli.exit(), 0);
  assertEquals(received, ["ping", "pong"]);
  server.transport.close();
  await server.transport.closed;
});

Deno.test("connect --udp --trace prints each datagram each way; --framer over --udp is refused", async () => {
  let transport: DatagramTransport | undefined;
  const echo: DatagramProtocol = {
    connectionMade: (t) => transport = t as DatagramTransport,
    datagramReceived: (data, addr) => transport!.sendto(data, addr),
  };
  const server = await createDatagramEndpoint(() => echo, { localAddress: "127.0.0.1:0" });
  const port = (server.transport.getExtraInfo("sockname") as Deno.NetAddr).port;
  const address = `127.0.0.1:${port}`;
  const cli = new Cli(["connect", "--udp", address, "--trace", "--wait", "0"]);
  await cli.write("hi\n");
  await cli.waitFor(/^hi\n$/);
  await cli.closeStdin();
  assertEquals(await cli.exit(), 0, cli.stderr);
  // Got: OPEN and CLOSE only.
  assertEquals(cli.stderr.split("\n"), [
    `[${address}] OPEN`,
    `[${address}] WRITE FRAME datagram: 2B 68 69 |hi|`,
    `[${address}] READ FRAME datagram: 2B 68 69 |hi|`,
    `[${address}] CLOSE: close`,
    "",
  ]);
  server.transport.close();
  await server.transport.closed;
  // Got: the framer silently ignored, each line sent as a bare datagram.
  for (const command of ["connect", "listen"]) {
    const framed = await runCli([command, "--udp", "127.0.0.1:0", "--framer", "len:4be"]);
    assertEquals(framed.code, 2, `${command}: ${framed.stderr}`);
    assertStringIncludes(framed.stderr, "--framer does not work over --udp");
  }
});

Deno.test("every command has --help; mistakes are usage errors with exit code 2", async () => {
  for (const command of ["connect", "listen", "rpc", "bench"]) {
    const help = await runCli([command, "--help"]);
    assertEquals(help.code, 0);
    assert(help.stdout.startsWith(`Usage: plexus ${command}`), help.stdout);
  }
  const top = await runCli(["--help"]);
  assertEquals(top.code, 0);
  assertStringIncludes(top.stdout, "bench ADDR");
  const bad = await runCli(["connect", "127.0.0.1:1", "--framer", "len:5xx"]);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "plexus: unknown framer");
  assertEquals((await runCli(["nosuch"])).code, 2);
  assertEquals((await runCli(["bench", "127.0.0.1:1", "--duration", "11m"])).code, 2);
});
