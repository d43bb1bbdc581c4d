/**
 * An upgrade (`wrapChannel()`, `startTls()`) is refused while bytes read from the old channel
 * are held for `resumeReading()`: they belong to that channel, and an upgrade would lose them.
 */

import { assertEquals, assertThrows } from "@std/assert";
import { assert } from "../_assert.ts";
import {
  type ByteChannel,
  createMemoryChannelPair,
  StreamTransport,
  TransportError,
} from "@plexus/net/transport";
import { tcpPair, tls } from "../_net.ts";

/** `inner`, telling `onRead` of each read that brought bytes. */
function observed(inner: ByteChannel, onRead: () => void): ByteChannel {
  return {
    read: async (p) => {
      const n = await inner.read(p);
      if (n !== null) onRead();
      return n;
    },
    write: (p) => inner.write(p),
    closeWrite: () => inner.closeWrite(),
    close: () => inner.close(),
  };
}

/** Waits until the transport has counted the bytes its read brought (a few microtasks). */
async function untilCounted(transport: StreamTransport): Promise<void> {
  for (let i = 0; i < 100 && transport.stats().bytesReceived === 0; i++) await Promise.resolve();
  assert(transport.stats().bytesReceived > 0, "the read's bytes are held");
}

Deno.test("wrapChannel() is refused while bytes read during a pause are held; they reach the protocol", async () => {
  const [a, b] = createMemoryChannelPair();
  const read = Promise.withResolvers<void>();
  const got: number[] = [];
  const delivered = Promise.withResolvers<void>();
  const transport = new StreamTransport(observed(a, read.resolve), {
    dataReceived: (data) => {
      got.push(...data);
      delivered.resolve();
    },
  });
  transport.pauseReading(); // a read is in flight: it completes and is held
  await b.write(new Uint8Array([1, 2, 3]));
  await read.promise;
  await untilCounted(transport);
  // The precondition fails at once, as a throw (as for a read in flight).
  assertThrows(
    () => transport.wrapChannel((channel) => channel),
    TransportError,
    "wait for resumeReading()",
  );
  transport.resumeReading();
  await delivered.promise;
  assertEquals(got, [1, 2, 3]);
  transport.abort();
  b.close();
  await transport.closed;
});

Deno.test("startTls() (server side) is refused while the ClientHello read during a pause is held", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const read = Promise.withResolvers<void>();
  const server = new StreamTransport(observed(serverConn, read.resolve), { dataReceived() {} });
  server.pauseReading();
  const client = await Deno.startTls(clientConn, { hostname: "localhost", caCerts: [tls.ca] });
  const handshake = client.handshake();
  handshake.catch(() => {});
  await read.promise;
  await untilCounted(server);
  assertThrows(
    () => server.startTls({ serverSide: true, cert: tls.cert, key: tls.key }),
    TransportError,
    "wait for resumeReading()",
  );
  server.abort();
  client.close();
  await server.closed;
  await handshake.catch(() => {});
});
