import { assertEquals, assertRejects } from "@std/assert";
import { TinyprotoClient, TinyprotoServer } from "@plexus/net/endpoints";
import type { TinyprotoProtocol } from "@plexus/net/framing";
import { TransportError } from "@plexus/net/transport";
import { bytes, text } from "../_shared.ts";

Deno.test("tinyproto connInit sees the peer's address through getExtraInfo", async () => {
  const seen = Promise.withResolvers<Deno.NetAddr>();
  class Server extends TinyprotoServer {
    override connInit(_id: string, connection: TinyprotoProtocol): void {
      seen.resolve(connection.getExtraInfo("peername") as Deno.NetAddr);
    }
  }
  await using server = new Server(() => ({}));
  const [address] = await server.listen("127.0.0.1:0");
  await using client = new TinyprotoClient();
  const connection = await client.connectTo(address);
  const local = connection.getExtraInfo("sockname") as Deno.NetAddr;
  const peer = await seen.promise;
  assertEquals([peer.hostname, peer.port], [local.hostname, local.port]);
  assertEquals(connection.transport?.getExtraInfo("peername"), address);
});

Deno.test("tinyproto receive() pulls messages in order; request() pairs replies", async () => {
  // The server pulls: no transmissionReceived; it answers each message reversed.
  await using server = new TinyprotoServer(() => ({
    connectionStarted: async (connection) => {
      try {
        for (;;) {
          const message = await connection.receive();
          await connection.send(message.slice().reverse());
        }
      } catch {
        // the connection ended
      }
    },
  }));
  const [address] = await server.listen("127.0.0.1:0");
  await using client = new TinyprotoClient();
  const connection = await client.connectTo(address);
  assertEquals(text(await connection.request(bytes("abc"))), "cba");
  // Pipelined: a Plexus peer answers in order, so the replies pair up.
  const replies = await Promise.all(
    ["one", "two", "three"].map((m) => connection.request(bytes(m))),
  );
  assertEquals(replies.map(text), ["eno", "owt", "eerht"]);
  assertEquals(text(await connection.request(new Uint8Array(0))), "");
});

Deno.test("tinyproto receive() without a taker holds the 17th message back, reading on", async () => {
  const accepted = Promise.withResolvers<TinyprotoProtocol>();
  await using server = new TinyprotoServer(() => ({
    connectionStarted: (connection) => accepted.resolve(connection),
  }));
  const [address] = await server.listen("127.0.0.1:0");
  await using client = new TinyprotoClient();
  const connection = await client.connectTo(address);
  const sends = Array.from({ length: 40 }, (_, i) => connection.send(bytes(`m${i}`)));
  const settled: boolean[] = [];
  sends.forEach((sent, i) => sent.then(() => settled[i] = true, () => {}));
  const receiving = await accepted.promise;
  await Promise.all(sends.slice(0, 16)); // 16 wait in the server's inbox; the 17th is held
  // The server still reads: its own message gets the client's ff and goes out, after the held
  // ff (the client reads our answers in the order it asked): that lets the 17th in.
  await receiving.send(bytes("still reading"));
  assertEquals(text(await connection.receive()), "still reading");
  await sends[16];
  assertEquals(settled[17], undefined, "the 18th is held: 17 wait");
  assertEquals(receiving.transport?.isReading(), true);
  const received: string[] = [];
  for (let i = 0; i < 40; i++) received.push(text(await receiving.receive()));
  await Promise.all(sends);
  assertEquals(received, Array.from({ length: 40 }, (_, i) => `m${i}`));
});

Deno.test("tinyproto receive() and request() reject when the connection ends", async () => {
  await using server = new TinyprotoServer(() => ({
    transmissionReceived: (_message, connection) => connection.close(), // never answers
  }));
  const [address] = await server.listen("127.0.0.1:0");
  await using client = new TinyprotoClient();
  const connection = await client.connectTo(address);
  const waiting = connection.receive();
  await assertRejects(() => connection.request(bytes("hello?")), TransportError);
  await assertRejects(() => waiting, TransportError);
  await assertRejects(() => connection.receive(), TransportError, "ending");
});

Deno.test("tinyproto request() against an original-style peer that answers one at a time", async () => {
  // A tinyproto 2.0.1 server loop in Python: handshake, then per message: size, ff, payload;
  // it answers each with the payload upper-cased, and waits for our ff before its payload.
  const peer = new Deno.Command("python3", {
    args: [
      "-c",
      `import socket, struct
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
def recv(n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise SystemExit(0)
        data += chunk
    return data
conn.sendall(b"\\xff")
assert recv(1) == b"\\xff"
while True:
    size = struct.unpack(">I", recv(4))[0]
    conn.sendall(b"\\xff")
    payload = recv(size)
    reply = payload.upper()
    conn.sendall(struct.pack(">I", len(reply)))
    assert recv(1) == b"\\xff"
    conn.sendall(reply)
`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = peer.stdout.getReader();
  let line = "";
  while (!line.includes("\n")) line += text((await reader.read()).value ?? new Uint8Array(0));
  reader.releaseLock();
  await using client = new TinyprotoClient(undefined, { closeTimeout: 2000 });
  const connection = await client.connectTo({ hostname: "127.0.0.1", port: Number(line) });
  for (const word of ["first", "second", "third"]) {
    assertEquals(text(await connection.request(bytes(word))), word.toUpperCase());
  }
  connection.close();
  await connection.closed;
  await peer.stdout.cancel();
  await peer.status;
});
