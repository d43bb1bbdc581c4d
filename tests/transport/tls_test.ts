import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import { createConnection, createServer } from "@plexus/net/endpoints";
import {
  StreamTransport,
  TlsHandshakeTimeoutError,
  type Transport,
  TransportError,
} from "@plexus/net/transport";
import { tcpPair, tls } from "../_net.ts";
import { Recorder } from "../_recorder.ts";
import { bytes } from "../_shared.ts";

const serverTls = { cert: tls.cert, key: tls.key };

Deno.test("TLS echo with ALPN negotiated on both sides", async () => {
  const servers: Recorder[] = [];
  await using server = await createServer(
    () => {
      const r = new Recorder({ onData: (data, r) => r.transport.write(data) });
      servers.push(r);
      return r;
    },
    "127.0.0.1:0",
    { tls: { ...serverTls, alpnProtocols: ["plexus/1", "h2"] } },
  );
  const { transport, protocol } = await createConnection(
    () => new Recorder(),
    server.addresses[0],
    {
      tls: { caCerts: [tls.ca], alpnProtocols: ["plexus/1"] },
    },
  );
  assertEquals(transport.getExtraInfo("tls"), true);
  assertEquals(transport.getExtraInfo("alpnProtocol"), "plexus/1");
  assertEquals(transport.getExtraInfo("serverHostname"), "127.0.0.1");
  transport.write(bytes("secret"));
  await protocol.until(() => protocol.text === "secret");
  const [serverTransport] = server.connections.keys();
  assertEquals(serverTransport.getExtraInfo("alpnProtocol"), "plexus/1");
  assertEquals(serverTransport.getExtraInfo("tls"), true);
  transport.writeEof();
  await transport.closed;
  assertEquals(protocol.events.at(-1), "connectionLost");
  assertEquals(servers[0].count("connectionLost"), 1);
});

Deno.test("TLS writeEof half-closes and the server still answers", async () => {
  await using server = await createServer(
    () =>
      new Recorder({
        keepOpenOnEof: true,
        onData: (_data, r) => r.transport.write(bytes("late answer")),
      }),
    "127.0.0.1:0",
    { tls: serverTls },
  );
  const { transport, protocol } = await createConnection(
    () => new Recorder({ keepOpenOnEof: true }),
    server.addresses[0],
    { tls: { caCerts: [tls.ca] } },
  );
  transport.write(bytes("q"));
  transport.writeEof();
  await protocol.until(() => protocol.text === "late answer");
  server.closeClients();
  await transport.closed;
  assertEquals(protocol.events.slice(-2), ["eof", "connectionLost"]);
});

Deno.test("TLS name mismatch rejects with an error that says so", async () => {
  await using server = await createServer(() => new Recorder(), "127.0.0.1:0", {
    tls: serverTls,
  });
  const error = await assertRejects(
    () =>
      createConnection(() => new Recorder(), server.addresses[0], {
        tls: { caCerts: [tls.ca] },
        serverHostname: "wrong.example",
      }),
    TransportError,
  );
  assertStringIncludes(error.message, "Cannot connect to 127.0.0.1:");
  assertStringIncludes(error.message, 'certificate not valid for name "wrong.example"');
});

Deno.test("TLS with an unknown CA rejects, and the server reports its failed handshake", async () => {
  const reported = Promise.withResolvers<Error>();
  await using server = await createServer(() => new Recorder(), "127.0.0.1:0", {
    tls: serverTls,
    onError: reported.resolve,
  });
  const error = await assertRejects(
    () => createConnection(() => new Recorder(), server.addresses[0], { tls: true }),
    TransportError,
  );
  assertStringIncludes(error.message, "UnknownIssuer");
  assertStringIncludes((await reported.promise).message, "TLS handshake with 127.0.0.1:");
});

Deno.test("a TLS handshake that never completes times out", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const silent = listener.accept(); // accepts, then never answers the ClientHello
  const error = await assertRejects(
    () =>
      createConnection(() => new Recorder(), listener.addr, {
        tls: { caCerts: [tls.ca], handshakeTimeout: 50 },
      }),
    TransportError,
  );
  // Typed, and naming the peer: a caller tells a silent TLS peer from other failures.
  assertInstanceOf(error, TlsHandshakeTimeoutError);
  assertEquals(
    error.message,
    `TLS handshake with 127.0.0.1:${listener.addr.port} timed out after 50 ms (handshakeTimeout)`,
  );
  (await silent).close();
});

