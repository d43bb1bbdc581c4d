import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { renderHistogram } from "../../cli/_histogram.ts";
import { Histogram } from "../../transport/_histogram.ts";
import { pythonEchoAfterEof, runCli } from "./_cli.ts";

Deno.test("connect exits with 1 when a stdin line cannot be sent (the framer refuses it)", async () => {
  const peer = pythonEchoAfterEof();
  const port = await peer.port;
  // A 1-byte length prefix cannot announce a 300-byte frame.
  const result = await runCli(
    ["connect", `127.0.0.1:${port}`, "--framer", "len:1"],
    "x".repeat(300) + "\n",
  );
  await peer.done;
  assertStringIncludes(result.stderr, "exceeds the 1-byte length field's maximum 255");
  assertEquals(result.code, 1);
});

Deno.test("--framer delim:\\xHH ends frames with the byte HH, not its UTF-8 form", async () => {
  const peer = pythonEchoAfterEof();
  const port = await peer.port;
  const result = await runCli(["connect", `127.0.0.1:${port}`, "--framer", "delim:\\xfe"], "hi\n");
  assertEquals(await peer.done, "6869fe");
  assertEquals(result.stdout, "hi\n");
  assertEquals(result.code, 0, result.stderr);
});

Deno.test("bench's histogram rows hold the latencies their labels name", () => {
  const h = new Histogram();
  for (let i = 0; i < 10; i++) h.record(1.5); // 1.5 ms: the 1.02 ms - 2.05 ms row
  h.record(0.0015); // 1.5 µs: the 1.0 µs - 2.0 µs row
  h.record(0.0004); // 0.4 µs: the row under 1 µs
  h.record(0.008); // 8 µs: the 8.0 µs - 16 µs row
  const rows = renderHistogram(h, 10);
  const row = (label: string) => rows.find((r) => r.trimStart().startsWith(label));
  assert(row("1.02 ms - 2.05 ms")?.endsWith(" 10"), rows.join("\n"));
  assert(row("1.0 µs - 2.0 µs")?.endsWith(" 1"), rows.join("\n"));
  assert(row("0.0 µs - 1.0 µs")?.endsWith(" 1"), rows.join("\n"));
  assert(row("8.0 µs - 16 µs")?.endsWith(" 1"), rows.join("\n"));
  assertEquals(rows.reduce((sum, r) => sum + Number(r.split(" ").at(-1)), 0), 13);
});

Deno.test("each command's help lists every flag once, and --udp only where it is taken", async () => {
  for (const command of ["connect", "listen", "rpc", "bench"]) {
    const { stdout, code } = await runCli([command, "--help"], "");
    assertEquals(code, 0);
    const flags = [...stdout.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);
    assertEquals(flags.length, new Set(flags).size, `${command}: ${flags.join(" ")}`);
    const takesUdp = command === "connect" || command === "listen";
    assertEquals(stdout.includes("--udp"), takesUdp, `${command} help and --udp`);
  }
});
