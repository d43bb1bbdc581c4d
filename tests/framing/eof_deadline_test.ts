/** After the peer's EOF, the frame deadlines are over: what is left waits on us, not the peer. */

import { assertEquals } from "@std/assert";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { createMemoryTransportPair, type Transport } from "@plexus/net/transport";
import { bytes, text } from "./_helpers.ts";

/**
 * Connects `server` (with a 100 ms `frameTimeout`) to a peer that sends `data`, then its EOF,
 * and stays half-open; resolves once the server's connection is over and the peer closed.
 */
async function sendThenEnd(server: FramedProtocol<Uint8Array>, data: string): Promise<void> {
  let client: Transport | undefined;
  const [, clientTransport] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived() {},
    eofReceived: () => true,
  }, { transport: { deadlines: { frameTimeout: 100 } } });
  client!.write(bytes(data));
  client!.writeEof();
  await server.closed;
  clientTransport.close();
  await clientTransport.closed;
}

Deno.test("half-open after a last line decoded at EOF: frameTimeout does not fire", async () => {
  const events: string[] = [];
  let timer: ReturnType<typeof setInterval> | undefined;
  const framer = new LineFramer({ lineEnding: "\n", allowUnterminated: true });
  const server = new FramedProtocol(framer, {
    frameReceived: (frame) => void events.push(text(frame)),
    eofReceived(framed) {
      events.push("eof");
      let n = 0;
      timer = setInterval(() => {
        framed.sendFrame(bytes(`part ${n}`));
        if (++n === 6) {
          clearInterval(timer);
          framed.close();
        }
      }, 50); // 300 ms of answer, well past frameTimeout
      return true;
    },
    limitExceeded: (error) => void events.push(`limit ${error.limit}`),
    connectionLost: (error) => void events.push(`lost ${error}`),
  });
  await sendThenEnd(server, "report");
  clearInterval(timer);
  assertEquals(events, ["report", "eof", "lost undefined"]);
});

Deno.test("paused at EOF with frames buffered: frameTimeout does not fire", async () => {
  const events: string[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Every frame comes at EOF, one byte each.
  const tail = {
    decode: () => undefined,
    decodeEof: (b: { length: number; take(n: number): Uint8Array }) =>
      b.length > 0 ? b.take(1) : undefined,
    encode() {},
  };
  const server = new FramedProtocol<Uint8Array>(tail as never, {
    frameReceived(frame, framed) {
      events.push(text(frame));
      if (text(frame) === "x") {
        framed.pauseReading();
        timer = setTimeout(() => framed.resumeReading(), 300);
      }
    },
    eofReceived: () => void events.push("eof"),
    limitExceeded: (error) => void events.push(`limit ${error.limit}`),
    connectionLost: (error) => void events.push(`lost ${error}`),
  });
  await sendThenEnd(server, "xyz");
  clearTimeout(timer);
  assertEquals(events, ["x", "y", "z", "eof", "lost undefined"]);
});
