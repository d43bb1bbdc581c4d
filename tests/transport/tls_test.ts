import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { assert } from "../_assert.ts";
import { createConnection, createServer } from "@plexus/net/endpoints";
import { StreamTransport, TransportError } from "@plexus/net/transport";
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
  assertStringIncludes(error.message, "TLS handshake timed out after 50 ms");
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
