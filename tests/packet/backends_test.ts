/** The same exchange over every kind of byte stream: TCP, TLS, Unix, memory, streams, stdio. */

import { assertEquals } from "@std/assert";
import { createConnection, createServer } from "@plexus/net/endpoints";
import { PacketConnection, type PacketConnectionOptions } from "@plexus/net/packet";
import { createMemoryTransportPair, StreamProtocol } from "@plexus/net/transport";
import { tcpPair, tls } from "../_net.ts";
import { text } from "./_helpers.ts";

/** Serves rq_type 0 by calling the client back (so requests cross both ways). */
const serverOptions: PacketConnectionOptions = {
  requestHandler: async (_t, _f, payload, { connection }) => {
    const name = text(await connection.call(0, "your name?"));
    return `${text(payload)} from ${name}`;
  },
};
const clientOptions: PacketConnectionOptions = { requestHandler: () => "client" };

/** A factory for the server side that also hands the connection to the test. */
function serverFactory(): { factory: () => PacketConnection; server: Promise<PacketConnection> } {
  const made = Promise.withResolvers<PacketConnection>();
  return {
    factory: () => {
      const connection = new PacketConnection(serverOptions);
      made.resolve(connection);
      return connection;
    },
    server: made.promise,
  };
}

/** Many calls both ways at once, then an orderly close from the client. */
async function exchange(client: PacketConnection, server: PacketConnection): Promise<void> {
  const calls = Array.from({ length: 50 }, (_, i) => client.call(0, `hello ${i}`).then(text));
  const back = Array.from({ length: 50 }, () => server.call(0).then(text));
  assertEquals(await Promise.all(calls), calls.map((_, i) => `hello ${i} from client`));
  assertEquals(await Promise.all(back), back.map(() => "client"));
  await client.close();
  assertEquals(await client.closed, undefined);
  assertEquals(await server.closed, undefined);
}

Deno.test("tcp: as a protocol under createServer / createConnection", async () => {
  const { factory, server } = serverFactory();
  await using listener = await createServer(factory, "127.0.0.1:0");
  const { protocol: client } = await createConnection(
    () => new PacketConnection(clientOptions),
    listener.addresses[0],
  );
  await exchange(client, await server);
});

Deno.test("tls: as a protocol under createServer / createConnection", async () => {
  const { factory, server } = serverFactory();
  await using listener = await createServer(factory, "127.0.0.1:0", {
    tls: { cert: tls.cert, key: tls.key },
  });
  const { protocol: client, transport } = await createConnection(
    () => new PacketConnection(clientOptions),
    listener.addresses[0],
    { tls: { caCerts: [tls.ca] } },
  );
  assertEquals(transport.getExtraInfo("tls"), true);
  await exchange(client, await server);
});

Deno.test("tls: over a Deno.TlsConn's streams", async () => {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key });
  const accepted = listener.accept();
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: listener.addr.port,
    caCerts: [tls.ca],
  });
  const peer = await accepted;
  const server = PacketConnection.fromStreams(peer, serverOptions);
  const client = PacketConnection.fromStreams(conn, clientOptions);
  await exchange(client, server);
  conn.close();
  peer.close();
  listener.close();
});

Deno.test("tcp: over a Deno.Conn's streams, which stay open afterwards", async () => {
  const [a, b] = await tcpPair();
  const server = PacketConnection.fromStreams(b, serverOptions);
  const client = PacketConnection.fromStreams(a, clientOptions);
  await exchange(client, server);
  // The conns were only borrowed: they still carry bytes.
  const writer = a.writable.getWriter();
  await writer.write(new TextEncoder().encode("still open"));
  writer.releaseLock();
  const reader = b.readable.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  assertEquals(text(value!), "still open");
  a.close();
  b.close();
});

Deno.test("tcp: closeStreams closes the borrowed streams", async () => {
  const [a, b] = await tcpPair();
  const server = PacketConnection.fromStreams(b, { ...serverOptions, closeStreams: true });
  const client = PacketConnection.fromStreams(a, { ...clientOptions, closeStreams: true });
  await exchange(client, server);
  // Deno closes a conn whose writable was closed; closing it again throws.
  let closedAlready = false;
  try {
    a.close();
  } catch {
    closedAlready = true;
  }
  assertEquals(closedAlready, true);
  try {
    b.close();
  } catch {
    // closed already
  }
});

Deno.test("unix: as a protocol and over a Deno.Conn's streams", async () => {
  const dir = await Deno.makeTempDir({ prefix: "plexus-packet-" });
  try {
    {
      const { factory, server } = serverFactory();
      await using listener = await createServer(factory, { path: `${dir}/a.sock` });
      const { protocol: client } = await createConnection(
        () => new PacketConnection(clientOptions),
        listener.addresses[0],
      );
      await exchange(client, await server);
    }
    const path = `${dir}/b.sock`;
    const listener = Deno.listen({ transport: "unix", path });
    const accepted = listener.accept();
    const conn = await Deno.connect({ transport: "unix", path });
    const peer = await accepted;
    await exchange(
      PacketConnection.fromStreams(conn, clientOptions),
      PacketConnection.fromStreams(peer, serverOptions),
    );
    conn.close();
    peer.close();
    listener.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("memory: over the in-memory transport pair, and over its Web Streams face", async () => {
  const server = new PacketConnection(serverOptions);
  const client = new PacketConnection(clientOptions);
  createMemoryTransportPair(server, client);
  await exchange(client, server);

  const a = new StreamProtocol();
  const b = new StreamProtocol();
  createMemoryTransportPair(a, b);
  await exchange(
    PacketConnection.fromStreams(a, clientOptions),
    PacketConnection.fromStreams(b, serverOptions),
  );
  a.transport!.close();
  await a.transport!.closed;
});

Deno.test("stdio: a child process's stdin and stdout, requests both ways", async () => {
  const script = new URL("../../examples/packet_peer.ts", import.meta.url);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", script.pathname],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const parent = PacketConnection.fromStreams(
    { readable: child.stdout, writable: child.stdin },
    { closeStreams: true, requestHandler: (_t, _f, payload) => `parent got "${text(payload)}"` },
  );
  const calls = Array.from({ length: 20 }, (_, i) => parent.call(0, `shout ${i}`).then(text));
  assertEquals(await Promise.all(calls), calls.map((_, i) => `SHOUT ${i}`));
  assertEquals(text(await parent.call(1)), 'parent said: parent got "from the child"');
  const failure = await parent.submit(7);
  assertEquals([failure.ok, failure.flags, text(failure.payload)], [false, 1, "no such rq_type"]);
  await parent.close();
  assertEquals(await parent.closed, undefined);
  const status = await child.status;
  assertEquals(status.code, 0);
});
