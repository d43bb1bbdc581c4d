/**
 * `connect` with the default line framer passes lines as long as stdin's (up to 16 MiB) both
 * ways (the socket side refused lines over the library's 64 KiB default), and a session's
 * memory does not grow with the number of stdin lines.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { Cli, runCli } from "./_cli.ts";

const encode = (s: string) => new TextEncoder().encode(s);
const root = new URL("../../", import.meta.url);

Deno.test("connect: a 100 KB stdin line is sent", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const cli = new Cli(["connect", `127.0.0.1:${listener.addr.port}`]);
  const conn = await listener.accept();
  listener.close();
  await cli.write("a".repeat(100_000) + "\n");
  await cli.closeStdin();
  const got = await new Response(conn.readable).text();
  const code = await cli.exit();
  assertEquals(cli.stderr, "");
  assertEquals(got.length, 100_001);
  assertEquals(code, 0);
});

Deno.test("connect: a received line over 64 KiB is printed, not a failed connection", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const cli = new Cli(["connect", `127.0.0.1:${listener.addr.port}`]);
  const conn = await listener.accept();
  listener.close();
  const data = encode("z".repeat(100_000) + "\n");
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
  conn.close();
  const code = await cli.exit();
  assertEquals(cli.stderr, "");
  assertEquals(cli.stdout.length, 100_001);
  assertEquals(code, 0);
});

Deno.test("a session's memory does not grow with the number of stdin lines", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--v8-flags=--expose-gc", "tests/cli/_session_probe.ts"],
    cwd: root,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const chunk = encode("x\n".repeat(10_000));
  for (let i = 0; i < 20; i++) await writer.write(chunk); // 200 000 lines
  await writer.close();
  const { stderr } = await child.output();
  const report = new TextDecoder().decode(stderr);
  const mb = Number(/heapUsedMB=([\d.]+)/.exec(report)![1]);
  // It held 146 MB: a reaction on the connection's `closed` per line.
  assert(mb < 40, report);
});

Deno.test("bench: requests cut off after the drain grace are not blamed on the server closing", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 }); // accepts, never answers
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) conns.push(conn);
  })().catch(() => {});
  try {
    const result = await runCli([
      "bench",
      `127.0.0.1:${listener.addr.port}`,
      "--duration",
      "50ms",
      "-q",
      "-d",
      "3",
    ]);
    assertEquals(result.code, 1);
    assertMatch(result.stdout, /first error: 3 requests unanswered 2000 ms after the run/);
  } finally {
    listener.close();
    await accepting;
    for (const conn of conns) conn.close();
  }
});
