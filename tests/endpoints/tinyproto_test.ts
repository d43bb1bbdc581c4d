import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { TinyprotoClient, TinyprotoServer } from "@plexus/net/endpoints";
import { TransportError } from "@plexus/net/transport";
import { echoClient, EchoServer } from "../../examples/tinyproto/echo.ts";
import { ChatClient, ChatServer } from "../../examples/tinyproto/chat.ts";

Deno.test("tinyproto echo: replies in order, QUIT ends only its connection", async () => {
  const log: string[] = [];
  const server = new EchoServer((line) => log.push(line));
  const [address] = (await server.listen("127.0.0.1:0")) as Deno.NetAddr[];
  assertEquals(await echoClient(address, ["hello", "world", "QUIT"]), [
    "Echo back: hello",
    "Echo back: world",
  ]);
  assertEquals(await echoClient(address, ["still serving", "QUIT"]), [
    "Echo back: still serving",
  ]);
  assertEquals(log.filter((l) => l.startsWith("connection opened")).length, 2);
  await server.close();
  assertEquals(log.filter((l) => l.startsWith("connection closed")).length, 2);
});

Deno.test("tinyproto echo: SRVQUIT stops the server along with all its clients", async () => {
  const server = new EchoServer();
  const [address] = (await server.listen("127.0.0.1:0")) as Deno.NetAddr[];
  await using bystander = new TinyprotoClient(() => ({ transmissionReceived: () => {} }));
  const other = await bystander.connectTo(address);
  await echoClient(address, ["SRVQUIT"]);
  assertEquals(await other.closed, undefined, "the other client was closed too");
  await assertRejects(() => Deno.connect({ hostname: address.hostname, port: address.port }));
  // The server ends each connection the tinyproto way (EOF, then the peer's close), so its
  // side may end just after the client's: close() waits for the shutdown SRVQUIT began.
  await server.close();
  assertEquals(server.activeConnections.size, 0);
});

Deno.test("tinyproto server refuses connections over its limit with the fe status", async () => {
  await using server = new TinyprotoServer(() => ({ transmissionReceived: () => {} }), {
    connectionLimit: 1,
  });
  const [address] = await server.listen("127.0.0.1:0");
  await using client = new TinyprotoClient(() => ({ transmissionReceived: () => {} }));
  await client.connectTo(address);
  const error = await assertRejects(() => client.connectTo(address));
  assertStringIncludes(String(error), "fe");
  assertEquals(server.refusedConnections, 1);
  assertEquals(server.activeConnections.size, 1);
});

Deno.test("tinyproto client times out a handshake that never comes", async () => {
  using silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = silent.accept(); // accepts, then never answers the ff handshake
  const client = new TinyprotoClient(() => ({ transmissionReceived: () => {} }), {
    timeout: 50,
  });
  await assertRejects(
    () => client.connectTo(silent.addr),
    TransportError,
    "timed out after 50 ms",
  );
  assertEquals(client.activeConnections.size, 0);
  (await accepted).close();
});

Deno.test("tinyproto chat relays each message to everyone else", async () => {
  await using server = new ChatServer();
  const [address] = (await server.listen("127.0.0.1:0")) as Deno.NetAddr[];
  await using alice = new ChatClient();
  await using bob = new ChatClient();
  await alice.join(address);
  await bob.join(address);
  await alice.hear("**joined the chat");
  await alice.say("hello bob");
  await bob.hear("hello bob");
  await using carol = new ChatClient();
  await carol.join(address);
  await bob.say("hi both");
  await alice.hear("hi both");
  await carol.hear("hi both");
  assertEquals(bob.heard.filter((l) => l.endsWith("hi both")).length, 0, "not echoed to sender");
  await carol[Symbol.asyncDispose]();
  await alice.hear("**left the chat");
  await bob.hear("**left the chat");
  assertEquals(server.activeConnections.size, 2);
});
