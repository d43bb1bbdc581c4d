/**
 * The framing part of `deno task demo`: a framed exchange on loopback in which both ends
 * switch framers mid-stream. The client sends the line `DATA 5`, switches its send framer to
 * a 5-byte chunk for the body and back to lines; the server's receive framer follows the same
 * switches, and answers in lines.
 *
 * @module
 */

import { ChunkFramer, FramedProtocol, LineFramer } from "@plexus/net/framing";
import { StreamTransport } from "@plexus/net/transport";

/** The largest body the demo server accepts after `DATA n`. */
const MAX_DATA = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The demo's server side: lines, and after `DATA n` (n up to 64 KiB) an n-byte chunk, then
 * lines again.
 *
 * @param log Where the server's lines go.
 * @returns The protocol for one connection.
 */
export function framingDemoServer(log: (line: string) => void): FramedProtocol {
  return new FramedProtocol(new LineFramer(), {
    frameReceived(frame, framed) {
      if (framed.receiveFramer instanceof ChunkFramer) {
        log(`server: chunk of ${frame.length} bytes "${decoder.decode(frame)}", back to lines`);
        framed.receiveFramer = new LineFramer();
        framed.sendFrame(encoder.encode(`250 got ${frame.length} bytes`));
        return;
      }
      const line = decoder.decode(frame);
      log(`server: line "${line}"`);
      const data = /^DATA (\d+)$/.exec(line);
      if (data && Number(data[1]) > MAX_DATA) {
        // The length comes from the peer: check it before anything is sized by it.
        framed.sendFrame(encoder.encode(`552 at most ${MAX_DATA} bytes`));
      } else if (data) {
        framed.receiveFramer = new ChunkFramer(Number(data[1]), { maxFrameLength: MAX_DATA });
        framed.sendFrame(encoder.encode("354 go ahead"));
      } else if (line === "QUIT") {
        framed.sendFrame(encoder.encode("221 bye"));
        framed.close();
      } else {
        framed.sendFrame(encoder.encode(`250 hello ${line.slice(5)}`));
      }
    },
  });
}

/**
 * Runs the framed exchange, logging each step; closes everything it opens.
 *
 * @param log Where the lines of the demo go.
 */
export async function framingDemo(log: (line: string) => void): Promise<void> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const server = framingDemoServer(log);

  const client = new FramedProtocol(new LineFramer(), {
    connectionMade(framed) {
      framed.sendFrame(encoder.encode("HELO demo"));
      framed.sendFrame(encoder.encode("DATA 5"));
      framed.sendFramer = new ChunkFramer(5);
      framed.sendFrame(encoder.encode("12345"));
      framed.sendFramer = new LineFramer();
      framed.sendFrame(encoder.encode("QUIT"));
    },
    frameReceived: (frame) => log(`client: reply "${decoder.decode(frame)}"`),
  });

  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const clientTransport = new StreamTransport(conn, client);
  const serverTransport = new StreamTransport(await accepted, server);
  const [serverError, clientError] = await Promise.all([
    serverTransport.closed,
    clientTransport.closed,
  ]);
  log(`framing demo done${serverError || clientError ? `: ${serverError ?? clientError}` : ""}`);
}

if (import.meta.main) await framingDemo(console.log);
