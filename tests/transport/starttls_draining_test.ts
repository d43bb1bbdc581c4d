/**
 * A STARTTLS command delivered from the buffered frames after resumeReading() (the "draining"
 * pass) leaves the transport paused for good once the upgrade is done: the frames that come
 * over TLS are never read.
 */
import { assertEquals } from "@std/assert";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { StreamTransport } from "@plexus/net/transport";
import { tls } from "../_net.ts";
import { bytes, text } from "../_shared.ts";

Deno.test("STARTTLS delivered by the pass after resumeReading: TLS frames still arrive", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const frames: string[] = [];
  const got = Promise.withResolvers<void>();
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived(line, framed) {
      const cmd = text(line);
      frames.push(cmd);
      if (cmd === "NOOP") {
        // handled asynchronously: reading paused meanwhile (the usual back-pressure pattern)
        framed.pauseReading();
        setTimeout(() => {
          framed.sendFrame(bytes("250 ok NOOP"));
          framed.resumeReading();
        }, 0);
      } else if (cmd === "STARTTLS") {
        framed.sendFrame(bytes("220 ready"));
        framed.transport.startTls!({ serverSide: true, cert: tls.cert, key: tls.key }).catch(
          () => {},
        );
      } else {
        framed.sendFrame(bytes(`250 ok ${cmd}`));
        got.resolve();
      }
    },
  });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = new StreamTransport(await accepted, server);
  // PIPELINING: STARTTLS may be the last command of a group (RFC 3207).
  await conn.write(bytes("NOOP\r\nSTARTTLS\r\n"));
  let seen = "";
  const buffer = new Uint8Array(64);
  while (!seen.includes("220 ready\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) break;
    seen += text(buffer.subarray(0, n));
  }
  assertEquals(seen, "250 ok NOOP\r\n220 ready\r\n");
  const secure = await Deno.startTls(conn, { caCerts: [tls.ca], hostname: "localhost" });
  await secure.write(bytes("MAIL FROM:<me>\r\n"));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    got.promise.then(() => "delivered"),
    new Promise<string>((r) => timer = setTimeout(() => r("stalled"), 2000)),
  ]);
  clearTimeout(timer);
  transport.abort();
  await transport.closed;
  secure.close();
  assertEquals(outcome, "delivered");
  assertEquals(frames, ["NOOP", "STARTTLS", "MAIL FROM:<me>"]);
});
