/**
 * Issue 10, bug 6: `closeTimeout` reaches the connections of `TinyprotoServer` and
 * `TinyprotoClient`. The peers are separate Python processes that keep their sockets open and
 * say nothing more: without the option passed on, each connection below is held 30 s.
 */

import { assertEquals } from "@std/assert";
import { assertInstanceOf } from "../_assert.ts";
import { TinyprotoClient, TinyprotoServer } from "@plexus/net/endpoints";
import { type TinyprotoProtocol, TransmissionRejectedError } from "@plexus/net/framing";
import { within } from "../_shared.ts";

/** A Python process running `code`; stdin closing (or `kill()`) ends it. */
function python(code: string): Deno.ChildProcess {
  return new Deno.Command("python3", {
    args: ["-c", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** The first line the process prints. */
async function firstLine(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.trim();
}

/** Ends a Python peer started by {@linkcode python} and waits for it. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  await child.stdin.close();
  await child.stdout.cancel().catch(() => {});
  await child.status;
}

Deno.test("TinyprotoServer: closeTimeout ends a connection whose peer never closes", async () => {
  const ended = Promise.withResolvers<Error | undefined>();
  await using server = new TinyprotoServer(() => ({
    connectionStarted: (connection: TinyprotoProtocol) => connection.close(),
    connectionEnded: (error) => ended.resolve(error),
  }), { closeTimeout: 200 });
  const [address] = (await server.listen("127.0.0.1:0")) as Deno.NetAddr[];
  // An original tinyproto client: handshake (ff both ways), then silence, socket kept open.
  const peer = python(`import socket, sys
s = socket.create_connection(("127.0.0.1", ${address.port}))
s.sendall(b"\\xff")
assert s.recv(1) == b"\\xff"
print("ready", flush=True)
sys.stdin.read()  # hold the socket open until the test ends
`);
  assertEquals(await firstLine(peer), "ready");
  const error = await within(ended.promise, 3000, "the server's connection");
  assertInstanceOf(error, Error);
  assertEquals(error.message, "Cannot close tinyproto: the peer did not close within 200 ms");
  await stop(peer);
});

Deno.test("TinyprotoClient: closeTimeout ends a refused connection the server keeps open", async () => {
  // An original server over its connection limit answers fe and keeps the socket open.
  const peer = python(`import socket, sys
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
conn.sendall(b"\\xfe")
sys.stdin.read()
`);
  const port = Number(await firstLine(peer));
  const client = new TinyprotoClient(undefined, { closeTimeout: 200, timeout: 4000 });
  const error = await within(
    client.connectTo({ hostname: "127.0.0.1", port }).then(() => undefined, (e) => e),
    3000,
    "connectTo",
  );
  assertInstanceOf(error, TransmissionRejectedError);
  assertEquals(client.activeConnections.size, 0);
  await client.close();
  await stop(peer);
});
