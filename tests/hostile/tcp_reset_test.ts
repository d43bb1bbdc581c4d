/**
 * Issue 10, bug 8 (docs): what a TCP reset from the peer does to a transport on Deno 2.9.6 —
 * the read fails with `ConnectionReset` (not an ordinary end of stream), and the transport ends
 * with a `TransportError` caused by it. The peer is a separate Python process that resets
 * (`SO_LINGER` 0) right after connecting.
 */

import { assertEquals } from "@std/assert";
import { assertInstanceOf } from "../_assert.ts";
import { StreamTransport, TransportError } from "@plexus/net/transport";
import { Recorder } from "../_recorder.ts";
import { tls } from "../_net.ts";
import { resetPeer } from "./_reset_peer.ts";

Deno.test("a TCP reset from the peer ends the transport with ConnectionReset, not EOF", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peer = resetPeer(listener.addr.port);
  const recorder = new Recorder({ keepOpenOnEof: true });
  const transport = new StreamTransport(await listener.accept(), recorder);
  transport.write(new Uint8Array([1]));
  const error = await transport.closed;
  assertInstanceOf(error, TransportError);
  assertInstanceOf(error.cause, Deno.errors.ConnectionReset);
  assertEquals(recorder.events.includes("eof"), false, "a reset is not an end of stream");
  assertEquals((await peer.status).success, true);
});

Deno.test("a TCP reset after a server-side STARTTLS ends the transport with ConnectionReset, not EOF", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fixtures = new URL("../fixtures/", import.meta.url);
  const peer = new Deno.Command("python3", {
    args: [
      "-c",
      `import socket, ssl, struct, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
s.sendall(b"hello")
s.recv(1)  # our go-ahead, so the reset meets a read in flight
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()  # no close_notify, then RST`,
      String(listener.addr.port),
      new URL("ca.pem", fixtures).pathname,
    ],
    stdout: "null",
  }).spawn();
  const recorder = new Recorder({
    keepOpenOnEof: true,
    onConnect: (t) => t.pauseReading(),
    onData: (_data, r) => r.transport.write(new Uint8Array([1])),
  });
  const transport = new StreamTransport(await listener.accept(), recorder);
  await transport.startTls({ serverSide: true, cert: tls.cert, key: tls.key });
  transport.resumeReading();
  const error = await transport.closed;
  assertInstanceOf(error, TransportError);
  assertInstanceOf(error.cause, Deno.errors.ConnectionReset);
  assertEquals(recorder.events.includes("eof"), false, "a reset is not an end of stream");
  assertEquals((await peer.status).success, true);
});
