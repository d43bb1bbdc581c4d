/**
 * The tinyproto examples run the way their headers say (`deno run --allow-net=127.0.0.1
 * examples/tinyproto/<name>.ts client PORT`, lines from stdin), against servers in this process.
 */

import { assertEquals } from "@std/assert";
import { EchoServer } from "../../examples/tinyproto/echo.ts";
import { ChatClient, ChatServer } from "../../examples/tinyproto/chat.ts";

const root = new URL("../../", import.meta.url).pathname;
const encoder = new TextEncoder();

function spawnClient(example: string, port: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-net=127.0.0.1", `examples/tinyproto/${example}.ts`, "client"]
      .concat(String(port)),
    cwd: root,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

Deno.test("tinyproto echo client: stdin ending without QUIT ends the client, last unterminated line included", async () => {
  const server = new EchoServer();
  const [address] = (await server.listen("127.0.0.1:0")) as Deno.NetAddr[];
  const child = spawnClient("echo", address.port);
  const writer = child.stdin.getWriter();
  await writer.write(encoder.encode("hello\nlast"));
  await writer.close();
  // A guard, not a wait for an event: the client used to wait for the server to close for ever.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((resolve) => timer = setTimeout(() => resolve("hung"), 10_000));
  const output = child.output();
  const result = await Promise.race([output, hung]);
  clearTimeout(timer);
  if (result === "hung") {
    child.kill();
    await output;
    await server.close();
    throw new Error("the echo client did not end after its stdin did");
  }
  assertEquals(new TextDecoder().decode(result.stdout), "Echo back: hello\nEcho back: last\n");
  assertEquals(result.code, 0);
  await server.close();
});

Deno.test("tinyproto chat client: a line read from stdin in two chunks is one message", async () => {
  await using server = new ChatServer();
  const [address] = (await server.listen("127.0.0.1:0")) as Deno.NetAddr[];
  await using listener = new ChatClient();
  await listener.join(address);
  const child = spawnClient("chat", address.port);
  const writer = child.stdin.getWriter();
  // One pipe write: the child reads "first\nhel" as one chunk, and "lo\n" only after "first".
  await writer.write(encoder.encode("first\nhel"));
  await listener.hear("] first");
  await writer.write(encoder.encode("lo\n"));
  await writer.close();
  await listener.hear("**left the chat");
  const said = listener.heard.map((line) => line.slice(line.indexOf("]") + 2));
  assertEquals(said, ["**joined the chat", "first", "hello", "**left the chat"]);
  assertEquals((await child.output()).code, 0);
});
