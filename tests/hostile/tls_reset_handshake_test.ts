/**
 * A TCP reset during a server-side STARTTLS handshake ends the transport as a reset (reason
 * "reset", the ConnectionReset as cause), as a reset after the handshake does: it read as the
 * peer hanging up, and server statistics misfiled such resets.
 */
import { assertEquals } from "@std/assert";
import { StreamTransport } from "@plexus/net/transport";
import { tls } from "../_net.ts";
import { Recorder } from "../_recorder.ts";
import { resetPeer } from "./_reset_peer.ts";

Deno.test("a TCP reset during a server-side STARTTLS handshake ends the transport as a reset", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // A ClientHello cut short, then the reset.
  const peer = resetPeer(listener.addr.port, [0x16, 3, 1, 2, 0, 1, 0, 1, 0xfc, 3, 3]);
  const transport = new StreamTransport(
    await listener.accept(),
    new Recorder({ onConnect: (t) => t.pauseReading() }),
  );
  transport.write(new Uint8Array([1])); // the go-ahead, in plaintext before the handshake
  const upgrade = transport.startTls({
    serverSide: true,
    cert: tls.cert,
    key: tls.key,
    handshakeTimeout: 5000,
  });
  const error = await upgrade.catch((e) => e);
  await transport.closed;
  await peer.status;
  assertEquals(
    [transport.stats().closeReason, error.cause instanceof Deno.errors.ConnectionReset],
    ["reset", true],
    String(error),
  );
});