/**
 * A line-based STARTTLS exchange: the client sends "STARTTLS", the server answers "GO" and
 * upgrades (server side, through node:tls); the client upgrades on "GO" (Deno.startTls).
 */
Deno.test("STARTTLS upgrades both sides mid-stream, and writes during the handshake wait", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const upgrades: Promise<void>[] = [];
  const server = new Recorder({
    onData: (data, r) => {
      const text = new TextDecoder().decode(data);
      if (text === "STARTTLS\n") {
        r.transport.write(bytes("GO\n"));
        upgrades.push(
          (r.transport as StreamTransport).startTls({ serverSide: true, ...serverTls }),
        );
        r.transport.write(bytes("encrypted hello\n")); // held until the handshake is done
      } else {
        r.transport.write(bytes(`echo ${text}`));
      }
    },
  });
  const client = new Recorder({
    onData: (data, r) => {
      if (new TextDecoder().decode(data) === "GO\n") {
        const t = r.transport as StreamTransport;
        upgrades.push(t.startTls({ caCerts: [tls.ca], serverHostname: "localhost" }));
        t.write(bytes("after upgrade\n"));
      }
    },
  });
  const st = new StreamTransport(serverConn, server);
  const ct = new StreamTransport(clientConn, client);
  ct.write(bytes("STARTTLS\n"));
  await client.until(() => client.text.endsWith("echo after upgrade\n"));
  await Promise.all(upgrades);
  assertEquals(client.text, "GO\nencrypted hello\necho after upgrade\n");
  assertEquals(ct.getExtraInfo("tls"), true);
  assertEquals(st.getExtraInfo("tls"), true);
  assertEquals(ct.getExtraInfo("serverHostname"), "localhost");
  assertThrows(() => ct.unwrapTls(), TransportError, "Cannot unwrap TLS");
  assertThrows(() => ct.startTls({}), TransportError, "already uses TLS");
  ct.writeEof();
  await ct.closed;
  await st.closed;
  assertEquals(client.count("connectionLost"), 1);
  assertEquals(server.count("connectionLost"), 1);
});

Deno.test("STARTTLS refuses to start while a read is in flight", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const ct = new StreamTransport(clientConn, new Recorder());
  const st = new StreamTransport(serverConn, new Recorder());
  // The read loop has issued its first read: the precondition fails at once, as a throw.
  assertThrows(() => ct.startTls({ caCerts: [tls.ca] }), TransportError, "read is in flight");
  assert(!ct.isClosing(), "the transport is still usable");
  ct.close();
  await ct.closed;
  await st.closed;
});

Deno.test("a failed STARTTLS handshake aborts the transport with the error", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const server = new Recorder({
    onData: (_data, r) => r.transport.write(bytes("not TLS at all\n")),
  });
  const client = new Recorder({ onConnect: (t) => t.pauseReading() });
  const st = new StreamTransport(serverConn, server);
  const ct = new StreamTransport(clientConn, client);
  const upgrade = ct.startTls({ caCerts: [tls.ca], handshakeTimeout: 5000 });
  const error = await assertRejects(() => upgrade, TransportError);
  assertStringIncludes(error.message, "TLS");
  assertEquals(await ct.closed, error);
  assertEquals(client.count("connectionLost"), 1);
  await st.closed;
});

Deno.test("a failed STARTTLS called and not awaited from dataReceived does not crash", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const server = new Recorder({
    onData: (_data, r) => r.transport.write(bytes("not TLS at all\n")),
  });
  const client = new Recorder({
    onData: () => {},
    onConnect: (t) => {
      // Fire and forget, as from dataReceived(): the failure goes to connectionLost().
      (t as StreamTransport).startTls({ caCerts: [tls.ca] });
    },
  });
  const st = new StreamTransport(serverConn, server);
  const ct = new StreamTransport(clientConn, client);
  const error = await ct.closed;
  assertStringIncludes(String(error), "TLS");
  await st.closed;
});

Deno.test("a peer hanging up during a server-side STARTTLS handshake fails it at once", async () => {
  const [clientConn, serverConn] = await tcpPair();
  // Paused before the first read, so no read is in flight and the upgrade may start.
  const server = new Recorder({ onConnect: (t) => t.pauseReading() });
  const st = new StreamTransport(serverConn, server);
  // The default 60 s handshake timeout must not be what ends this.
  const upgrade = st.startTls({ serverSide: true, ...serverTls });
  clientConn.close();
  const error = await assertRejects(() => upgrade, TransportError);
  assertStringIncludes(error.message, "closed by the peer during the TLS handshake");
  assertEquals(await st.closed, error);
});

