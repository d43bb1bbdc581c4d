/** STARTTLS: plaintext left buffered when TLS starts is never joined with what comes encrypted (CVE-2011-0411). */

import { assertEquals } from "@std/assert";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { StreamTransport } from "@plexus/net/transport";
import { tls } from "../_net.ts";
import { bytes, text } from "../_shared.ts";

Deno.test("framed STARTTLS: plaintext pipelined after STARTTLS is not joined to what comes over TLS", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const frames: string[] = [];
  const afterUpgrade = Promise.withResolvers<void>();
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(line, framed) {
      frames.push(text(line));
      if (text(line) === "STARTTLS") {
        framed.sendFrame(bytes("220 ready"));
        framed.transport.startTls!({ serverSide: true, cert: tls.cert, key: tls.key });
      } else if (framed.transport.getExtraInfo("tls")) afterUpgrade.resolve();
    },
  });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = new StreamTransport(await accepted, server);
  // A man in the middle appends plaintext after the client's STARTTLS (one segment).
  await conn.write(bytes("STARTTLS\r\nRCPT TO:<attacker>\r\nINJ"));
  const buffer = new Uint8Array(64);
  const n = await conn.read(buffer);
  assertEquals(text(buffer.subarray(0, n!)), "220 ready\r\n");
  const secure = await Deno.startTls(conn, { caCerts: [tls.ca], hostname: "localhost" });
  await secure.write(bytes("secret\r\n"));
  // Whichever comes first: a frame read over TLS, or the server giving the connection up.
  await Promise.race([afterUpgrade.promise, transport.closed]);
  transport.abort();
  await transport.closed;
  secure.close();
  // Bug: frames is ["STARTTLS", "RCPT TO:<attacker>", "INJsecret"]: the plaintext tail
  // "INJ" read before the handshake is delivered glued to the first line read over TLS.
  assertEquals(frames.includes("INJsecret"), false, `plaintext spliced into TLS: ${frames}`);
});
