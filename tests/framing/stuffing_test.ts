/** From a review round: the test that found the bug, failing without its fix. */

import { assertEquals } from "@std/assert";
import {
  decodeFrames,
  encodeFrame,
  FramedProtocol,
  ReceiveBuffer,
  StuffingFramer,
} from "@plexus/net/framing";
import {
  createMemoryTransportPair,
  type DeadlineError,
  type Transport,
} from "@plexus/net/transport";

Deno.test("stuffing: a framer switch while a frame is half received loses nothing", () => {
  const frame = new TextEncoder().encode("hello");
  const wire = encodeFrame(new StuffingFramer(), frame); // ff ff ff ff ff 68 65 6c 6c 6f ff ff ff ff fe
  const buffer = new ReceiveBuffer();
  const first = new StuffingFramer({ maxFrameLength: 16 });
  buffer.append(wire.subarray(0, 7)); // the begin marker and "he"
  assertEquals(first.decode(buffer), undefined); // need more bytes
  // Replaced mid-stream (as FramedProtocol allows "at any time"), e.g. to raise the limit:
  const second = new StuffingFramer({ maxFrameLength: 1 << 20 });
  buffer.append(wire.subarray(7));
  assertEquals(second.decode(buffer), frame, "the frame in progress survives the switch");
});

Deno.test("stuffing: bytes that start no frame are not a truncated frame at end of stream", () => {
  const wire = new Uint8Array([
    ...encodeFrame(new StuffingFramer(), new Uint8Array([1])),
    0x0d,
    0x0a,
  ]);
  // A frame, then a stray CRLF (garbage: the decoder drops bytes before a begin marker).
  assertEquals(decodeFrames(new StuffingFramer(), wire), [new Uint8Array([1])]);
});

Deno.test("stuffing: a peer that sends a begin marker and stalls is cut by frameTimeout", async () => {
  const server = new FramedProtocol(new StuffingFramer(), { frameReceived() {} });
  let client: Transport | undefined;
  const [, clientTransport] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived() {},
  }, { transport: { deadlines: { frameTimeout: 150 } } });
  // A whole frame (the deadline clock has seen the peer), then only a begin marker.
  client!.write(encodeFrame(new StuffingFramer(), new Uint8Array([1])));
  client!.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]));
  const guard = new Promise<string>((resolve) => {
    const id = setTimeout(() => resolve("still open after 2 s"), 2000);
    server.closed.then(() => clearTimeout(id));
  });
  const outcome = await Promise.race([
    server.closed.then((e) => (e as DeadlineError)?.limit),
    guard,
  ]);
  if (outcome === "still open after 2 s") client!.abort();
  await server.closed;
  await clientTransport.closed;
  assertEquals(outcome, "frameTimeout");
});