Deno.test("close() during a TLS upgrade gives it up without an error", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const client = new Recorder({ onConnect: (t) => t.pauseReading() });
  const ct = new StreamTransport(clientConn, client);
  const st = new StreamTransport(serverConn, new Recorder()); // never answers the handshake
  const upgrade = ct.startTls({ caCerts: [tls.ca] });
  ct.write(bytes("held for after the handshake"));
  ct.close();
  await assertRejects(() => upgrade, TransportError, "the transport closed");
  assertEquals(await ct.closed, undefined);
  assertEquals(client.count("connectionLost"), 1);
  st.close();
  await st.closed;
});

// ---- SNI, TLS version, ALPN null, close_notify ---------------------------------------------

const fixtures = new URL("../fixtures/", import.meta.url);
/** A leaf for `other.example`, signed by its own CA (tests/fixtures/other*). */
const other = {
  ca: Deno.readTextFileSync(new URL("other_ca.pem", fixtures)),
  cert: Deno.readTextFileSync(new URL("other.pem", fixtures)),
  key: Deno.readTextFileSync(new URL("other.key", fixtures)),
};

/** Server-side transports as the server makes them, found by the client's local port. */
class Accepted {
  readonly #byPort = new Map<number, PromiseWithResolvers<Transport>>();
  #slot(port: number): PromiseWithResolvers<Transport> {
    let slot = this.#byPort.get(port);
    if (!slot) this.#byPort.set(port, slot = Promise.withResolvers());
    return slot;
  }
  readonly factory = (): Recorder =>
    new Recorder({
      onConnect: (t) => this.#slot((t.getExtraInfo("peername") as Deno.NetAddr).port).resolve(t),
    });
  /** The server side of `client`. */
  of(client: Transport): Promise<Transport> {
    return this.#slot((client.getExtraInfo("sockname") as Deno.NetAddr).port).promise;
  }
}

Deno.test("a TLS listener serves the certificate of the SNI name and reports name and version", async () => {
  const accepted = new Accepted();
  await using server = await createServer(accepted.factory, "127.0.0.1:0", {
    tls: { ...serverTls, sni: { "other.example": { cert: other.cert, key: other.key } } },
  });
  const address = server.addresses[0];
  const connect = (caCerts: string[], serverHostname?: string) =>
    createConnection(() => new Recorder(), address, { tls: { caCerts }, serverHostname });
  // Trusted only through its own CA: the handshake proves which certificate was served.
  const named = await connect([other.ca], "other.example");
  const fallback = await connect([tls.ca], "localhost");
  const noName = await connect([tls.ca]); // an IP address: no SNI is sent
  const namedServer = await accepted.of(named.transport);
  assertEquals(namedServer.getExtraInfo("serverName"), "other.example");
  assertEquals(namedServer.getExtraInfo("tlsVersion"), "TLSv1.3");
  assertEquals((await accepted.of(fallback.transport)).getExtraInfo("serverName"), "localhost");
  assertEquals((await accepted.of(noName.transport)).getExtraInfo("serverName"), null);
  await assertRejects(() => connect([tls.ca], "other.example"), TransportError, "UnknownIssuer");
  for (const { transport } of [named, fallback, noName]) {
    transport.close();
    await transport.closed;
  }
});

Deno.test("an SNI wildcard matches one label, and server-side STARTTLS reports the SNI name", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const server = new Recorder({ onConnect: (t) => t.pauseReading() });
  const st = new StreamTransport(serverConn, server);
  const ct = new StreamTransport(clientConn, new Recorder({ onConnect: (t) => t.pauseReading() }));
  await Promise.all([
    st.startTls({
      serverSide: true,
      ...serverTls,
      sni: { "*.EXAMPLE": { cert: other.cert, key: other.key } },
    }),
    ct.startTls({ caCerts: [other.ca], serverHostname: "other.example" }),
  ]);
  assertEquals(st.getExtraInfo("serverName"), "other.example");
  assertEquals(st.getExtraInfo("tlsVersion"), "TLSv1.3");
  ct.close();
  st.close(); // reading is paused: it would not see the EOF
  await Promise.all([ct.closed, st.closed]);
});

