import { assertEquals, assertStringIncludes } from "@std/assert";

Deno.test("the README's demo command runs every section and exits cleanly", async () => {
  // `deno task demo` exactly as the README gives it, with the task's own permissions.
  const root = new URL("../", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "demo"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assertEquals(code, 0, new TextDecoder().decode(stderr));
  for (
    const line of [
      'tcp: sent "hello over TCP" + EOF, got back "hello over TCP"',
      'ALPN "plexus-demo/1"',
      "starttls: upgraded to TLS mid-stream",
      "udp: echo on 127.0.0.1:",
      'server: chunk of 5 bytes "12345", back to lines',
      "tls: closed in order (ERQ, EOF both ways)",
      "udp: the reverser on port",
      'the server said "Echo back: hello tinyproto"',
    ]
  ) assertStringIncludes(out, line);
});
