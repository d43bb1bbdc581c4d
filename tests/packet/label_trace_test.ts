import { assertEquals, assertRejects } from "@std/assert";
import { createConnection, createServer } from "@plexus/net/endpoints";
import {
  ConnectionClosedError,
  PacketConnection,
  type PacketTraceEvent,
  RemoteError,
} from "@plexus/net/packet";
import { text } from "../_shared.ts";

/** A server over TCP on 127.0.0.1 whose handler answers by rq_type, and a client to it. */
async function connect(clientOptions: ConstructorParameters<typeof PacketConnection>[0] = {}) {
  const server = await createServer(
    () =>
      new PacketConnection({
        requestHandler: (rqType, _flags, payload, { signal }) => {
          if (rqType === 0) return [5, `{"echo":"${text(payload)}"}`] as const;
          if (rqType === 1) throw new RemoteError(9, "nope");
          return new Promise((_, reject) =>
            signal.addEventListener("abort", () => reject(signal.reason))
          );
        },
      }),
    "127.0.0.1:0",
  );
  const { protocol: client } = await createConnection(
    () => new PacketConnection(clientOptions),
    server.addresses[0],
  );
  return { server, client };
}

Deno.test("submit() decodes an ok response with decode; a failure keeps its bytes", async () => {
  const { server, client } = await connect();
  await using _ = server;
  const ok = await client.submit(0, {
    payload: "hi",
    decode: (payload, flags) => ({ flags, value: JSON.parse(text(payload)) }),
  });
  assertEquals(ok, { ok: true, flags: 5, payload: { flags: 5, value: { echo: "hi" } } });
  const failed = await client.submit(1, { decode: () => "never called" });
  assertEquals(failed.ok, false);
  if (!failed.ok) assertEquals([failed.flags, text(failed.payload)], [9, "nope"]);
  await client.close();
});

Deno.test("labels name requests in RemoteError, timeouts and connection-closed errors", async () => {
  const { server, client } = await connect();
  await using _ = server;
  const remote = await assertRejects(
    () => client.call(1, "x", { label: "refuse me" }),
    RemoteError,
  );
  assertEquals(remote.label, "refuse me");
  assertEquals(
    remote.message,
    'Request "refuse me" (rq_type 1, channel 0, tag 2) failed: the peer answered not ok (flags 9, payload "nope")',
  );
  await assertRejects(
    () => client.submit(2, { label: "slow one", timeout: 20 }),
    DOMException,
    'Request "slow one" (rq_type 2) timed out after 20 ms',
  );
  const pending = client.submit(2, { label: "cut off" });
  const plain = client.submit(2);
  client.abort();
  await assertRejects(
    () => pending,
    ConnectionClosedError,
    'Request "cut off" (rq_type 2, channel 0, tag 4) failed',
  );
  await assertRejects(() => plain, ConnectionClosedError, "Request rq_type 2 (channel 0, tag 5)");
});

Deno.test("trace sees every packet both ways, with the connection's name and text", async () => {
  const events: PacketTraceEvent[] = [];
  const { server, client } = await connect({ name: "client-1", trace: (e) => events.push(e) });
  await using _ = server;
  assertEquals(client.name, "client-1");
  await client.call(0, "hi");
  await client.close();
  assertEquals(
    events.map((e) => [e.name, e.direction, e.packet.tag, e.packet.isRequest]),
    [
      ["client-1", "send", 2, true], // the request
      ["client-1", "receive", 2, false], // its response
      ["client-1", "send", 1, true], // ERQ
      ["client-1", "send", 0, true], // EOF
      ["client-1", "receive", 1, true], // the server's ERQ
      ["client-1", "receive", 0, true], // and EOF
    ],
  );
  assertEquals(events[0].text, events[0].packet.toString());
  assertEquals(
    events[0].text,
    "Packet(isRequest=true,channel=0,tag=2,rqType=1,flags=0x0,payload=6869)",
  );
  assertEquals(new PacketConnection().name, "PacketConnection");
});
