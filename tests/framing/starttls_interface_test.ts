/**
 * Issue 10, bug 7: `FramedProtocol.transport` offers `startTls` through the `Transport`
 * interface, so a STARTTLS server needs no cast to `StreamTransport` (this file does not
 * type-check without it).
 */

import { assertEquals } from "@std/assert";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { StreamTransport } from "@plexus/net/transport";
import { tls } from "../_net.ts";
import { bytes, text } from "../_shared.ts";

Deno.test("a framed STARTTLS server upgrades through framed.transport, without a cast", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const upgraded = Promise.withResolvers<void>();
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(line, framed) {
      if (text(line) !== "STARTTLS") return framed.sendFrame(line);
      framed.sendFrame(bytes("220 ready"));
      const transport = framed.transport; // the transport itself: call its methods on it
      if (!transport.startTls) throw new TypeError("This transport cannot upgrade to TLS");
      transport.startTls({ serverSide: true, cert: tls.cert, key: tls.key }).then(upgraded.resolve);
    },
  });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = new StreamTransport(await accepted, server);
  await conn.write(bytes("STARTTLS\r\n"));
  const buffer = new Uint8Array(64);
  const n = await conn.read(buffer);
  assertEquals(text(buffer.subarray(0, n!)), "220 ready\r\n");
  const secure = await Deno.startTls(conn, { caCerts: [tls.ca], hostname: "localhost" });
  await secure.write(bytes("secret\r\n"));
  let reply = "";
  while (!reply.endsWith("\r\n")) {
    const m = await secure.read(buffer);
    if (m === null) break;
    reply += text(buffer.subarray(0, m));
  }
  assertEquals(reply, "secret\r\n");
  await upgraded.promise;
  assertEquals(transport.getExtraInfo("tls"), true);
  transport.close();
  await transport.closed;
  secure.close();
});
