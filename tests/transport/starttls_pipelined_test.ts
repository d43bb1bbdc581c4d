/**
 * STARTTLS command injection (CVE-2011-0411): a command pipelined in plaintext after the one
 * that began the upgrade is never handled, and its reply never goes out over TLS; the
 * plaintext left over aborts the connection at the first read over TLS.
 */
import { assertEquals } from "@std/assert";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { StreamTransport } from "@plexus/net/transport";
import { tls } from "../_net.ts";
import { bytes, text } from "../_shared.ts";

Deno.test("a plaintext command pipelined after STARTTLS is not executed", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const frames: string[] = [];
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(line, framed) {
      frames.push(text(line));
      if (text(line) === "STARTTLS") {
        framed.sendFrame(bytes("220 ready"));
        framed.transport.startTls!({ serverSide: true, cert: tls.cert, key: tls.key }).catch(
          () => {},
        );
      } else framed.sendFrame(bytes(`250 ok ${text(line)}`));
    },
  });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = new StreamTransport(await accepted, server);
  await conn.write(bytes("STARTTLS\r\nRCPT TO:<attacker>\r\n")); // a MITM-appended command
  const buffer = new Uint8Array(64);
  const n = await conn.read(buffer);
  assertEquals(text(buffer.subarray(0, n!)), "220 ready\r\n");
  const secure = await Deno.startTls(conn, { caCerts: [tls.ca], hostname: "localhost" });
  await secure.write(bytes("MAIL FROM:<me>\r\n"));
  const got = await secure.read(buffer).catch(() => null);
  transport.abort(); // aborted already by the guard: this only keeps a regression from hanging
  await transport.closed;
  secure.close();
  assertEquals(frames, ["STARTTLS"]);
  assertEquals(got, null, "nothing answered over TLS: the connection was aborted");
});