Deno.test("a TLS listener with a certificate it cannot load fails to listen, naming it", async () => {
  const error = await assertRejects(
    () =>
      createServer(() => new Recorder(), "127.0.0.1:0", {
        tls: { ...serverTls, sni: { "bad.example": { cert: "not a PEM", key: tls.key } } },
      }),
    TransportError,
  );
  assertStringIncludes(error.message, "Cannot listen on 127.0.0.1:0");
  assertStringIncludes(error.message, 'the certificate for "bad.example"');
});

Deno.test("alpnProtocol is null, not undefined, when no protocol was negotiated", async () => {
  const accepted = new Accepted();
  await using server = await createServer(accepted.factory, "127.0.0.1:0", { tls: serverTls });
  const { transport } = await createConnection(() => new Recorder(), server.addresses[0], {
    tls: { caCerts: [tls.ca] },
  });
  const serverTransport = await accepted.of(transport);
  for (const t of [transport, serverTransport]) {
    assertEquals(t.getExtraInfo("alpnProtocol"), null);
    assertEquals(t.getExtraInfo("alpnProtocol", "fallback"), null);
  }
  assertEquals(transport.getExtraInfo("tlsVersion", "unknown"), "unknown"); // Deno.connectTls
  transport.close();
  await transport.closed;
});

/**
 * A strict TLS client (Python's `ssl` with `suppress_ragged_eofs=False`): optionally asks for
 * STARTTLS in plaintext first, sends "hello", reads until EOF and prints whether the stream
 * ended with a close_notify ("clean") or was cut ("truncated").
 */
const STRICT_CLIENT = `
import socket, ssl, sys
port, ca, starttls = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "starttls"
raw = socket.create_connection(("127.0.0.1", port))
if starttls:
    raw.sendall(b"STARTTLS\\n")
    line = b""
    while not line.endswith(b"\\n"):
        line += raw.recv(1)
context = ssl.create_default_context(cafile=ca)
s = context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
s.sendall(b"hello\\n")
received = 0
try:
    while True:
        data = s.recv(65536)
        if not data:
            break
        received += len(data)
    print("clean", received)
except ssl.SSLEOFError as error:
    print("truncated", received, error)
`;

async function strictClient(port: number, starttls: boolean): Promise<string> {
  const output = await new Deno.Command("python3", {
    args: [
      "-c",
      STRICT_CLIENT,
      String(port),
      new URL("ca.pem", fixtures).pathname,
      String(
        starttls ? "starttls" : "tls",
      ),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout).trim() ||
    new TextDecoder().decode(output.stderr);
}

/** What the servers answer before closing: enough to span many TLS records. */
const REPLY = new Uint8Array(300 * 1024).fill(0x61);

Deno.test("close() on a TLS listener connection ends with close_notify (a strict client sees a clean EOF)", async () => {
  await using server = await createServer(
    () =>
      new Recorder({
        onData: (_data, r) => {
          r.transport.write(REPLY);
          r.transport.close();
        },
      }),
    "127.0.0.1:0",
    { tls: serverTls },
  );
  const port = (server.addresses[0] as Deno.NetAddr).port;
  assertEquals(await strictClient(port, false), `clean ${REPLY.byteLength}`);
});

Deno.test("close() after a server-side STARTTLS ends with close_notify (issue 10.2)", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = strictClient(listener.addr.port, true);
  const conn = await listener.accept();
  const server = new Recorder({
    onData: (data, r) => {
      const t = r.transport as StreamTransport;
      if (new TextDecoder().decode(data) === "STARTTLS\n") {
        t.write(bytes("GO\n"));
        t.startTls({ serverSide: true, ...serverTls });
      } else {
        t.write(REPLY);
        t.close();
      }
    },
  });
  const transport = new StreamTransport(conn, server);
  assertEquals(await client, `clean ${REPLY.byteLength}`);
  assertEquals(await transport.closed, undefined);
});

Deno.test("startTls() against a silent peer times out with a typed error naming the peer", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const client = new StreamTransport(
    clientConn,
    new Recorder({ onConnect: (t) => t.pauseReading() }),
  );
  const upgrade = client.startTls!({
    caCerts: [tls.ca],
    serverHostname: "localhost",
    handshakeTimeout: 50,
  });
  const error = await assertRejects(() => upgrade, TlsHandshakeTimeoutError);
  assertStringIncludes(error.message, `TLS handshake with 127.0.0.1:`);
  serverConn.close();
  await client.closed;
});
