/** STARTTLS: plaintext left buffered when TLS starts is never joined with what comes encrypted (CVE-2011-0411). */

import { assertEquals } from "@std/assert";
import { FramedProtocol, LineFramer, MessageProtocol } from "@plexus/net/framing";
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

/**
 * A MessageProtocol SMTP-like server on a real socket (STARTTLS upgrades; the handler awaits
 * the handshake), and a client that sends `plaintext`, reads the `220` and upgrades.
 */
async function messageStartTls(plaintext: string) {
  const handled: string[] = [];
  const afterUpgrade = Promise.withResolvers<void>();
  const server = new MessageProtocol<Uint8Array>({
    decoder: new LineFramer(),
    messageHandler: async (line, transport) => {
      const command = text(line);
      const secure = transport.getExtraInfo("tls") === true;
      handled.push(`${command} (tls ${secure})`);
      if (command === "STARTTLS") {
        transport.write(bytes("220 ready\r\n"));
        await transport.startTls!({ serverSide: true, cert: tls.cert, key: tls.key });
      } else if (secure) {
        transport.write(bytes("250 ok\r\n"));
        afterUpgrade.resolve();
      }
    },
  });
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = new StreamTransport(await accepted, server);
  await conn.write(bytes(plaintext));
  const buffer = new Uint8Array(64);
  const n = await conn.read(buffer);
  assertEquals(text(buffer.subarray(0, n!)), "220 ready\r\n");
  const secure = await Deno.startTls(conn, { caCerts: [tls.ca], hostname: "localhost" });
  return { handled, afterUpgrade, server, transport, secure };
}

Deno.test("message STARTTLS: a command queued in plaintext behind STARTTLS is never handled", async () => {
  // A man in the middle appends a command after the client's STARTTLS (one segment): both
  // are decoded into the queue before the handler sees the first.
  const { handled, afterUpgrade, server, transport, secure } = await messageStartTls(
    "STARTTLS\r\nRCPT TO:<attacker>\r\n",
  );
  await secure.write(bytes("MAIL FROM:<user>\r\n")).catch(() => {});
  const outcome = await Promise.race([afterUpgrade.promise.then(() => "handled"), server.closed]);
  transport.abort();
  await transport.closed;
  secure.close();
  // Bug: handled was ["STARTTLS (tls false)", "RCPT TO:<attacker> (tls true)", ...].
  assertEquals(handled, ["STARTTLS (tls false)"]);
  assertEquals(
    (outcome as Error | undefined)?.message,
    "Plaintext received after STARTTLS, before the TLS handshake",
  );
});

Deno.test("message STARTTLS: commands that come over TLS after the upgrade are handled", async () => {
  const { handled, afterUpgrade, transport, secure } = await messageStartTls("STARTTLS\r\n");
  // Sent at once after the handshake: it may be decoded before the handler's await returns.
  await secure.write(bytes("EHLO a\r\nMAIL FROM:<user>\r\n"));
  await afterUpgrade.promise;
  const buffer = new Uint8Array(64);
  const m = await secure.read(buffer);
  assertEquals(text(buffer.subarray(0, m!)).startsWith("250 ok\r\n"), true);
  transport.close();
  await transport.closed;
  secure.close();
  assertEquals(handled.slice(0, 2), ["STARTTLS (tls false)", "EHLO a (tls true)"]);
});
