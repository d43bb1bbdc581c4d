// Regression tests for the upgrade entry points of StreamTransport (startTls / wrapChannel):
// close() while data written before the upgrade is still leaving in plaintext, and close()
// while a wrap callback that ignores its signal never settles.
import { assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import {
  type ByteChannel,
  createMemoryChannelPair,
  type DeadlineError,
  StreamTransport,
  TransportError,
} from "@plexus/net/transport";
import { tls } from "../_net.ts";

/** Resolves with `promise`'s value, or with "pending" after `ms` (a guard, not a wait). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"pending">((resolve) =>
    timer = setTimeout(() => resolve("pending"), ms)
  );
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

for (const kind of ["wrapChannel", "startTls"] as const) {
  Deno.test({
    name: `close() during ${kind}() still flushes what was written before it`,
    sanitizeOps: true,
    sanitizeResources: true,
    async fn() {
      // A small pipe: the 1000 bytes written before the upgrade are still leaving at close().
      const [a, b] = createMemoryChannelPair({ capacity: 16 });
      const got: number[] = [];
      const peer = new StreamTransport(b, { dataReceived: (data) => got.push(data.byteLength) });
      const lost: (Error | undefined)[] = [];
      const t = new StreamTransport(a, {
        connectionMade: (transport) => transport.pauseReading(),
        dataReceived() {},
        connectionLost: (error) => lost.push(error),
      });
      t.write(new Uint8Array(1000));
      const upgrade = kind === "wrapChannel"
        ? t.wrapChannel((channel) => channel)
        : t.startTls({ serverSide: true, cert: tls.cert, key: tls.key });
      t.write(new Uint8Array(5)); // held for the upgrade: dropped by the close
      t.close();
      await assertRejects(() => upgrade, TransportError, "closed");
      assertEquals(await t.closed, undefined);
      assertEquals(lost, [undefined]);
      await peer.closed;
      assertEquals(got.reduce((sum, n) => sum + n, 0), 1000);
    },
  });
}

Deno.test({
  name: "close() during a wrapChannel() whose wrap ignores its signal still ends the transport",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const [a, b] = createMemoryChannelPair();
    const peer = new StreamTransport(b, { dataReceived() {} });
    const t = new StreamTransport(a, {
      connectionMade: (transport) => transport.pauseReading(),
      dataReceived() {},
    });
    const called = Promise.withResolvers<void>();
    const upgrade = t.wrapChannel(() => {
      called.resolve();
      return new Promise<ByteChannel>(() => {}); // ignores its signal, never settles
    });
    upgrade.catch(() => {});
    await called.promise;
    t.close();
    assertEquals(await within(t.closed, 2000), undefined);
    await assertRejects(() => upgrade, TransportError);
    await peer.closed;
  },
});

Deno.test({
  name: "pauseReading() over server-side TLS stops reading the socket (no unbounded buffering)",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const [a, b] = createMemoryChannelPair();
    let wire = 0; // bytes the server took off its socket
    const counting: ByteChannel = {
      read: async (p) => {
        const n = await a.read(p);
        if (n !== null) wire += n;
        return n;
      },
      write: (p) => a.write(p),
      closeWrite: () => a.closeWrite(),
      close: () => a.close(),
    };
    const size = 8 << 20;
    let received = 0;
    let sum = 0;
    const server = new StreamTransport(counting, {
      connectionMade: (t) => t.pauseReading(),
      dataReceived(data) {
        for (const byte of data) sum = (sum + byte * ((received++ % 251) + 1)) % 1_000_000_007;
      },
      eofReceived: () => false,
    });
    const client = new StreamTransport(b, {
      connectionMade: (t) => t.pauseReading(),
      dataReceived() {},
    });
    await Promise.all([
      server.startTls({ serverSide: true, cert: tls.cert, key: tls.key }),
      client.startTls({ caCerts: [tls.ca], serverHostname: "localhost" }),
    ]);
    const payload = new Uint8Array(size);
    let expected = 0;
    for (let i = 0; i < size; i++) {
      payload[i] = (i * 7) & 0xff;
      expected = (expected + payload[i] * ((i % 251) + 1)) % 1_000_000_007;
    }
    const start = wire;
    client.write(payload);
    // A guard, not a wait for an event: with reading paused the client's data must not all
    // leave (the server has to stop taking it off the socket).
    assertEquals(await within(client.flushed().then(() => "flushed"), 500), "pending");
    const taken = wire - start;
    if (taken > 2 << 20) throw new Error(`took ${taken} bytes off the socket while paused`);
    client.resumeReading();
    client.writeEof();
    server.resumeReading();
    await server.closed;
    await client.closed;
    assertEquals(received, size);
    assertEquals(sum, expected);
  },
});

for (const keepOpen of [true, false]) {
  Deno.test({
    name:
      `startTls() and wrapChannel() from eofReceived() are refused: no handshake after the peer's EOF (keepOpen ${keepOpen})`,
    sanitizeOps: true,
    sanitizeResources: true,
    async fn() {
      const [a, b] = createMemoryChannelPair();
      const refusals: string[] = [];
      const eof = Promise.withResolvers<void>();
      const t = new StreamTransport(a, {
        dataReceived() {},
        eofReceived() {
          for (
            const upgrade of [
              () => t.startTls({ serverSide: true, cert: tls.cert, key: tls.key }),
              () => t.wrapChannel((channel) => channel),
            ]
          ) {
            try {
              upgrade().catch(() => {});
              refusals.push("accepted");
            } catch (error) {
              refusals.push(error instanceof TransportError ? error.message : String(error));
            }
          }
          eof.resolve();
          return keepOpen;
        },
      });
      const peer = new StreamTransport(b, { dataReceived() {}, eofReceived: () => true });
      peer.writeEof();
      const why =
        "the transport is half-closed: the peer ended its stream (EOF), no handshake can complete";
      await eof.promise;
      if (keepOpen) {
        // The transport stays half-open and usable: the refusals did not fail it.
        t.write(new Uint8Array(3));
        t.close();
      }
      assertEquals(await t.closed, undefined);
      assertEquals(refusals, [`Cannot start TLS: ${why}`, `Cannot wrap the connection: ${why}`]);
      assertEquals(peer.stats().bytesReceived, keepOpen ? 3 : 0);
      await peer.closed;
    },
  });
}

Deno.test({
  name: "wrapChannel() with a timeout: a wrap that stalls is given up and the transport aborted",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const [a, b] = createMemoryChannelPair();
    const peer = new StreamTransport(b, { dataReceived() {} });
    const lost: (Error | undefined)[] = [];
    const t = new StreamTransport(a, {
      connectionMade: (transport) => transport.pauseReading(),
      dataReceived() {},
      connectionLost: (error) => lost.push(error),
    });
    let given: AbortSignal | undefined;
    // A wrapper waiting on a peer that never answers (reads are held: nothing else times it).
    const upgrade = t.wrapChannel((_channel, _extra, signal) => {
      given = signal;
      return new Promise<ByteChannel>(() => {});
    }, { timeout: 20 });
    const message = "Wrapping the connection timed out after 20 ms (timeout)";
    const error = await within(t.closed, 2000) as TransportError;
    assertInstanceOf(error, TransportError);
    assertEquals(error.message, message);
    assertEquals((error.cause as DOMException).name, "TimeoutError");
    assertEquals(lost, [error]);
    assertEquals(given?.aborted, true, "the wrap was told to stop");
    await assertRejects(() => upgrade, TransportError, message);
    assertEquals(t.stats().closeReason, "error");
    await peer.closed;
    assertThrows(
      () => t.wrapChannel((channel) => channel, { timeout: -1 }),
      RangeError,
      "Cannot wrap the connection: timeout must be a number of milliseconds from 0 to 2147483647",
    );
  },
});

Deno.test("a deadline that runs out during wrapChannel() closes with closeReason 'deadline'", async () => {
  const [a, b] = createMemoryChannelPair();
  const peer = new StreamTransport(b, { dataReceived() {} });
  const expired = Promise.withResolvers<DeadlineError>();
  let upgrade: Promise<void> | undefined;
  const t: StreamTransport = new StreamTransport(a, {
    connectionMade: (transport) => {
      const st = transport as StreamTransport;
      st.deadlineClock!.start((error) => expired.resolve(error));
      // a wrapper that waits on the peer (its own handshake), which never answers
      upgrade = st.wrapChannel((_channel, _extra, signal) =>
        new Promise<ByteChannel>((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason))
        )
      );
      upgrade.catch(() => {});
    },
    dataReceived() {},
  }, { deadlines: { firstFrameTimeout: 20 } });
  const deadline = await expired.promise;
  const error = await t.closed;
  await assertRejects(() => upgrade!);
  peer.close();
  await peer.closed;
  assertEquals(error, deadline);
  assertEquals(t.stats().closeReason, "deadline"); // got "close"
});

Deno.test("wrapChannel() from getBuffer(): no read of the old channel bypasses the wrapper", async () => {
  const [a, b] = createMemoryChannelPair();
  const peer = new StreamTransport(b, { dataReceived() {} });
  let transport: StreamTransport | undefined;
  let calls = 0;
  let thrown: unknown;
  let upgrade: Promise<void> | undefined;
  const got: number[] = [];
  const received = Promise.withResolvers<void>();
  const buf = new Uint8Array(64);
  // A wrapper that inverts every byte it reads.
  const inverting = (inner: ByteChannel): ByteChannel => ({
    read: async (p) => {
      const n = await inner.read(p);
      if (n !== null) { for (let i = 0; i < n; i++) p[i] ^= 0xff; }
      return n;
    },
    write: (p) => inner.write(p),
    closeWrite: () => inner.closeWrite(),
    close: () => inner.close(),
    get closed() {
      return inner.closed;
    },
    localAddr: inner.localAddr,
    remoteAddr: inner.remoteAddr,
  });
  const t = new StreamTransport(a, {
    connectionMade: (tr) => transport = tr as StreamTransport,
    getBuffer() {
      if (calls++ === 0) {
        try {
          upgrade = transport!.wrapChannel(inverting);
        } catch (e) {
          thrown = e;
        }
      }
      return buf;
    },
    bufferUpdated(n) {
      got.push(...buf.subarray(0, n));
      received.resolve();
    },
  });
  if (upgrade) await upgrade;
  peer.write(new Uint8Array([1, 2, 3]));
  if (thrown === undefined) await received.promise;
  t.close();
  peer.close();
  await Promise.all([t.closed, peer.closed]);
  // Either refused at once, or every byte after the wrap goes through the wrapper.
  if (thrown === undefined) assertEquals(got, [0xfe, 0xfd, 0xfc]);
  else assertInstanceOf(thrown, TransportError);
});
